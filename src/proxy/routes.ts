/**
 * Which LLM API a request path belongs to. The answer labels the record (`api`) and picks the byte-level
 * markers and the few per-API rules of the taps; a path that is not recognised is still forwarded and its
 * response still read by every reader (the shapes do not overlap).
 *
 * Matching is by path suffix so that prefixed deployments work too: `/openai/deployments/x/chat/completions`
 * (Azure), `/api/v1/chat/completions` (OpenRouter), `/inference/v1/chat/completions` (Fireworks).
 */
export type ApiId =
  | 'openai.chat'
  | 'openai.completions'
  | 'openai.embeddings'
  | 'openai.responses'
  | 'tgi.generate'
  | 'tgi.generate_stream'
  | 'tgi.compat'
  | 'llamacpp.completion'
  | 'ollama.generate'
  | 'ollama.chat'
  | 'ollama.embed'
  | 'ollama.embeddings';

export type ApiFamily = 'openai' | 'tgi' | 'llamacpp' | 'ollama';

export function apiFamily(api: ApiId): ApiFamily {
  return api.slice(0, api.indexOf('.')) as ApiFamily;
}

/** `path` without the query string. Only POST carries an inference request. */
export function recognizeApi(method: string | undefined, path: string): ApiId | undefined {
  if (method !== 'POST') return undefined;
  let p = path;
  while (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  switch (p) {
    case '/api/generate':
      return 'ollama.generate';
    case '/api/chat':
      return 'ollama.chat';
    case '/api/embed':
      return 'ollama.embed';
    case '/api/embeddings':
      return 'ollama.embeddings';
    // llama.cpp's native routes (`/completions` is its alias of `/completion`, `/v1/completions` is OpenAI's).
    case '/completion':
    case '/completions':
    case '/infill':
      return 'llamacpp.completion';
    // TGI's compatibility route: `{"inputs", "parameters", "stream"}` on `/` (and on the HF router's `/models/{id}`).
    case '/':
      return 'tgi.compat';
  }
  if (p.endsWith('/chat/completions')) return 'openai.chat';
  if (p.endsWith('/completions')) return 'openai.completions';
  if (p.endsWith('/embeddings')) return 'openai.embeddings';
  if (p.endsWith('/responses')) return 'openai.responses';
  if (p.endsWith('/generate_stream')) return 'tgi.generate_stream';
  // TGI `/generate`; SGLang's native `/generate` shares the path (its `meta_info` is read as well).
  if (p.endsWith('/generate')) return 'tgi.generate';
  if (p.startsWith('/models/')) return 'tgi.compat';
  return undefined;
}
