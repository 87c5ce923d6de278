/**
 * The brute-force reference for attribution: every piece between consecutive cut points (each window's
 * start and end, clamped to what the timeline retained), its pool energy read from the timeline, split
 * over the windows active in it by the named policy's rule (docs/design.md, "Attribution"). Slow and
 * obvious on purpose: the ledger must agree with it for every policy, whatever its data structures.
 *
 * A policy is known here by name; a new split policy adds its rule to ORACLE_RULES (a weight density per
 * window and piece, or undefined for "time share"), and every property test that uses the oracle then
 * checks it.
 */
import type { EnergyTimeline } from '../../src/energy/types.js';

export interface OracleWindow {
  id: string;
  pool: string;
  start: number;
  end: number;
  prompt: number | undefined;
  completion: number | undefined;
  model?: string;
  /** A streamed request: its first byte ends its prefill. */
  stream?: boolean;
  firstByte?: number;
  /** `queuedPrefill`: when its prefill began (referenceActiveJ sets it). */
  prefillFrom?: number;
  /** Its decode marks, [time, content chunks streamed by then], and the chunks it streamed in all. */
  marks?: readonly (readonly [number, number])[];
  chunks?: number;
}

/**
 * `learned`: the decode interval of w that holds the piece [a, b] (cuts fall on every mark), and its share
 * of the chunks: [first byte, mark 1], …, [last mark, end]; one interval when the marks are not usable
 * (out of order, outside the decode, or counts past the total).
 */
function decodeInterval(w: OracleWindow, a: number): { from: number; to: number; share: number } {
  const fb = w.firstByte!;
  const m = w.marks ?? [];
  const n = w.chunks;
  const times = [fb, ...m.map((x) => x[0]), w.end];
  const counts = [0, ...m.map((x) => x[1]), n ?? 0];
  const usable = m.length > 0 && n !== undefined && n > 0 && times.every((t, i) => i === 0 || t > times[i - 1]!) && counts.every((c, i) => i === 0 || c >= counts[i - 1]!);
  if (!usable) return { from: fb, to: w.end, share: 1 };
  let i = 0;
  while (i + 2 < times.length && a >= times[i + 1]!) i++;
  return { from: times[i]!, to: times[i + 1]!, share: (counts[i + 1]! - counts[i]!) / n };
}

export interface OracleOptions {
  promptTokenWeight: number;
  /** `learned`: fixed J per token by model (the learner's priors, with learning kept from taking over). */
  costs?: Readonly<Record<string, { promptJ: number; completionJ: number }>>;
  /** `learned` with `queuedPrefill`: a window's prefill starts at the end of its wait (set by referenceActiveJ). */
  queuedPrefill?: boolean;
}

/**
 * A policy's rule: window w's weight class and density in the piece [a, b], or undefined when w takes
 * the time share (E / n). In a piece, the windows of the highest class present share E × k / n in
 * proportion to their densities (k of them; if their densities sum to 0, E / n each); every other window
 * takes E / n.
 */
export type OracleRule = (w: OracleWindow, a: number, b: number, o: OracleOptions) => { cls: number; d: number } | undefined;

const tokensRule: OracleRule = (w, _a, _b, o) =>
  w.prompt !== undefined || w.completion !== undefined
    ? { cls: 1, d: (o.promptTokenWeight * (w.prompt ?? 0) + (w.completion ?? 0)) / (w.end - w.start) }
    : undefined;

export const ORACLE_RULES: Readonly<Record<string, OracleRule>> = {
  time: () => undefined,
  tokens: tokensRule,
  // Learned power by phase for models with costs, decode spread by the chunks between marks; the others
  // fall back to `tokens` (class 1).
  learned: (w, a, b, o) => {
    const c = w.model === undefined ? undefined : o.costs?.[w.model];
    if (c === undefined || (w.prompt === undefined && w.completion === undefined)) return tokensRule(w, a, b, o);
    const pre = c.promptJ * (w.prompt ?? 0);
    const dec = c.completionJ * (w.completion ?? 0);
    const fb = w.firstByte;
    if (w.stream && fb !== undefined && fb > w.start && fb < w.end) {
      if (b <= fb) {
        const from = w.prefillFrom ?? w.start;
        return { cls: 2, d: a < from ? 0 : pre / (fb - from) };
      }
      const iv = decodeInterval(w, a);
      return { cls: 2, d: (dec * iv.share) / (iv.to - iv.from) };
    }
    return { cls: 2, d: (pre + dec) / (w.end - w.start) };
  },
};

