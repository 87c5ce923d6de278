/**
 * Time, injected. Everything that reads time or waits takes a Clock, so tests drive a fake one instead
 * of sleeping.
 *
 * `nowMs()` is the monotonic clock (uv_hrtime, as process.hrtime and performance.now) in milliseconds, as a float with sub-µs resolution:
 * energy is integrated over it, never over wall-clock time, which can jump (NTP, suspend).
 * `wallMs()` is Unix time in milliseconds, used only to label records and metrics for humans.
 */
export interface Clock {
  nowMs(): number;
  wallMs(): number;
  /** Calls fn once after delayMs; returns a function that cancels it. */
  setTimer(fn: () => void, delayMs: number): () => void;
}

export function createSystemClock(): Clock {
  return {
    // performance.now() reads the same monotonic clock as process.hrtime (libuv's uv_hrtime), counted
    // from the process start, as a double with sub-µs resolution, and without allocating a BigInt per
    // call (the proxy and the sampler read the clock several times per request and per reading).
    nowMs: () => performance.now(),
    wallMs: () => Date.now(),
    setTimer(fn, delayMs) {
      const t = setTimeout(fn, Math.max(0, delayMs));
      t.unref?.();
      return () => clearTimeout(t);
    },
  };
}

/** Converts a monotonic timestamp of `clock` to Unix milliseconds. */
export function toWallMs(clock: Clock, monoMs: number): number {
  return clock.wallMs() - (clock.nowMs() - monoMs);
}

export interface FakeClock extends Clock {
  /** Moves time forward, firing due timers in order (timers scheduled while firing run too if due). */
  advance(ms: number): void;
  /** Moves time forward and lets promise callbacks run between timers. */
  advanceAsync(ms: number): Promise<void>;
  pendingTimers(): number;
}

export function createFakeClock(startMs = 0, wallStartMs = Date.UTC(2026, 0, 1)): FakeClock {
  let now = startMs;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void; seq: number }>();

  const nextDue = (until: number) => {
    let best: { id: number; at: number; seq: number; fn: () => void } | undefined;
    for (const [id, t] of timers) {
      if (t.at > until) continue;
      if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = { id, ...t };
    }
    return best;
  };

  const clock: FakeClock = {
    nowMs: () => now,
    wallMs: () => wallStartMs + (now - startMs),
    setTimer(fn, delayMs) {
      const id = ++seq;
      timers.set(id, { at: now + Math.max(0, delayMs), fn, seq: id });
      return () => void timers.delete(id);
    },
    advance(ms) {
      const until = now + ms;
      for (let t = nextDue(until); t; t = nextDue(until)) {
        timers.delete(t.id);
        now = Math.max(now, t.at);
        t.fn();
      }
      now = until;
    },
    async advanceAsync(ms) {
      const until = now + ms;
      for (let t = nextDue(until); t; t = nextDue(until)) {
        timers.delete(t.id);
        now = Math.max(now, t.at);
        t.fn();
        for (let i = 0; i < 10; i++) await Promise.resolve();
        await new Promise((r) => setImmediate(r));
      }
      now = until;
    },
    pendingTimers: () => timers.size,
  };
  return clock;
}
