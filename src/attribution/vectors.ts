/**
 * Small per-device vectors and the helpers the ledger's parts share. Plain arrays, not typed arrays: V8
 * allocates typed arrays over 64 bytes off-heap, far slower for the 1-16 devices of a pool.
 */
export const EMPTY: number[] = [];

const zeroTemplates: number[][] = [];
/** A new array of n zeros that holds unboxed doubles. */
export function zeros(n: number): number[] {
  let t = zeroTemplates[n];
  if (t === undefined) {
    // Filled with a non-integer first so the array holds unboxed doubles; slice() then copies it in one go.
    t = [];
    for (let i = 0; i < n; i++) t.push(0.5);
    for (let i = 0; i < n; i++) t[i] = 0;
    zeroTemplates[n] = t;
  }
  return t.slice();
}

export function sumOf(a: number[] | undefined): number {
  let s = 0;
  if (a !== undefined) for (let i = 0; i < a.length; i++) s += a[i]!;
  return s;
}

/**
 * A compensated integral at index j of `b` minus the same at `a` (undefined: zero); the low parts sit D
 * further on (see PoolState.integrals). A module function, not a closure made per call (it allocated).
 */
export function cumDiff(b: number[], a: number[] | undefined, j: number, D: number): number {
  return a === undefined ? b[j]! + b[j + D]! : b[j]! - a[j]! + (b[j + D]! - a[j + D]!);
}

/** `a.length = 0` is a runtime call in V8; popping the few entries of a hot short list is inlined. */
export function clearList(a: unknown[]): void {
  while (a.length > 0) a.pop();
}

/**
 * A function returning `{ [ids[0]]: v[0], … }` as one object literal: V8 then gives every record the same
 * fixed shape, ~20× faster than adding 12 computed keys one by one. The keys are JSON-encoded, so any
 * device id is safe; where code generation is disallowed (--disallow-code-generation-from-strings) it
 * falls back to the loop.
 */
export function makeByDevice(ids: readonly string[]): (v: readonly number[]) => Record<string, number> {
  try {
    const body = `return {${ids.map((id, i) => `${JSON.stringify(id)}: v[${i}]`).join(', ')}};`;
    // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generated from JSON-encoded ids only; see above
    return new Function('v', body) as (v: readonly number[]) => Record<string, number>;
  } catch {
    return (v) => {
      const o: Record<string, number> = {};
      ids.forEach((id, i) => { o[id] = v[i]!; });
      return o;
    };
  }
}