export function oracleRule(policy: string): OracleRule {
  const rule = ORACLE_RULES[policy];
  if (rule === undefined) throw new Error(`the oracle has no rule for policy "${policy}": add it to ORACLE_RULES`);
  return rule;
}

/**
 * Each window's active energy (J, idle share excluded) under `policy`, over [the pool's retained start,
 * processedUntilMs[pool]].
 */
export function referenceActiveJ(
  policy: string,
  o: OracleOptions,
  timeline: EnergyTimeline,
  pools: Readonly<Record<string, readonly string[]>>,
  processedUntilMs: Readonly<Record<string, number>>,
  wins: readonly OracleWindow[],
): Map<string, number> {
  const rule = oracleRule(policy);
  const out = new Map<string, number>();
  for (const [pool, ids] of Object.entries(pools)) {
    const from = Math.max(...ids.map((id) => timeline.series(id)!.retainedFromMs()!));
    const until = processedUntilMs[pool]!;
    const ws = wins.filter((w) => w.pool === pool).map((w) => ({ w, s: Math.max(w.start, from), e: Math.max(w.end, from) }));
    // queuedPrefill: a window waits until the pool's latest first byte before the last tenth of its wait.
    if (o.queuedPrefill) {
      const fbs = wins.filter((w) => w.pool === pool && w.firstByte !== undefined).map((w) => Math.max(w.firstByte!, from));
      for (const w of wins) {
        if (w.pool !== pool || w.firstByte === undefined) continue;
        const cut = w.firstByte - 0.1 * (w.firstByte - w.start);
        const at = Math.max(...fbs.filter((t) => t <= cut), Number.NEGATIVE_INFINITY);
        // Not a wait that ends where its (clamped) start is processed: the ledger sees no segment of it.
        (w as { prefillFrom?: number }).prefillFrom = at > Math.max(w.start, from) ? at : undefined;
      }
    }
    // First bytes and marks cut too: a learned window's density changes there (a cut elsewhere changes nothing).
    const phases = wins.filter((w) => w.pool === pool && w.stream && w.firstByte !== undefined).flatMap((w) => [w.firstByte!, ...(w.marks ?? []).map((x) => x[0])]);
    const cuts = [...new Set([from, until, ...ws.flatMap((x) => [x.s, x.e]), ...phases])].filter((t) => t >= from && t <= until).sort((a, b) => a - b);
    for (const x of ws) out.set(x.w.id, 0);
    // Sweep: windows enter the active set at their start cut and leave at their end cut.
    const byStart = [...ws].filter((x) => x.e > x.s).sort((a, b) => a.s - b.s);
    const active = new Set<(typeof ws)[number]>();
    let next = 0;
    for (let i = 0; i + 1 < cuts.length; i++) {
      const a = cuts[i]!;
      const b = cuts[i + 1]!;
      while (next < byStart.length && byStart[next]!.s <= a) active.add(byStart[next++]!);
      for (const x of active) if (x.e <= a) active.delete(x);
      if (active.size === 0) continue;
      let E = 0;
      for (const id of ids) E += timeline.energyBetween(id, a, b)!;
      const n = active.size;
      const d = new Map<OracleWindow, { cls: number; d: number } | undefined>();
      let top = 0;
      for (const { w } of active) {
        const v = rule(w, a, b, o);
        d.set(w, v);
        if (v !== undefined && v.cls > top) top = v.cls;
      }
      let k = 0;
      let K = 0;
      for (const v of d.values()) if (v !== undefined && v.cls === top) { k++; K += v.d; }
      for (const { w } of active) {
        const v = d.get(w);
        const share = v === undefined || v.cls !== top || !(K > 0) ? E / n : (E * k * v.d) / (n * K);
        out.set(w.id, out.get(w.id)! + share);
      }
    }
  }
  return out;
}
