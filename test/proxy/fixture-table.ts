/**
 * Expected results for every file of test/fixtures/llm-responses, written by reading each file (its
 * usage/final event, see SOURCES.md), not by running the code. `undefined` = unknown (never 0).
 * `path` is where the replay upstream serves it; `status` its recorded HTTP status.
 */
import type { ApiId } from '../../src/proxy/routes.js';

export interface FixtureCase {
  file: string;
  path: string;
  api: ApiId | undefined;
  status?: number;
  /** A file that is not wire bytes and is re-framed by the test (see SOURCES.md header note). */
  reframe?: 'sse-from-chunks-array';
  model: string | undefined;
  prompt: number | undefined;
  completion: number | undefined;
  /** An error inside the body (in-band), or the error body of a 4xx. */
  errorSeen?: boolean;
  /** The request body recorded beside the file, if any. */
  request?: string;
  /** Also recorded: Content-Encoding gzip (`.json.gz`). */
  encoding?: 'gzip';
}

const chat = '/v1/chat/completions';

export const FIXTURES: readonly FixtureCase[] = [
  // OpenAI
  { file: 'openai/chat-nonstream-function-call.json', path: chat, api: 'openai.chat', model: 'gpt-3.5-turbo-0125', prompt: 62, completion: 14, request: 'openai/chat-nonstream-function-call.request.json' },
  { file: 'openai/chat-nonstream-gpt35.json', path: chat, api: 'openai.chat', model: 'gpt-3.5-turbo-0125', prompt: 13, completion: 31, request: 'openai/chat-nonstream-gpt35.request.json' },
  { file: 'openai/chat-stream-include-usage-gpt35.sse', path: chat, api: 'openai.chat', model: 'gpt-3.5-turbo-0125', prompt: 14, completion: 13, request: 'openai/chat-stream-include-usage-gpt35.request.json' },
  { file: 'openai/chat-stream-include-usage-multicontent.sse', path: chat, api: 'openai.chat', model: 'gpt-3.5-turbo-0125', prompt: 19, completion: 82, request: 'openai/chat-stream-include-usage-multicontent.request.json' },
  { file: 'openai/chat-stream-invalid-json-chunk.sse', path: chat, api: 'openai.chat', model: 'gpt-4-0125-preview', prompt: undefined, completion: undefined },
  { file: 'openai/chat-stream-parallel-tool-calls.sse', path: chat, api: 'openai.chat', model: 'gpt-3.5-turbo-0125', prompt: undefined, completion: undefined, request: 'openai/chat-stream-parallel-tool-calls.request.json' },
  { file: 'openai/chat-stream-tool-call-gpt4o.sse', path: chat, api: 'openai.chat', model: 'gpt-4o-2024-05-13', prompt: undefined, completion: undefined },
  { file: 'openai/chat-stream-usage-no-details.sse', path: chat, api: 'openai.chat', model: 'gpt-4-0125-preview', prompt: 13, completion: 8 },
  { file: 'openai/completions-legacy-nonstream-gzip.json', path: '/v1/completions', api: 'openai.completions', model: 'davinci:2023-07-21-v2', prompt: 8, completion: 16, request: 'openai/completions-legacy-nonstream-gzip.request.json' },
  { file: 'openai/completions-legacy-nonstream-gzip.json.gz', path: '/v1/completions', api: 'openai.completions', model: 'davinci:2023-07-21-v2', prompt: 8, completion: 16, encoding: 'gzip', request: 'openai/completions-legacy-nonstream-gzip.request.json' },
  { file: 'openai/completions-legacy-stream-davinci002.sse', path: '/v1/completions', api: 'openai.completions', model: 'davinci:2023-07-21-v2', prompt: undefined, completion: undefined, request: 'openai/completions-legacy-stream-davinci002.request.json' },
  { file: 'openai/embeddings-3-small-dim256.json', path: '/v1/embeddings', api: 'openai.embeddings', model: 'text-embedding-3-small', prompt: 2, completion: 0, request: 'openai/embeddings-3-small-dim256.request.json' },
  { file: 'openai/error-400-invalid-image-url.json', path: chat, api: 'openai.chat', status: 400, model: undefined, prompt: undefined, completion: undefined, errorSeen: true },
  { file: 'openai/responses-api-nonstream-gzip.json', path: '/v1/responses', api: 'openai.responses', model: 'gpt-4.1-nano-2025-04-14', prompt: 13, completion: 3, request: 'openai/responses-api-nonstream-gzip.request.json' },
  { file: 'openai/responses-api-nonstream-gzip.json.gz', path: '/v1/responses', api: 'openai.responses', model: 'gpt-4.1-nano-2025-04-14', prompt: 13, completion: 3, encoding: 'gzip', request: 'openai/responses-api-nonstream-gzip.request.json' },
  { file: 'openai/responses-api-stream-event-lines.sse', path: '/v1/responses', api: 'openai.responses', model: 'gpt-4.1-nano-2025-04-14', prompt: 18, completion: 80, request: 'openai/responses-api-stream-event-lines.request.json' },
  // Azure OpenAI
  { file: 'azure-openai/chat-stream-content-filter-prompt-results-first.sse', path: '/openai/deployments/gpt-4o/chat/completions', api: 'openai.chat', model: 'gpt-4o-2024-05-13', prompt: undefined, completion: undefined },
  { file: 'azure-openai/error-404-deployment-not-found.json', path: '/openai/deployments/nope/chat/completions', api: 'openai.chat', status: 404, model: undefined, prompt: undefined, completion: undefined, errorSeen: true },
  // LocalAI
  { file: 'localai/chat-nonstream-tool-call-docs.json', path: chat, api: 'openai.chat', model: 'gpt-4', prompt: 221, completion: 26, request: 'localai/chat-nonstream-tool-call-docs.request.json' },
  // Ollama
  { file: 'ollama/api-chat-nonstream-tool-call-llama3.2.json', path: '/api/chat', api: 'ollama.chat', model: 'llama3.2', prompt: 152, completion: 22 },
  { file: 'ollama/api-chat-stream-format-json.ndjson', path: '/api/chat', api: 'ollama.chat', model: 'gemma3:1b', prompt: 25, completion: 9, request: 'ollama/api-chat-stream-format-json.request.json' },
  { file: 'ollama/api-chat-stream-implicit-done-reason-length.ndjson', path: '/api/chat', api: 'ollama.chat', model: 'gemma3:1b', prompt: 15, completion: 50, request: 'ollama/api-chat-stream-implicit-done-reason-length.request.json' },
  { file: 'ollama/api-embed-nomic.json', path: '/api/embed', api: 'ollama.embed', model: 'nomic-embed-text', prompt: 2, completion: 0, request: 'ollama/api-embed-nomic.request.json' },
  { file: 'ollama/api-generate-nonstream-gemma3.json', path: '/api/generate', api: 'ollama.generate', model: 'gemma3:1b', prompt: 15, completion: 65, request: 'ollama/api-generate-nonstream-gemma3.request.json' },
  { file: 'ollama/api-generate-stream-gemma3-count.ndjson', path: '/api/generate', api: 'ollama.generate', model: 'gemma3:1b', prompt: 16, completion: 22, request: 'ollama/api-generate-stream-gemma3-count.request.json' },
  { file: 'ollama/api-generate-stream-llama3-context.ndjson', path: '/api/generate', api: 'ollama.generate', model: 'llama3', prompt: 17, completion: 71, request: 'ollama/api-generate-stream-llama3-context.request.json' },
  { file: 'ollama/api-generate-stream-phi3-edited.ndjson', path: '/api/generate', api: 'ollama.generate', model: 'phi3', prompt: 10, completion: 304 },
  // Hosted OpenAI-compatible
  { file: 'openai-compatible-hosted/fireworks-chat-stream-usage-on-finish-chunk.sse', path: '/inference/v1/chat/completions', api: 'openai.chat', model: 'accounts/fireworks/models/llama-v3p3-70b-instruct', prompt: 46, completion: 20, request: 'openai-compatible-hosted/fireworks-chat-stream-usage-on-finish-chunk.request.json' },
  { file: 'openai-compatible-hosted/hyperbolic-chat-stream-vllm-continuous-usage-spaced-json.sse', path: chat, api: 'openai.chat', model: 'meta-llama/Llama-3.2-3B-Instruct', prompt: 46, completion: 21, request: 'openai-compatible-hosted/hyperbolic-chat-stream-vllm-continuous-usage-spaced-json.request.json' },
  { file: 'openai-compatible-hosted/nebius-chat-stream-vllm-stop-reason.sse', path: chat, api: 'openai.chat', model: 'meta-llama/Meta-Llama-3.1-8B-Instruct-fast', prompt: undefined, completion: undefined, request: 'openai-compatible-hosted/nebius-chat-stream-vllm-stop-reason.request.json' },
  { file: 'openai-compatible-hosted/sambanova-chat-nonstream.json', path: chat, api: 'openai.chat', model: 'Meta-Llama-3.1-8B-Instruct', prompt: 46, completion: 409, request: 'openai-compatible-hosted/sambanova-chat-nonstream.request.json' },
  { file: 'openai-compatible-hosted/sambanova-chat-stream-sorted-keys.sse', path: chat, api: 'openai.chat', model: 'Meta-Llama-3.1-8B-Instruct', prompt: undefined, completion: undefined, request: 'openai-compatible-hosted/sambanova-chat-stream-sorted-keys.request.json' },
  { file: 'openai-compatible-hosted/together-chat-nonstream-pretty.json', path: chat, api: 'openai.chat', model: 'meta-llama/Meta-Llama-3-8B-Instruct-Turbo', prompt: 26, completion: 597, request: 'openai-compatible-hosted/together-chat-nonstream-pretty.request.json' },
  { file: 'openai-compatible-hosted/together-chat-stream-text-field-bigint-seed.sse', path: chat, api: 'openai.chat', model: 'meta-llama/Meta-Llama-3-8B-Instruct-Turbo', prompt: 26, completion: 20, request: 'openai-compatible-hosted/together-chat-stream-text-field-bigint-seed.request.json' },
  // OpenRouter
  { file: 'openrouter/chat-stream-comment-keepalive-usage.sse', path: '/api/v1/chat/completions', api: 'openai.chat', model: 'meta-llama/llama-3.2-3b-instruct:free', prompt: 586, completion: 3, request: 'openrouter/chat-stream-comment-keepalive-usage.request.json' },
  { file: 'openrouter/error-429-rate-limit.json', path: '/api/v1/chat/completions', api: 'openai.chat', status: 429, model: undefined, prompt: undefined, completion: undefined, errorSeen: true, request: 'openrouter/error-429-rate-limit.request.json' },
  // TGI
  { file: 'tgi/chat-nonstream-tgi-1.4.4.json', path: chat, api: 'openai.chat', model: 'teknium/OpenHermes-2.5-Mistral-7B', prompt: 27, completion: 88 },
  { file: 'tgi/chat-nonstream-tgi-3.2.1.json', path: chat, api: 'openai.chat', model: 'meta-llama/Llama-3.1-8B-Instruct', prompt: 46, completion: 579, request: 'tgi/chat-nonstream-tgi-3.2.1.request.json' },
  { file: 'tgi/chat-stream-error-midstream-tgi-2.1.2.sse', path: chat, api: 'openai.chat', model: undefined, prompt: undefined, completion: undefined, errorSeen: true },
  { file: 'tgi/chat-stream-tgi-1.4.4-no-done.sse', path: chat, api: 'openai.chat', model: 'teknium/OpenHermes-2.5-Mistral-7B', prompt: undefined, completion: undefined },
  { file: 'tgi/chat-stream-tgi-3.2.1-no-usage.sse', path: chat, api: 'openai.chat', model: 'meta-llama/Llama-3.1-8B-Instruct', prompt: undefined, completion: undefined, request: 'tgi/chat-stream-tgi-3.2.1-no-usage.request.json' },
  { file: 'tgi/generate-details-list-wrapper.json', path: '/', api: 'tgi.compat', model: undefined, prompt: undefined, completion: 150 },
  { file: 'tgi/generate-nonstream-details-best-of.json', path: '/', api: 'tgi.compat', model: undefined, prompt: 1, completion: 1, request: 'tgi/generate-nonstream-details-best-of.request.json' },
  { file: 'tgi/generate-stream-details-single-token-old-framing.sse', path: '/generate_stream', api: 'tgi.generate_stream', model: undefined, prompt: undefined, completion: 1, request: 'tgi/generate-stream-details-single-token-old-framing.request.json' },
  { file: 'tgi/generate-stream-no-details-tgi3.sse', path: '/generate_stream', api: 'tgi.generate_stream', model: undefined, prompt: undefined, completion: 1 },
  { file: 'tgi/generate-stream-no-index-old-framing.sse', path: '/generate_stream', api: 'tgi.generate_stream', model: undefined, prompt: undefined, completion: 1, request: 'tgi/generate-stream-no-index-old-framing.request.json' },
  { file: 'tgi/generate-stream-no-space-data-prefix.sse', path: '/generate_stream', api: 'tgi.generate_stream', model: undefined, prompt: undefined, completion: 150 },
  { file: 'tgi/generate-validation-error-422.json', path: '/generate', api: 'tgi.generate', status: 422, model: undefined, prompt: undefined, completion: undefined, errorSeen: true, request: 'tgi/generate-validation-error-422.request.json' },
  { file: 'tgi/snapshot-chat-stream-include-usage.chunks.json', path: chat, api: 'openai.chat', reframe: 'sse-from-chunks-array', model: 'meta-llama/Llama-3.1-8B-Instruct', prompt: 39, completion: 3, request: 'tgi/snapshot-chat-stream-include-usage.chunks.request.json' },
  { file: 'tgi/snapshot-generate-details.parsed.json', path: '/generate', api: 'tgi.generate', model: undefined, prompt: undefined, completion: 10 },
  // vLLM
  { file: 'vllm/chat-nonstream-hunyuan-think-length.json', path: chat, api: 'openai.chat', model: 'Hunyuan', prompt: 12, completion: 100 },
  { file: 'vllm/chat-nonstream-internvl3.5-prompt-token-ids.json', path: chat, api: 'openai.chat', model: 'internvl3_5', prompt: 107, completion: 16 },
  { file: 'vllm/completions-nonstream-llama3.3-70b-fp4.json', path: '/v1/completions', api: 'openai.completions', model: 'nvidia/Llama-3.3-70B-Instruct-FP4', prompt: 5, completion: 20, request: 'vllm/completions-nonstream-llama3.3-70b-fp4.request.json' },
];

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { contentTypeOf, FIXTURES_DIR } from '../helpers/replay-upstream.js';

/** The bytes an upstream sends for a case (re-framed for client-parsed snapshots). */
export function fixtureBody(c: FixtureCase): Buffer {
  const raw = readFileSync(path.join(FIXTURES_DIR, c.file));
  if (c.reframe === 'sse-from-chunks-array') {
    const chunks = JSON.parse(raw.toString('utf8')) as unknown[];
    return Buffer.from(chunks.map((ch) => `data: ${JSON.stringify(ch)}\n\n`).join('') + 'data: [DONE]\n\n');
  }
  return raw;
}

export function fixtureContentType(c: FixtureCase): string {
  if (c.reframe === 'sse-from-chunks-array') return 'text/event-stream; charset=utf-8';
  return contentTypeOf(c.file.replace(/\.gz$/, ''));
}

export function fixtureRequest(c: FixtureCase): Buffer | undefined {
  return c.request ? readFileSync(path.join(FIXTURES_DIR, c.request)) : undefined;
}
