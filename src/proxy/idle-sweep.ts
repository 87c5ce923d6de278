/**
 * The proxy's idle timeout (proxy.upstreamIdleTimeoutMs) for every response in flight, with one timer,
 * instead of a socket timeout per response, which node re-arms on every read (upstreams.ts says why
 * per-request timer work is kept off the hot path).
 */
import type { Clock } from '../core/clock.js';

/** Ticks of the idle sweep a response may stay silent: cut after 4–5 quarters of the idle timeout. */
export const IDLE_TICKS = 4;
/** A response not watched by the idle sweep: before its headers (upstreamTimeoutMs covers that), or held back by its client. */
export const NOT_WATCHED = -1;

/**
 * The idle timeout of every response in flight, with one timer. Each response's slot (its number in
 * `active`) holds the sweep tick of its last upstream chunk; the sweep, every idleMs / IDLE_TICKS,
 * advances the tick and cuts the responses stamped more than IDLE_TICKS ticks ago: silent for at least
 * idleMs, at most 1.25 × idleMs. A chunk costs one array store, not a timer re-armed.
 *
 *   slot:      0    1    2    3
 *   stamp:     41   -1   44   38      tick = 44 → slot 3 is cut (44 − 38 > 4); slot 1 is not watched
 */
export class IdleSweep {
  tick = 0;
  readonly stamps: number[] = [];
  private cancel: (() => void) | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly periodMs: number,
    private readonly onIdle: (slot: number) => void,
  ) {
    this.schedule();
  }

  private schedule(): void {
    this.cancel = this.clock.setTimer(() => this.sweep(), this.periodMs);
  }

  private sweep(): void {
    const t = ++this.tick;
    const stamps = this.stamps;
    for (let i = 0; i < stamps.length; i++) {
      const s = stamps[i]!;
      if (s !== NOT_WATCHED && t - s > IDLE_TICKS) {
        stamps[i] = NOT_WATCHED;
        this.onIdle(i);
      }
    }
    this.schedule();
  }

  stop(): void {
    this.cancel?.();
    this.cancel = undefined;
  }
}
