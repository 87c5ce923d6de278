/**
 * A value that holds from one sample to the next (the factors in force, an agent's start time), read
 * at the time of a counter sample. Samples arrive in time order, chunk after chunk; `trim` drops what
 * no later lookup can need, keeping the last sample before the cut so the value in force carries over.
 *
 *   samples  a───────b───────────c────
 *   at(t)    a  a  a  b  b  b  b  c  c      before the first sample: the first (the earliest known)
 */
export interface StepSeries<T> {
  push(tMs: number, value: T): void;
  /** The value of the last sample at or before `tMs`, else the first sample's; undefined when empty. */
  at(tMs: number): T | undefined;
  /** The value of the last sample at or before `tMs`; undefined before the first. */
  atOrBefore(tMs: number): T | undefined;
  trim(beforeMs: number): void;
  size(): number;
}

export function createStepSeries<T>(): StepSeries<T> {
  let times: number[] = [];
  let values: T[] = [];
  return {
    push(tMs, value) {
      const last = times.length - 1;
      if (last >= 0 && tMs <= times[last]!) {
        if (tMs === times[last]) values[last] = value;
        return;
      }
      times.push(tMs);
      values.push(value);
    },
    at(tMs) {
      if (!times.length) return undefined;
      let lo = 0;
      let hi = times.length - 1;
      if (tMs < times[0]!) return values[0];
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (times[mid]! <= tMs) lo = mid;
        else hi = mid - 1;
      }
      return values[lo];
    },
    atOrBefore(tMs) {
      return times.length && tMs >= times[0]! ? this.at(tMs) : undefined;
    },
    trim(beforeMs) {
      let keepFrom = 0;
      while (keepFrom + 1 < times.length && times[keepFrom + 1]! <= beforeMs) keepFrom++;
      if (keepFrom > 0) { times = times.slice(keepFrom); values = values.slice(keepFrom); }
    },
    size: () => times.length,
  };
}
