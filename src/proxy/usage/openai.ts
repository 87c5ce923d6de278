/**
 * OpenAI-compatible bodies: `/v1/chat/completions`, `/v1/completions`, `/v1/embeddings` (JSON and SSE) and
 * the Responses API `/v1/responses`.
 *
 * - `usage.prompt_tokens` / `usage.completion_tokens` (Chat/Completions/Embeddings; vLLM, SGLang, TGI,
 *   llama.cpp, Ollama's /v1, LocalAI and hosted providers use the same names).
 * - Streams: usage comes on a final `choices: []` chunk with `stream_options.include_usage` (OpenAI,
 *   vLLM, SGLang, TGI ≥ 3.1), on the finish chunk (Fireworks, Together), on a chunk that still has a
 *   choice (OpenRouter), or cumulatively on every chunk (vLLM `continuous_usage_stats`, Hyperbolic): the
 *   tap keeps the LAST usage seen, never a sum.
 * - Responses API: `usage.input_tokens` / `usage.output_tokens`, in the body or in `response.usage` of the
 *   `response.completed` event; the model is `response.model` in streamed events.
 * - Embeddings generate nothing: with a known prompt count, completion tokens are a true 0.
 * - Prompt caching: `usage.prompt_tokens_details.cached_tokens` (OpenAI, vLLM with prefix caching) or
 *   `usage.input_tokens_details.cached_tokens` (Responses API): prompt tokens the server did not prefill.
 */
import { marker, type Marker } from '../json-scan.js';
import type { ApiId } from '../routes.js';
import { count, isObject, setModel, type UsageState } from './state.js';

export const OPENAI_FINAL_MARKERS: readonly Marker[] = [marker('usage', { startsWith: '{' })];

export function readOpenAi(doc: unknown, state: UsageState, api: ApiId | undefined): void {
  if (!isObject(doc)) return;
  const response = isObject(doc.response) ? doc.response : undefined;
  setModel(state, doc.model);
  if (response) setModel(state, response.model);
  const usage = isObject(doc.usage) ? doc.usage : response && isObject(response.usage) ? response.usage : undefined;
  if (!usage) return;
  const prompt = count(usage.prompt_tokens) ?? count(usage.input_tokens);
  const completion = count(usage.completion_tokens) ?? count(usage.output_tokens);
  if (prompt !== undefined) state.promptTokens = prompt;
  if (completion !== undefined) state.completionTokens = completion;
  const details = isObject(usage.prompt_tokens_details) ? usage.prompt_tokens_details : isObject(usage.input_tokens_details) ? usage.input_tokens_details : undefined;
  const cached = details ? count(details.cached_tokens) : undefined;
  if (cached !== undefined) state.cachedPromptTokens = cached;
  else if (prompt !== undefined && api === 'openai.embeddings') state.completionTokens = 0;
}
