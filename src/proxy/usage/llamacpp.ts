/**
 * llama.cpp server native `/completion` (JSON, or SSE whose final `"stop": true` event has the same
 * fields): `tokens_evaluated` (prompt size) and `tokens_predicted` (generated), and `timings`
 * (`prompt_n`, `predicted_n`, `prompt_ms`, `predicted_ms`; tools/server/README.md of ggml-org/llama.cpp).
 * `timings.prompt_n` counts only the prompt tokens not served from the KV cache, so it is used only when
 * `tokens_evaluated` is absent. Its OpenAI-compatible routes are read by the OpenAI reader.
 */
import { marker, type Marker } from '../json-scan.js';
import { count, isObject, setModel, type UsageState } from './state.js';

export const LLAMACPP_FINAL_MARKERS: readonly Marker[] = [
  marker('stop', { startsWith: 't' }),
  marker('timings', { startsWith: '{' }),
  marker('tokens_predicted', { startsWith: '0123456789' }),
];

export function readLlamaCpp(doc: unknown, state: UsageState): void {
  if (!isObject(doc)) return;
  setModel(state, doc.model);
  // On llama.cpp's OpenAI routes `timings` sits beside `usage`, which the OpenAI reader already took.
  const timings = isObject(doc.timings) && !isObject(doc.usage) ? doc.timings : undefined;
  const prompt = count(doc.tokens_evaluated) ?? (timings ? count(timings.prompt_n) : undefined);
  const completion = count(doc.tokens_predicted) ?? (timings ? count(timings.predicted_n) : undefined);
  if (prompt !== undefined) state.promptTokens = prompt;
  if (completion !== undefined) state.completionTokens = completion;
}
