/**
 * How well Prometheus covered one agent over the period, from the samples of a series every scrape
 * carries (its idle-energy counter): where scrapes are missing, when the agent started and restarted.
 * Gaps are stated, not hidden. A gap loses nothing by itself (the next sample of a counter carries
 * what happened in it); a restart inside a gap loses what the agent counted after its last scrape.
 *
 * A gap is an interval between samples longer than 2.5 typical intervals (the median).
 */
import type { InstanceCoverage } from './types.js';

const GAP_FACTOR = 2.5;
/** Intervals this long are kept as candidate gaps whatever the typical interval turns out to be. */
const ALWAYS_CANDIDATE_MS = 30_000;

export interface CoverageTracker {
  push(tMs: number): void;
  /** A reset seen between the previous sample and `tMs` (the agent restarted in between). */
  restart(prevMs: number | undefined, tMs: number): void;
  hasBaseline(): boolean;
  sampled(): boolean;
  /** The first sample inside the period. */
  firstMs(): number | undefined;
  finish(agentStartS: number | undefined): { coverage: Omit<InstanceCoverage, 'instance' | 'cluster' | 'job'>; spanMs: number };
}

const iso = (ms: number) => new Date(ms).toISOString();

export function createCoverageTracker(fromMs: number, toMs: number): CoverageTracker {
  let baselineMs: number | undefined;
  let firstMs: number | undefined;
  let lastMs: number | undefined;
  let prevMs: number | undefined;
  let count = 0;
  let minIntervalMs = Infinity;
  const histogram = new Map<number, number>();
  const candidates: { a: number; b: number }[] = [];
  const restarts: { a: number | undefined; b: number }[] = [];

  return {
    push(tMs) {
      if (prevMs !== undefined && tMs <= prevMs) return;
      if (tMs <= fromMs) { baselineMs = tMs; prevMs = tMs; return; }
      if (tMs > toMs) return;
      count++;
      firstMs ??= tMs;
      if (prevMs !== undefined) {
        const d = tMs - prevMs;
        const bin = Math.round(d / 10) * 10;
        histogram.set(bin, (histogram.get(bin) ?? 0) + 1);
        if (d > 2 * minIntervalMs || d >= ALWAYS_CANDIDATE_MS) candidates.push({ a: prevMs, b: tMs });
        minIntervalMs = Math.min(minIntervalMs, d);
      }
      lastMs = tMs;
      prevMs = tMs;
    },
    restart(a, b) { restarts.push({ a, b }); },
    hasBaseline: () => baselineMs !== undefined,
    sampled: () => count > 0,
    firstMs: () => firstMs,
    finish(agentStartS) {
      const periodMs = toMs - fromMs;
      const medianMs = median(histogram);
      const threshold = medianMs === null ? Infinity : GAP_FACTOR * medianMs;
      const gaps: InstanceCoverage['gaps'] = [];
      const agentStartMs = agentStartS === undefined ? undefined : agentStartS * 1000;
      if (firstMs === undefined || lastMs === undefined) {
        return { coverage: { firstSample: null, lastSample: null, samples: 0, intervalS: null, coveredShare: 0, agentStartedAt: agentStartMs === undefined ? null : iso(agentStartMs), restarts: [], gaps: [{ from: iso(fromMs), to: iso(toMs), seconds: periodMs / 1000, why: 'no samples in the period' }] }, spanMs: 0 };
      }
      // Where the period's coverage begins: its start when sampled before it, else the agent's start
      // when it started inside the period (its counters were at zero then), else its first sample.
      const start = baselineMs !== undefined ? fromMs
        : agentStartMs !== undefined && agentStartMs >= fromMs && agentStartMs < firstMs ? agentStartMs : firstMs;
      if (baselineMs === undefined) {
        const why = agentStartMs !== undefined && agentStartMs >= fromMs
          ? `the agent had not started yet (its counters started at ${iso(agentStartMs)})`
          : 'no samples yet (not scraped, or Prometheus was not running)';
        gaps.push({ from: iso(fromMs), to: iso(firstMs), seconds: (firstMs - fromMs) / 1000, why });
      }
      let innerGapMs = 0;
      for (const c of candidates) {
        if (c.b - c.a <= threshold) continue;
        const lost = restarts.some((r) => r.b === c.b);
        gaps.push({
          from: iso(c.a), to: iso(c.b), seconds: (c.b - c.a) / 1000,
          why: lost ? 'no samples, and the agent restarted in this gap: what it counted after its last scrape before stopping is not in any sample'
            : 'no samples (failed scrapes, or Prometheus or federation down); the counters carry what happened in it, nothing is lost',
        });
        innerGapMs += c.b - Math.max(c.a, fromMs);
      }
      const reachesEnd = toMs - lastMs <= threshold;
      if (!reachesEnd) gaps.push({ from: iso(lastMs), to: iso(toMs), seconds: (toMs - lastMs) / 1000, why: 'no samples after this (the agent stopped, or was no longer scraped)' });
      const end = reachesEnd ? toMs : lastMs;
      // The time covered: from the start (the period's, or the agent's first sample) to the end, less the gaps.
      const covered = Math.max(0, end - start - innerGapMs);
      return {
        coverage: {
          firstSample: iso(firstMs), lastSample: iso(lastMs), samples: count, intervalS: medianMs === null ? null : medianMs / 1000,
          coveredShare: Math.min(1, covered / periodMs),
          agentStartedAt: agentStartMs === undefined ? null : iso(agentStartMs),
          restarts: restarts.map((r) => (r.a === undefined ? `before ${iso(r.b)}` : `between ${iso(r.a)} and ${iso(r.b)}`)),
          gaps,
        },
        // Embodied time share: the time the agent ran on the host within the period, gaps included (the host existed).
        spanMs: Math.max(0, end - start),
      };
    },
  };
}

function median(h: Map<number, number>): number | null {
  let n = 0;
  for (const c of h.values()) n += c;
  if (!n) return null;
  const sorted = [...h.entries()].sort((a, b) => a[0] - b[0]);
  let seen = 0;
  for (const [v, c] of sorted) {
    seen += c;
    if (seen * 2 >= n) return v;
  }
  return sorted[sorted.length - 1]![0];
}
