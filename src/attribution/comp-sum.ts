/**
 * Compensated (Neumaier) summation. The ledger's running integrals grow for as long as the agent runs,
 * while a request's energy is their difference over its window: with plain doubles the rounding of each
 * addition (ulp of the running total) would be charged to every active window, enough to break the
 * 1e-9 conservation bound at 1 000 windows in flight. Keeping the lost low-order part makes it ~1e-30.
 */
export interface CompSum {
  hi: number;
  lo: number;
}

export const compSum = (): CompSum => ({ hi: 0, lo: 0 });

export function compAdd(s: CompSum, x: number): void {
  const t = s.hi + x;
  s.lo += Math.abs(s.hi) >= Math.abs(x) ? s.hi - t + x : x - t + s.hi;
  s.hi = t;
}

export const compValue = (s: CompSum): number => s.hi + s.lo;

/** Adds x to the compensated pair stored at arr[j] (high part) and arr[j + off] (low part). */
export function compAddAt(arr: number[], j: number, off: number, x: number): void {
  const s = arr[j]!;
  const t = s + x;
  arr[j + off] = arr[j + off]! + (Math.abs(s) >= Math.abs(x) ? s - t + x : x - t + s);
  arr[j] = t;
}
