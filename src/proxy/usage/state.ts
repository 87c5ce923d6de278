/** What the taps learn about one response. Unknown stays `undefined`, never 0. */
export interface UsageState {
  model: string | undefined;
  promptTokens: number | undefined;
  completionTokens: number | undefined;
  /** Of promptTokens, those served from the server's prompt cache (`prompt_tokens_details.cached_tokens`). */
  cachedPromptTokens: number | undefined;
  /** The body reported an error although the status was not one (TGI in-band error event, `event: error`, Responses `response.failed`). */
  errorSeen: boolean;
  /** Documents seen: SSE events with data, NDJSON lines, 1 for a JSON body. */
  documents: number;
  /** Events of APIs that send exactly one event per generated token (TGI `/generate_stream`). */
  tokenEvents: number;
  /** Documents that looked worth reading but did not parse (malformed JSON). */
  parseFailures: number;
}

export function createUsageState(): UsageState {
  return {
    model: undefined,
    promptTokens: undefined,
    completionTokens: undefined,
    cachedPromptTokens: undefined,
    errorSeen: false,
    documents: 0,
    tokenEvents: 0,
    parseFailures: 0,
  };
}

export type Json = Record<string, unknown>;

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A token count: a finite, non-negative integer; anything else is absent. */
export function count(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined;
}

/** A model name as a server or client sends it: a string of 1 to 256 characters (else none). */
export function modelName(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 && v.length <= 256 ? v : undefined;
}

export function setModel(state: UsageState, v: unknown): void {
  const m = modelName(v);
  if (m !== undefined) state.model = m;
}
