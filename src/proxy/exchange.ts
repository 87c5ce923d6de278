/**
 * One request and its response as the proxy (forward.ts) and the middleware (middleware.ts) both observe
 * them: the rules that must not differ between the two live here, once.
 *
 * - Opening: a request id, the API route family, the tenant (its header, read as UTF-8 when it is, capped
 *   at 128 characters: the label bounder bounds the values, this bounds their size), the window, and the
 *   caller's W3C trace context.
 * - The response: a usage tap only for a body worth reading (below 400, not 204 or 304, not a HEAD).
 * - The end: the tap's reading, then the window's end with the outcome rule of window.ts; a tap that
 *   fails loses its reading, never the request.
 * - The defaults both use (tenant header, body bound) and the model-name rule (usage/state.ts).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { RequestTracker } from '../attribution/types.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { RequestNoteSink } from '../core/request-notes.js';
import { headerText } from './headers.js';
import { recognizeApi, type ApiId } from './routes.js';
import { createResponseTap, type ResponseTap, type TapResult } from './tap.js';
import { parseTraceparent } from './trace-context.js';
import { openWindow, outcomeOf, type OutcomeReason, type RequestWindow, type WindowCounters } from './window.js';

/** The tenant header when none is configured (`proxy.tenantHeader`). */
export const DEFAULT_TENANT_HEADER = 'x-inferwatt-tenant';
/** Request and JSON response bodies up to this size are read for model, stream and usage. */
export const DEFAULT_MAX_PARSE_BODY_BYTES = 1024 * 1024;
/** Tenant values are cut to this many characters. */
const MAX_TENANT_CHARS = 128;

export interface ExchangeContext {
  readonly tracker: RequestTracker & Partial<RequestNoteSink>;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Lower case. */
  readonly tenantHeader: string;
  readonly maxParseBodyBytes: number;
  /** Counts tracker failures (the proxy's stats); the middleware has none. */
  readonly counters?: WindowCounters;
}

export interface Exchange {
  readonly id: string;
  readonly method: string;
  readonly api: ApiId | undefined;
  readonly win: RequestWindow;
}

function tenantOf(req: IncomingMessage, header: string): string | undefined {
  const v = req.headers[header];
  const s = Array.isArray(v) ? v[0] : v;
  return s ? headerText(s).slice(0, MAX_TENANT_CHARS) : undefined;
}

/** Opens the window of a request to `pool` whose path (without query) is `apiPath`. */
export function beginExchange(ctx: ExchangeContext, req: IncomingMessage, pool: string, apiPath: string, id: string = randomUUID()): Exchange {
  const startMs = ctx.clock.nowMs();
  const method = req.method ?? 'GET';
  const api = recognizeApi(method, apiPath);
  const tenant = tenantOf(req, ctx.tenantHeader);
  // `api`/`tenant` may be undefined: an absent optional field (no spread objects on the hot path).
  const win = openWindow(ctx.tracker, ctx.clock, ctx.logger, { id, pool, startMs, method, api, tenant }, ctx.counters);
  const traceparent = req.headers.traceparent;
  if (traceparent !== undefined) {
    const t = parseTraceparent(traceparent);
    if (t !== undefined) win.trace(t.traceId, t.spanId);
  }
  return { id, method, api, win };
}

/** A usage tap for a response whose body is worth reading, else undefined. May throw (caller counts it). */
export function responseTap(
  ctx: ExchangeContext,
  x: Exchange,
  status: number,
  contentType: string | undefined,
  contentEncoding: string | undefined,
  retain?: (b: Buffer) => Buffer,
): ResponseTap | undefined {
  if (status >= 400 || status === 204 || status === 304 || x.method === 'HEAD') return undefined;
  return createResponseTap({ api: x.api, contentType, contentEncoding, maxParseBytes: ctx.maxParseBodyBytes, ...(retain ? { retain } : {}) });
}

/**
 * Ends the exchange's window: the tap's reading first (its `end` may call back at once or later), then
 * the window with `outcome` or, when undefined, the outcome rule. `complete` false: the body was cut.
 */
export function finishExchange(
  x: Exchange,
  tap: ResponseTap | undefined,
  endMs: number,
  status: number | undefined,
  outcome: 'aborted' | 'error' | undefined,
  complete: boolean,
  reason: OutcomeReason | undefined,
  tapFailed: (err: unknown) => void,
): void {
  const win = x.win;
  if (win.ended) return;
  const close = (r: TapResult | undefined) => win.end(endMs, status, outcome ?? outcomeOf(status, r), r, reason);
  if (tap === undefined) { close(undefined); return; }
  try {
    tap.end(complete, close);
  } catch (err) {
    tapFailed(err);
    close(undefined); // a no-op if the tap had called it
  }
}
