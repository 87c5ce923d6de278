/**
 * One request's window as the proxy and the middleware drive it: open at receipt, first byte, model and
 * tokens, end with status and outcome. Each tracker call is guarded: attribution never throws into a
 * live request; a failure is counted and logged, rate-limited.
 *
 * Outcome rule (one place, used by both):
 * - `aborted`: the client went away before the last byte was sent;
 * - `error`: the upstream failed (unreachable, timeout, reset, closed mid-body), answered 5xx, or
 *   reported an error inside a 2xx body (TGI's in-band error event, SSE `event: error`, Responses API
 *   `response.failed`);
 * - `ok`: everything else that was delivered in full, 4xx included: a 4xx is the server doing its job
 *   (a refused or rate-limited request); the status in the record tells them apart.
 *
 * A request that did not end `ok` gets a reason (`OutcomeReason`) in its record, and a request that came
 * with a W3C `traceparent` gets its trace and span ids: both through the tracker's `note`, when it has one.
 */
import type { Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Outcome, RequestTracker, WindowHandle, WindowStart, WindowUpdate } from '../attribution/types.js';
import type { RequestNoteSink } from '../core/request-notes.js';
import type { RequestInfo, TapResult } from './tap.js';

/**
 * Why a request did not end `ok`. The proxy's own failures use the `code` its JSON error gave the
 * client; the rest are read from the outcome.
 */
export type OutcomeReason =
  | 'upstream_unreachable' // no connection to the upstream (refused, no route, DNS)
  | 'upstream_timeout' // no response headers within proxy.upstreamTimeoutMs
  | 'upstream_idle_timeout' // nothing from the upstream for proxy.upstreamIdleTimeoutMs once its response began
  | 'upstream_reset' // the connection was reset before the response
  | 'upstream_closed_mid_body' // the upstream closed the connection before the end of its response
  | 'upstream_bad_response' // a response that node:http will not relay
  | 'upstream_error' // any other failure to get a response
  | 'bad_request' // a request that could not be forwarded (a header value node:http refuses)
  | 'status_5xx' // the server answered 5xx
  | 'error_in_body' // a 2xx body that reported an error (TGI's error event, `response.failed`, …)
  | 'client_closed' // the client went away before the last byte
  | 'shutdown'; // cut when the agent stopped and its grace period ran out

/** A window's OutcomeReason when its caller gave none: from the outcome, the status and the body. */
function reasonOf(outcome: Outcome, status: number | undefined, tap: TapResult | undefined): OutcomeReason | undefined {
  if (outcome === 'aborted') return 'client_closed';
  if (outcome !== 'error') return undefined;
  if (status !== undefined && status >= 500) return 'status_5xx';
  if (tap?.errorSeen) return 'error_in_body';
  return undefined;
}

export interface RequestWindow {
  readonly id: string;
  readonly ended: boolean;
  /** Idempotent: the first call wins. */
  firstByte(): void;
  /** The response tap has read `n` content chunks of a streamed body so far (after each write); sends the decode marks. */
  chunks(n: number): void;
  request(info: RequestInfo): void;
  /** The caller's W3C trace context (already validated), for the record. */
  trace(traceId: string, spanId: string): void;
  /**
   * Idempotent. `endMs` is read by the caller when the last byte went out (or the abort happened).
   * `reason`: why the outcome is not ok, when the caller knows better than the outcome rule.
   */
  end(endMs: number, status: number | undefined, outcome: Outcome, tap?: TapResult, reason?: OutcomeReason): void;
}

export interface WindowCounters {
  trackerFailures: number;
}

export function outcomeOf(status: number | undefined, tap: TapResult | undefined): Outcome {
  if (status === undefined || status >= 500) return 'error';
  if (tap?.errorSeen) return 'error';
  return 'ok';
}

/**
 * Decode marks: when a streamed response's chunks cross a boundary of a grid of MARK_GRID_MS, the ledger
 * hears how many had been streamed by that boundary, so that the `learned` policy can spread the
 * request's completion energy as its tokens actually came (a batching engine makes them unevenly). The
 * grid is the same for every request, so that their marks cut the ledger's time at the same instants (a
 * few cuts a second, however many requests stream); it doubles every MARKS_PER_LEVEL marks of a request,
 * so a long stream sends O(log of its length) marks per level, not one every 250 ms for ever.
 */
const MARK_GRID_MS = 250;
const MARKS_PER_LEVEL = 32;

/**
 * A class, not a closure bundle: one window per request on the hot path, so its methods live on the
 * prototype instead of being allocated for every request.
 */
class TrackedWindow implements RequestWindow {
  readonly id: string;
  ended = false;
  private sentFirstByte = false;
  private readonly handle: WindowHandle | undefined;
  private readonly sink: RequestNoteSink | undefined;
  private traceId: string | undefined = undefined;
  private spanId: string | undefined = undefined;
  /** The tracker uses decode marks; content chunks read by the last write, when it was, and marks sent. */
  private readonly marksWanted: boolean;
  private chunksSeen = 0;
  private chunkMs = 0;
  private marks = 0;

