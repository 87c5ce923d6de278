/**
 * The exact increase of one counter series over (from, to], from its raw samples in time order
 * (docs/report.md, "Exact totals"). Not PromQL's `increase()`, which extrapolates to the ends of its
 * window and so returns, for a counter that went from 3 to 5 requests inside it, can return more than 2 requests.
 *
 *   samples   ●──────●──────●────╳ reset ●──────●──────●
 *   time         ▲ from                               ▲ to
 *   value at from = the last sample at or before `from` (the baseline); none = the series did not
 *   exist yet, and its first value inside the range counts whole (a counter starts at zero).
 *   each later sample adds v − previous, or v after a reset (the agent restarted: its counters began
 *   again at zero), so the increase is the value at `to` minus the value at `from`, across restarts.
 *
 * A reset is a drop in value, or a change of the agent's start time (inferwatt_start_time_seconds)
 * between two samples: a restarted agent that served more than before its restart has a value above
 * the old one by its first scrape, which a drop alone would miss.
 */
export interface CounterIncrement {
  tMs: number;
  delta: number;
  /** The previous sample was from another run of the agent (or the value dropped). */
  reset: boolean;
  /** The series had no sample at or before `from`, nor earlier in the range. */
  first: boolean;
}

export interface CounterIncrease {
  /** Feeds the next sample (strictly later than the previous one); returns its increment when inside (from, to]. */
  push(tMs: number, value: number, agentStartS: number | undefined): CounterIncrement | undefined;
  /** Whether a sample at or before `from` was seen. */
  hasBaseline(): boolean;
  lastMs(): number | undefined;
}

export function createCounterIncrease(fromMs: number, toMs: number): CounterIncrease {
  let lastT: number | undefined;
  let lastV = 0;
  let lastStart: number | undefined;
  let baseline = false;
  return {
    push(tMs, value, agentStartS) {
      if (lastT !== undefined && tMs <= lastT) return undefined;
      const prevT = lastT;
      const prevV = lastV;
      const prevStart = lastStart;
      lastT = tMs;
      lastV = value;
      lastStart = agentStartS;
      if (tMs <= fromMs) { baseline = true; return undefined; }
      if (tMs > toMs) return undefined;
      if (prevT === undefined) return { tMs, delta: value, reset: false, first: true };
      const restarted = agentStartS !== undefined && prevStart !== undefined && agentStartS !== prevStart;
      const reset = restarted || value < prevV;
      return { tMs, delta: reset ? value : value - prevV, reset, first: false };
    },
    hasBaseline: () => baseline,
    lastMs: () => lastT,
  };
}
