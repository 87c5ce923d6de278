/**
 * Hugging Face TGI native API: `/generate` (one JSON object, or a one-element array on the compatibility
 * route `/`), `/generate_stream` (SSE, one event per generated token, the last carrying `details`).
 *
 * - completion tokens: `details.generated_tokens` (present when the request asked for `details`);
 *   without details, the number of token events of the stream (TGI sends exactly one per token).
 * - prompt tokens: `details.input_length`, which TGI 3 puts in the final event of `/generate_stream`
 *   (its stream details: finish_reason, generated_tokens, input_length, seed; huggingface_hub's types
 *   generated from TGI's spec, TextGenerationStreamOutputStreamDetails). Else `details.prefill.length`,
 *   only when non-empty: TGI fills `prefill` only with `decoder_input_details: true`, and for
 *   encoder-decoder models (T5) it holds the decoder's inputs, not the prompt. Otherwise unknown: TGI's
 *   `/generate` does not report the prompt size.
 * - No model name in native bodies: the request's `model`, if any, stays.
 * - SGLang's native `/generate` shares the path: `meta_info.prompt_tokens` / `meta_info.completion_tokens`.
 */
import { marker, type Marker } from '../json-scan.js';
import { count, isObject, type UsageState } from './state.js';

export const TGI_FINAL_MARKERS: readonly Marker[] = [
  marker('details', { startsWith: '{' }),
  marker('meta_info', { startsWith: '{' }),
];

export function readTgi(doc: unknown, state: UsageState): void {
  const d: unknown = Array.isArray(doc) ? doc[0] : doc; // `[{"generated_text", "details"}]` on the compat route
  if (!isObject(d)) return;
  const details = isObject(d.details) ? d.details : undefined;
  if (details) {
    const generated = count(details.generated_tokens);
    if (generated !== undefined) state.completionTokens = generated;
    const input = count(details.input_length);
    if (input !== undefined) state.promptTokens = input;
    else if (Array.isArray(details.prefill) && details.prefill.length > 0) state.promptTokens = details.prefill.length;
  }
  const meta = isObject(d.meta_info) ? d.meta_info : undefined;
  if (meta) {
    const prompt = count(meta.prompt_tokens);
    const completion = count(meta.completion_tokens);
    if (prompt !== undefined) state.promptTokens = prompt;
    if (completion !== undefined) state.completionTokens = completion;
  }
}
