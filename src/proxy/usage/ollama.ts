/**
 * Ollama native API (docs/api.md of ollama/ollama): `/api/generate` and `/api/chat` (NDJSON stream by
 * default, one JSON object with `"stream": false`), `/api/embed`.
 *
 * - The final object (`"done": true`) carries `prompt_eval_count` and `eval_count`. Ollama omits
 *   `prompt_eval_count` when the whole prompt came from its cache: then the prompt count is unknown.
 * - `/api/embed` reports `prompt_eval_count` only; with it, completion tokens are a true 0. The legacy
 *   `/api/embeddings` reports no counts at all.
 */
import { marker, type Marker } from '../json-scan.js';
import type { ApiId } from '../routes.js';
import { count, isObject, setModel, type UsageState } from './state.js';

export const OLLAMA_FINAL_MARKERS: readonly Marker[] = [
  marker('done', { startsWith: 't' }),
  marker('prompt_eval_count', { startsWith: '0123456789' }),
];

export function readOllama(doc: unknown, state: UsageState, api: ApiId | undefined): void {
  if (!isObject(doc)) return;
  setModel(state, doc.model);
  const prompt = count(doc.prompt_eval_count);
  const completion = count(doc.eval_count);
  if (prompt !== undefined) state.promptTokens = prompt;
  if (completion !== undefined) state.completionTokens = completion;
  else if (prompt !== undefined && api === 'ollama.embed') state.completionTokens = 0;
}
