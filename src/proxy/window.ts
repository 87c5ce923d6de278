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

export function openWindow(tracker: RequestTracker, clock: Clock, logger: Logger, start: WindowStart, counters?: WindowCounters): RequestWindow {
  const failed = (what: string, err: unknown) => {
    if (counters) counters.trackerFailures++;
    logger.rateLimited('warn', `tracker-${what}`, `attribution tracker failed in ${what}; the request goes on`, { error: errorMessage(err) });
  };
  let handle: WindowHandle | undefined;
  try {
    handle = tracker.open(start);
  } catch (err) {
    failed('open', err);
  }
  let sentFirstByte = false;
  let ended = false;
  const update = (u: WindowUpdate) => {
    if (!handle || ended) return;
    try {
      handle.update(u);
    } catch (err) {
      failed('update', err);
    }
  };
  return {
    id: start.id,
    get ended() {
      return ended;
    },
    firstByte() {
      if (sentFirstByte || ended) return;
      sentFirstByte = true;
      if (!handle) return;
      try {
        handle.firstByte(clock.nowMs());
      } catch (err) {
        failed('firstByte', err);
      }
    },
    request(info) {
      if (info.model !== undefined) update({ model: info.model });
    },
    end(endMs, status, outcome, tap) {
      if (ended) return;
      if (tap) {
        const u: WindowUpdate = {};
        if (tap.model !== undefined) u.model = tap.model;
        if (tap.promptTokens !== undefined) u.promptTokens = tap.promptTokens;
        if (tap.completionTokens !== undefined) u.completionTokens = tap.completionTokens;
        if (u.model !== undefined || u.promptTokens !== undefined || u.completionTokens !== undefined) update(u);
      }
      ended = true;
      if (!handle) return;
      try {
        handle.end(status === undefined ? { endMs, outcome } : { endMs, status, outcome });
      } catch (err) {
        failed('end', err);
      }
    },
  };
}
