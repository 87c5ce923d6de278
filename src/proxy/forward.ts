/**
 * Forwarding one request: node:http's server on the client's side, the proxy's own HTTP/1.1 client
 * (h1-client.ts: callbacks, no ClientRequest or IncomingMessage per request) on the upstream's, bytes
 * untouched, streamed (no buffering: every upstream chunk is written to the client as it arrives, with
 * backpressure: `onData` returns false and the client's `drain` resumes), the taps reading on the side.
 * Upgrades (WebSocket) go through node:http (tunnel.ts).
 *
 * Timeline of a window: open at receipt; firstByte when the first body byte is written to the client
 * (headers alone are not a first byte: an SSE server sends its headers before the first token; a
 * response without a body gets it when it ends); end on
 * 'finish' (the last byte handed to the OS), or when the client goes away (`aborted`), or when the
 * upstream fails mid-body (`error`, the client connection is cut so it cannot take a truncated body for
 * a whole one).
 *
 * Upstream timeouts: `upstreamTimeoutMs` until the response headers, connecting included (one timer per
 * request), then
 * `upstreamIdleTimeoutMs` between bytes of the response body. The idle timeout is not a timer per
 * request, re-armed on every chunk: one sweep every quarter of it looks at the tick stamped on each
 * response in flight by its last chunk (see `IdleSweep` below).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../core/clock.js';
import { errnoCode, errorMessage } from '../core/errors.js';
import { Slots } from '../core/slots.js';
import type { Logger } from '../core/logger.js';
import type { RequestTracker } from '../attribution/types.js';
import { beginExchange, finishExchange, responseTap, type ExchangeContext } from './exchange.js';
import type { H1Exchange, UpstreamHandler } from './h1-client.js';
import { filterHeaders, forwardedHeaders, rawHeader } from './headers.js';
import { IDLE_TICKS, IdleSweep, NOT_WATCHED } from './idle-sweep.js';
import { createRequestTap, type RequestTap, type ResponseTap } from './tap.js';
import type { UpstreamRouter } from './upstreams.js';
import type { OutcomeReason, WindowCounters } from './window.js';
import type { RequestNoteSink } from '../core/request-notes.js';

/** Why the proxy could not complete a request because of the upstream (a bounded label set). */
export type UpstreamErrorReason = 'connect' | 'timeout' | 'reset' | 'status_5xx' | 'other';
export const UPSTREAM_ERROR_REASONS: readonly UpstreamErrorReason[] = ['connect', 'timeout', 'reset', 'status_5xx', 'other'];

export const REQUEST_ID_HEADER = 'x-inferwatt-request-id';

export interface ForwarderOptions {
  router: UpstreamRouter;
  /** With a `note` method, it also hears each request's trace context and why it did not end ok. */
  tracker: RequestTracker & Partial<RequestNoteSink>;
  clock: Clock;
  logger: Logger;
  maxParseBodyBytes: number;
  tenantHeader: string;
  onUpstreamError?: (reason: UpstreamErrorReason) => void;
  upstreamTimeoutMs?: number;
  /** Longest silence of the upstream once its response began; the response is then cut. 0 or absent: none. */
  upstreamIdleTimeoutMs?: number;
}

export interface ForwarderStats extends WindowCounters {
  /** Body taps that threw (their reading lost, the request unharmed). */
  tapFailures: number;
  upstreamErrors: Record<UpstreamErrorReason, number>;
}

export interface Forwarder {
  handle: (req: IncomingMessage, res: ServerResponse) => void;
  /** Requests being forwarded now. */
  active: () => number;
  readonly stats: ForwarderStats;
  /**
   * Cuts every request in flight: their windows end `aborted`, with `reason` (default `client_closed`:
   * a cut connection is what the client sees).
   */
  abortAll(reason?: 'shutdown'): void;
  /** Stops the idle sweep. */
  stop(): void;
}

const ignore = (): void => {};

const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ETIMEDOUT', 'ECONNABORTED']);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE']);