  constructor(
    tracker: RequestTracker & Partial<RequestNoteSink>,
    private readonly clock: Clock,
    private readonly logger: Logger,
    start: WindowStart,
    private readonly counters: WindowCounters | undefined,
  ) {
    this.id = start.id;
    let handle: WindowHandle | undefined;
    try {
      handle = tracker.open(start);
    } catch (err) {
      this.failed('open', err);
    }
    this.handle = handle;
    this.marksWanted = handle !== undefined && tracker.decodeMarks === true && typeof handle.progress === 'function';
    this.sink = handle !== undefined && typeof tracker.note === 'function' ? (tracker as RequestNoteSink) : undefined;
  }

  private failed(what: string, err: unknown): void {
    if (this.counters) this.counters.trackerFailures++;
    this.logger.rateLimited('warn', `tracker-${what}`, `attribution tracker failed in ${what}; the request goes on`, { error: errorMessage(err) });
  }

  private update(u: WindowUpdate): void {
    if (!this.handle || this.ended) return;
    try {
      this.handle.update(u);
    } catch (err) {
      this.failed('update', err);
    }
  }

  firstByte(): void {
    if (this.sentFirstByte || this.ended) return;
    this.sentFirstByte = true;
    if (!this.handle) return;
    try {
      this.handle.firstByte(this.clock.nowMs());
    } catch (err) {
      this.failed('firstByte', err);
    }
  }

  chunks(n: number): void {
    if (!this.marksWanted || n === this.chunksSeen || this.ended) return;
    const now = this.clock.nowMs();
    if (this.chunksSeen > 0) {
      const grid = MARK_GRID_MS * 2 ** Math.floor(this.marks / MARKS_PER_LEVEL);
      const first = (Math.floor(this.chunkMs / grid) + 1) * grid;
      if (first <= now) {
        // The count at the first boundary after the last write; and at the latest one, if the stream
        // stalled across several (nothing came between them).
        this.mark(first, this.chunksSeen);
        const last = Math.floor(now / grid) * grid;
        if (last > first) this.mark(last, this.chunksSeen);
      }
    }
    this.chunksSeen = n;
    this.chunkMs = now;
  }

  private mark(tMs: number, chunks: number): void {
    this.marks++;
    try {
      this.handle!.progress!(tMs, chunks);
    } catch (err) {
      this.failed('progress', err);
    }
  }

  request(info: RequestInfo): void {
    // `stream` tells the ledger whether the first byte ends the prefill (the `learned` policy).
    if (info.model !== undefined) this.update(info.stream === undefined ? { model: info.model } : { model: info.model, stream: info.stream });
    else if (info.stream !== undefined) this.update({ stream: info.stream });
  }

  trace(traceId: string, spanId: string): void {
    this.traceId = traceId;
    this.spanId = spanId;
  }

  end(endMs: number, status: number | undefined, outcome: Outcome, tap?: TapResult, reason?: OutcomeReason): void {
    if (this.ended) return;
    if (this.sink !== undefined) {
      // Given before the window ends: the record may be made as soon as it has.
      const why = outcome === 'ok' ? undefined : (reason ?? reasonOf(outcome, status, tap));
      if (why !== undefined || this.traceId !== undefined) {
        try {
          this.sink.note(this.id, this.traceId === undefined ? { reason: why } : why === undefined ? { traceId: this.traceId, spanId: this.spanId } : { traceId: this.traceId, spanId: this.spanId, reason: why });
        } catch (err) {
          this.failed('note', err);
        }
      }
    }
    if (tap) {
      const u: WindowUpdate = {};
      if (tap.model !== undefined) u.model = tap.model;
      if (tap.promptTokens !== undefined) u.promptTokens = tap.promptTokens;
      if (tap.completionTokens !== undefined) u.completionTokens = tap.completionTokens;
      if (tap.cachedPromptTokens !== undefined) u.cachedPromptTokens = tap.cachedPromptTokens;
      if (tap.chunks > 0) u.chunks = tap.chunks;
      if (u.model !== undefined || u.promptTokens !== undefined || u.completionTokens !== undefined || u.chunks !== undefined) this.update(u);
    }
    this.ended = true;
    if (!this.handle) return;
    try {
      this.handle.end(status === undefined ? { endMs, outcome } : { endMs, status, outcome });
    } catch (err) {
      this.failed('end', err);
    }
  }
}

export function openWindow(tracker: RequestTracker & Partial<RequestNoteSink>, clock: Clock, logger: Logger, start: WindowStart, counters?: WindowCounters): RequestWindow {
  return new TrackedWindow(tracker, clock, logger, start, counters);
}
