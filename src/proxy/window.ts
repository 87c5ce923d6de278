/**
 * One request's window as the proxy and the middleware drive it: open at receipt, first byte, model and
 * tokens, end with status and outcome. Each tracker call is guarded: attribution never throws into a
 * live request (CONVENTIONS lesson 4); a failure is counted and logged, rate-limited.
 *
 * Outcome rule (one place, used by both):
 * - `aborted`: the client went away before the last byte was sent;
 * - `error`: the upstream failed (unreachable, timeout, reset, closed mid-body), answered 5xx, or
 *   reported an error inside a 2xx body (TGI's in-band error event, SSE `event: error`, Responses API
 *   `response.failed`);
 * - `ok`: everything else that was delivered in full, 4xx included: a 4xx is the server doing its job
 *   (a refused or rate-limited request); the status in the record tells them apart.
 */
import type { Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Outcome, RequestTracker, WindowHandle, WindowStart, WindowUpdate } from '../attribution/types.js';
import type { RequestInfo, TapResult } from './tap.js';

export interface RequestWindow {
  readonly id: string;
  readonly ended: boolean;
  /** Idempotent: the first call wins. */
  firstByte(): void;
  request(info: RequestInfo): void;
  /** Idempotent. `endMs` is read by the caller when the last byte went out (or the abort happened). */
  end(endMs: number, status: number | undefined, outcome: Outcome, tap?: TapResult): void;
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
 * A class, not a closure bundle: one window per request on the hot path, so its methods live on the
 * prototype instead of being allocated for every request.
 */
class TrackedWindow implements RequestWindow {
  readonly id: string;
  ended = false;
  private sentFirstByte = false;
  private readonly handle: WindowHandle | undefined;

  constructor(
    tracker: RequestTracker,
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

  request(info: RequestInfo): void {
    if (info.model !== undefined) this.update({ model: info.model });
  }

  end(endMs: number, status: number | undefined, outcome: Outcome, tap?: TapResult): void {
    if (this.ended) return;
    if (tap) {
      const u: WindowUpdate = {};
      if (tap.model !== undefined) u.model = tap.model;
      if (tap.promptTokens !== undefined) u.promptTokens = tap.promptTokens;
      if (tap.completionTokens !== undefined) u.completionTokens = tap.completionTokens;
      if (u.model !== undefined || u.promptTokens !== undefined || u.completionTokens !== undefined) this.update(u);
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

export function openWindow(tracker: RequestTracker, clock: Clock, logger: Logger, start: WindowStart, counters?: WindowCounters): RequestWindow {
  return new TrackedWindow(tracker, clock, logger, start, counters);
}
