/**
 * The readers together. Every document goes through every reader: their fields do not overlap, so a path
 * that is not recognised (a gateway's own prefix, a new route) is still read. The API only narrows the
 * byte markers that decide which streamed documents get parsed at all.
 */
import { keySet, type KeySet } from '../json-project.js';
import { marker, type Marker } from '../json-scan.js';
import { apiFamily, type ApiId } from '../routes.js';
import { readLlamaCpp, LLAMACPP_FINAL_MARKERS } from './llamacpp.js';
import { readOllama, OLLAMA_FINAL_MARKERS } from './ollama.js';
import { readOpenAi, OPENAI_FINAL_MARKERS } from './openai.js';
import { isObject, type UsageState } from './state.js';
import { readTgi, TGI_FINAL_MARKERS } from './tgi.js';

export { createUsageState, type UsageState } from './state.js';

/**
 * In-band errors: `{"error": ...}` (TGI, OpenAI, Ollama, llama.cpp), `{"object": "error"}` (vLLM's
 * ErrorResponse), `{"type": "error" | "response.failed"}` (OpenAI Responses API events).
 */
export const ERROR_MARKERS: readonly Marker[] = [
  marker('error', { notNull: true }),
  marker('object', { oneOf: ['error'] }),
  marker('type', { oneOf: ['error', 'response.failed'] }),
];

const ALL_FINAL: readonly Marker[] = [...OPENAI_FINAL_MARKERS, ...TGI_FINAL_MARKERS, ...LLAMACPP_FINAL_MARKERS, ...OLLAMA_FINAL_MARKERS];
const TGI_FINAL: readonly Marker[] = [...TGI_FINAL_MARKERS, ...OPENAI_FINAL_MARKERS];
const LLAMACPP_FINAL: readonly Marker[] = [...LLAMACPP_FINAL_MARKERS, ...OPENAI_FINAL_MARKERS];

/** Markers of a document that may carry the final usage of a stream (parsed lazily, the last one wins). */
export function finalMarkersFor(api: ApiId | undefined): readonly Marker[] {
  if (api === undefined) return ALL_FINAL;
  switch (apiFamily(api)) {
    case 'openai':
      // llama.cpp's and Ollama's OpenAI routes still put usage under `usage`.
      return OPENAI_FINAL_MARKERS;
    case 'tgi':
      return TGI_FINAL;
    case 'llamacpp':
      return LLAMACPP_FINAL;
    case 'ollama':
      return OLLAMA_FINAL_MARKERS;
  }
}

/**
 * Every member that a reader below looks at, and inside the objects they open, the members they read
 * there (readOpenAi: model, response.{model, usage}, usage.{prompt,completion,input,output}_tokens;
 * readTgi: details.{generated_tokens, input_length, prefill}, meta_info.{prompt,completion}_tokens; readLlamaCpp:
 * model, timings.{prompt_n, predicted_n}, tokens_evaluated, tokens_predicted; readOllama: model,
 * prompt_eval_count, eval_count; readError: error, object, type). Object documents are parsed down to
 * these (json-project.ts); test/proxy/json-project.test.ts checks the readers read nothing else.
 */
const CACHED_KEYS = keySet(['cached_tokens']);
const USAGE_KEYS = keySet(['prompt_tokens', 'completion_tokens', 'input_tokens', 'output_tokens', ['prompt_tokens_details', CACHED_KEYS], ['input_tokens_details', CACHED_KEYS]]);
export const READ_KEYS: KeySet = keySet([
  'model', ['response', keySet(['model', ['usage', USAGE_KEYS]])], ['usage', USAGE_KEYS],
  ['details', keySet(['generated_tokens', 'input_length', 'prefill'])], ['meta_info', keySet(['prompt_tokens', 'completion_tokens'])],
  ['timings', keySet(['prompt_n', 'predicted_n'])], 'tokens_evaluated', 'tokens_predicted',
  'prompt_eval_count', 'eval_count', 'error', 'object', 'type',
]);

export function readDocument(doc: unknown, state: UsageState, api: ApiId | undefined): void {
  readOpenAi(doc, state, api);
  readTgi(doc, state);
  readLlamaCpp(doc, state);
  readOllama(doc, state, api);
  readError(doc, state);
}

function readError(doc: unknown, state: UsageState): void {
  if (!isObject(doc)) return;
  if ((doc.error !== undefined && doc.error !== null) || doc.object === 'error' || doc.type === 'error' || doc.type === 'response.failed') {
    state.errorSeen = true;
  }
}
