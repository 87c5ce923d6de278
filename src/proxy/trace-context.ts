/**
 * The W3C Trace Context `traceparent` header (https://www.w3.org/TR/trace-context/, level 1):
 * `version "-" trace-id "-" parent-id "-" trace-flags`, each lower-case hex: 2, 32, 16 and 2 digits.
 * Version `ff` is forbidden; a trace id or parent id of all zeros is invalid; version `00` is exactly
 * 55 characters, a later version may carry more after a further `-` (the spec asks to read the four
 * fields it knows). Anything else is ignored, as the spec asks of an invalid header. The header itself
 * is forwarded untouched either way; this only reads it for the request's record.
 */
export interface TraceContext {
  traceId: string;
  /** The caller's span: the `parent-id` of the header. */
  spanId: string;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}(?:$|-)/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** `value` as node:http gives a header: several `traceparent` headers are invalid (a string array, or joined by `, `). */
export function parseTraceparent(value: string | readonly string[] | undefined): TraceContext | undefined {
  if (typeof value !== 'string' || value.length < 55) return undefined;
  const m = TRACEPARENT.exec(value);
  if (m === null) return undefined;
  const version = m[1]!;
  if (version === 'ff' || (version === '00' && value.length !== 55)) return undefined;
  const traceId = m[2]!;
  const spanId = m[3]!;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId, spanId };
}