function classify(err: unknown, timedOut: boolean): UpstreamErrorReason {
  if (timedOut) return 'timeout';
  const code = errnoCode(err);
  if (code && CONNECT_CODES.has(code)) return 'connect';
  if ((code && RESET_CODES.has(code)) || errorMessage(err) === 'socket hang up') return 'reset';
  return 'other';
}

/** Request headers that are not passed on: ours, `host` (set to the upstream's), `expect` (answered here). */
const DROP_REQUEST = new Set(['host', 'expect', REQUEST_ID_HEADER, 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto']);
const DROP_RESPONSE = new Set([REQUEST_ID_HEADER]);

/**
 * An error answered by the proxy itself, shaped as OpenAI's (`{error: {message, type, code}}`) so that
 * clients show it. `type`: `upstream_error` when the upstream failed, `invalid_request_error` when the
 * request was at fault (as OpenAI answers an unknown path).
 */
export function sendJsonError(res: ServerResponse, status: number, id: string, message: string, code: string, type: 'upstream_error' | 'invalid_request_error' = 'upstream_error'): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ error: { message, type, code } });
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    [REQUEST_ID_HEADER]: id,
  });
  res.end(body);
}

export function createForwarder(opts: ForwarderOptions): Forwarder {
  const { router, tracker, clock, logger, maxParseBodyBytes, tenantHeader } = opts;
  const stats: ForwarderStats = {
    trackerFailures: 0,
    tapFailures: 0,
    upstreamErrors: { connect: 0, timeout: 0, reset: 0, status_5xx: 0, other: 0 },
  };
  const exchange: ExchangeContext = { tracker, clock, logger, tenantHeader, maxParseBodyBytes, counters: stats };
  /** The responses in flight, for `active()` and `abortAll()` (slots, not a Set: see core/slots.ts). */
  const active = new Slots<ServerResponse>();
  /** Per slot of `active`: why the proxy itself cut that response, read by its 'close' listener. */
  const cutReasons: (OutcomeReason | undefined)[] = [];
  const idleMs = opts.upstreamIdleTimeoutMs ?? 0;
  const idle = idleMs > 0
    ? new IdleSweep(clock, idleMs / IDLE_TICKS, (slot) => {
        const res = active.get(slot);
        if (res === undefined) return;
        cutReasons[slot] = 'upstream_idle_timeout';
        res.destroy();
      })
    : undefined;
  const stamps = idle?.stamps;

  const tapFailed = (err: unknown) => {
    stats.tapFailures++;
    logger.rateLimited('warn', 'tap-failed', 'a body tap failed; the request goes on without its reading', { error: errorMessage(err) });
  };

  const reportError = (reason: UpstreamErrorReason) => {
    stats.upstreamErrors[reason]++;
    try {
      opts.onUpstreamError?.(reason);
    } catch (err) {
      logger.rateLimited('warn', 'on-upstream-error', 'onUpstreamError callback threw', { error: errorMessage(err) });
    }
  };

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const target = router.select(req.url ?? '/');
    if (!target) {
      sendJsonError(res, 404, randomUUID(), 'no upstream serves this path', 'no_upstream', 'invalid_request_error');
      return;
    }
    const { upstream, path, apiPath } = target;
    const x = beginExchange(exchange, req, upstream.name, apiPath);
    const { id, method, win } = x;

    // Request body: streamed to the upstream; the tap keeps at most maxParseBodyBytes to learn model/stream.
    const cl = req.headers['content-length'];
    const contentLength = cl !== undefined ? Number(cl) : undefined;
    const hasBody = (contentLength !== undefined && contentLength > 0) || req.headers['transfer-encoding'] !== undefined;
    if (hasBody) {
      // A tap that throws loses its reading, never the request: thrown from a 'data' listener it would be
      // uncaught (the body not forwarded, the window left open, the process gone).
      let reqTap: RequestTap | undefined = createRequestTap(maxParseBodyBytes, Number.isFinite(contentLength) ? contentLength : undefined, req.headers['content-encoding']);
      req.on('data', (chunk: Buffer) => {
        try {
          reqTap?.write(chunk);
        } catch (err) {
          reqTap = undefined;
          tapFailed(err);
        }
      });
      req.on('end', () => {
        try {
          if (reqTap) win.request(reqTap.end());
        } catch (err) {
          tapFailed(err);
        }
      });
    }

    const headers = filterHeaders(req.rawHeaders, DROP_REQUEST, forwardedHeaders(req, upstream.hostHeader, REQUEST_ID_HEADER, id));

    /** The request to the upstream, once sent. */
    let exch: H1Exchange | undefined;
    /** The upstream's response has begun (its head arrived). */
    let responded = false;
    let drainHooked = false;
    let tap: ResponseTap | undefined;
    let status: number | undefined;
    let clientGone = false;
    /** Why the upstream failed this request, once it has. */
    let failure: OutcomeReason | undefined;
    let timedOut = false;
    let cancelTimer: (() => void) | undefined;

    let slot = active.add(res);
    cutReasons[slot] = undefined;
    if (stamps !== undefined) stamps[slot] = NOT_WATCHED;
    const leave = () => {
      if (slot < 0) return;
      if (stamps !== undefined) stamps[slot] = NOT_WATCHED;
      active.remove(slot);
      slot = -1;
    };

    const finishWindow = (outcomeOverride: 'aborted' | 'error' | undefined, complete: boolean, reason?: OutcomeReason) => {
      const endMs = clock.nowMs();
      leave();
      const t = tap;
      tap = undefined;
      finishExchange(x, t, endMs, status, outcomeOverride, complete, reason, tapFailed);
    };

    const onUpstreamFailure = (err: unknown) => {
      cancelTimer?.();
      if (clientGone) return; // our own abort
      const reason = classify(err, timedOut);
      reportError(reason);
      logger.rateLimited('warn', `upstream-${reason}`, `upstream ${upstream.name} failed: ${reason}`, { error: errorMessage(err), code: errnoCode(err) });
      status = reason === 'timeout' ? 504 : 502;
      failure = reason === 'timeout' ? 'upstream_timeout' : reason === 'connect' ? 'upstream_unreachable' : reason === 'reset' ? 'upstream_reset' : 'upstream_error';
      win.firstByte();
      sendJsonError(
        res,
        status,
        id,
        reason === 'timeout'
          ? `upstream "${upstream.name}" did not answer within ${opts.upstreamTimeoutMs} ms`
          : `upstream "${upstream.name}" failed: ${errnoCode(err) ?? errorMessage(err)}`,
        failure,
      );
    };

    const handler: UpstreamHandler = {
      onHeaders(code, statusText, raw) {
        cancelTimer?.();
        responded = true;
        status = code;
        try {
          // Trailers of the upstream (rare for LLM servers) are not forwarded.
          res.writeHead(code, statusText, filterHeaders(raw, DROP_RESPONSE, [REQUEST_ID_HEADER, id]));
        } catch (err) {
          // What the parser read but node:http will not send (a status below 100, a control character in
          // the reason phrase): thrown here it would end the request with its window open.
          failure = 'upstream_bad_response';
          reportError('other');
          logger.rateLimited('warn', 'upstream-bad-response', `upstream ${upstream.name} sent a response that cannot be relayed`, { error: errorMessage(err) });
          status = 502;
          res.statusMessage = ''; // writeHead kept the rejected one; '' lets the next writeHead use the standard text
          win.firstByte();
          sendJsonError(res, 502, id, `upstream "${upstream.name}" sent a response that cannot be relayed: ${errorMessage(err)}`, 'upstream_bad_response');
          exch!.abort();
          return;
        }
        if (code >= 500) reportError('status_5xx');
        if (stamps !== undefined && slot >= 0) stamps[slot] = idle!.tick;
        // A streamed body (no length): send the headers now, as the upstream did, not with the first token.
        if (rawHeader(raw, 'content-length') === undefined) res.flushHeaders();
        try {
          tap = responseTap(exchange, x, code, rawHeader(raw, 'content-type'), rawHeader(raw, 'content-encoding'));
        } catch (err) {
          tapFailed(err);
        }
      },
      onData(chunk) {
        win.firstByte();
        let more = true;
        if (stamps !== undefined && slot >= 0) stamps[slot] = idle!.tick;
        if (!res.write(chunk)) {
          // backpressure: the client reads slower than the upstream writes. Its silence until then is
          // ours, not the upstream's: not watched for idleness.
          more = false;
          if (stamps !== undefined && slot >= 0) stamps[slot] = NOT_WATCHED;
          if (!drainHooked) {
            drainHooked = true;
            res.on('drain', () => {
              if (stamps !== undefined && slot >= 0) stamps[slot] = idle!.tick;
              exch?.resume();
            });
          }
        }
        try {
          if (tap !== undefined) {
            tap.write(chunk);
            win.chunks(tap.chunks());
          }
        } catch (err) {
          tap = undefined;
          tapFailed(err);
        }
        return more;
      },
      onComplete() {
        win.firstByte(); // a response without a body: its headers were its first bytes
        // The upstream is done: whatever time the client now takes to read the rest is not its silence.
        if (stamps !== undefined && slot >= 0) stamps[slot] = NOT_WATCHED;
        res.end();
      },
      onError(err) {
        if (!responded) {
          onUpstreamFailure(err);
          return;
        }
        // Closed because the client left, the proxy cut the response (idle, shutdown), or a response it
        // could not relay.
        if (clientGone || win.ended || failure !== undefined || (slot >= 0 && cutReasons[slot] !== undefined)) return;
        // The upstream closed mid-body: cut the client too, so it cannot mistake the rest for a whole body.
        failure = 'upstream_closed_mid_body';
        reportError('reset');
        logger.rateLimited('warn', 'upstream-midstream', `upstream ${upstream.name} closed the response mid-body`);
        finishWindow('error', false, failure);
        res.destroy();
      },
    };

    try {
      exch = upstream.dispatch({ method, path, headers, body: hasBody ? req : null }, handler);
    } catch (err) {
      // What node:http would refuse to send (a control character in a header value, a bad name), refused
      // before anything is sent.
      logger.rateLimited('warn', 'bad-request', 'request could not be forwarded', { error: errorMessage(err) });
      reportError('other');
      failure = 'bad_request';
      res.once('finish', () => finishWindow('error', true, 'bad_request'));
      res.once('close', () => finishWindow('error', false, 'bad_request'));
      sendJsonError(res, 502, id, `request could not be forwarded: ${errorMessage(err)}`, 'bad_request');
      return;
    }

    if (opts.upstreamTimeoutMs !== undefined && opts.upstreamTimeoutMs > 0) {
      // Time to the response headers, connecting included; a stream that then takes long is not cut.
      const sent = exch;
      cancelTimer = clock.setTimer(() => {
        timedOut = true;
        sent.abort(new Error('upstream timeout'));
      }, opts.upstreamTimeoutMs);
    }

    // `on`, not `once`: both fire once per response, and `once` wraps each listener (a bound function and
    // a removeListener per request on the hot path).
    res.on('finish', () => finishWindow(failure !== undefined ? 'error' : undefined, true, failure));
    res.on('close', () => {
      if (res.writableFinished || win.ended) {
        leave();
        return;
      }
      // Cut by the proxy (idle upstream, shutdown) or gone by itself: either way the upstream request is
      // cancelled (the server stops generating).
      const cut = slot >= 0 ? cutReasons[slot] : undefined;
      clientGone = true;
      cancelTimer?.();
      if (cut === 'upstream_idle_timeout') {
        reportError('timeout');
        logger.rateLimited('warn', 'upstream-idle', `upstream ${upstream.name} sent nothing for ${idleMs} ms once its response had begun; the response was cut (proxy.upstreamIdleTimeoutMs)`);
        finishWindow('error', false, cut);
      } else finishWindow('aborted', false, cut);
      exch?.abort();
    });
    req.on('error', ignore); // a client that aborts its upload: 'close' on res handles it
    if (!hasBody) req.resume(); // nothing to send, but the request is read to its end
  }

  return {
    handle,
    active: () => active.size,
    stats,
    abortAll(reason) {
      for (let i = 0; i < cutReasons.length; i++) {
        const r = active.get(i);
        if (r === undefined) continue;
        cutReasons[i] = reason;
        r.destroy();
      }
    },
    stop() {
      idle?.stop();
    },
  };
}
