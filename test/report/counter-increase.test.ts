import { describe, expect, it } from 'vitest';
import { createCounterIncrease } from '../../src/report/counter-increase.js';
import { createCoverageTracker } from '../../src/report/coverage.js';
import { createStepSeries } from '../../src/report/step-series.js';

/** Σ of the increments of samples [t, v, agentStartS?] over (from, to]. */
function increase(from: number, to: number, samples: [number, number, number?][]): number {
  const c = createCounterIncrease(from, to);
  let sum = 0;
  for (const [t, v, s] of samples) sum += c.push(t, v, s)?.delta ?? 0;
  return sum;
}

describe('the exact increase of a counter over (from, to]', () => {
  it('is the value at the end minus the value at the start (the last sample at or before it), not an extrapolation', () => {
    // 3 → 5 requests within the period: exactly 2 (PromQL's increase() would extrapolate to the window's ends).
    expect(increase(100, 200, [[90, 3], [110, 3], [150, 4], [190, 5], [210, 9]])).toBe(2);
    // A sample exactly at `from` is the baseline; one exactly at `to` counts.
    expect(increase(100, 200, [[100, 3], [200, 8]])).toBe(5);
  });

  it('counts a series that appears inside the period from zero (its first value whole)', () => {
    expect(increase(100, 200, [[120, 4], [150, 6]])).toBe(6);
  });

  it('across a restart seen as a drop, adds the new run\'s value: 10 → 12, restart, 3 → 7 is 2 + 7', () => {
    expect(increase(100, 200, [[90, 10], [110, 12], [130, 3], [170, 7]])).toBe(9);
  });

  it('across a restart whose new value passed the old one, only the start time tells it: 10 → 12, restart, 15 is 2 + 15', () => {
    const samples: [number, number, number][] = [[90, 10, 1], [110, 12, 1], [130, 15, 2], [170, 16, 2]];
    expect(increase(100, 200, samples)).toBe(2 + 15 + 1);
    // Without start times the same samples read as plain growth: 6, three too few.
    expect(increase(100, 200, samples.map(([t, v]) => [t, v]))).toBe(6);
  });

  it('says which increments are first values and resets', () => {
    const c = createCounterIncrease(0, 100);
    expect(c.push(10, 5, 1)).toEqual({ tMs: 10, delta: 5, reset: false, first: true });
    expect(c.push(20, 7, 1)).toEqual({ tMs: 20, delta: 2, reset: false, first: false });
    expect(c.push(30, 1, 2)).toEqual({ tMs: 30, delta: 1, reset: true, first: false });
    expect(c.push(30, 9, 2)).toBeUndefined(); // a repeated timestamp (chunk boundary) is ignored
    expect(c.push(120, 50, 2)).toBeUndefined(); // after `to`
    expect(c.hasBaseline()).toBe(false);
  });

  it('floating-point energy: sums the per-sample increases of a counter over many samples to float error', () => {
    const values: [number, number][] = [];
    let v = 0;
    for (let i = 0; i < 1000; i++) { v += 0.1 + (i % 7) * 1e-3; values.push([i, v]); }
    const got = increase(99.5, 899.5, values);
    expect(Math.abs(got - (values[899]![1] - values[99]![1]))).toBeLessThan(1e-9);
  });
});

describe('the value in force (factors, start time) at a sample', () => {
  it('is the last sample at or before it, else the first; trimming keeps the one in force', () => {
    const s = createStepSeries<string>();
    s.push(10, 'a'); s.push(20, 'b'); s.push(20, 'b2'); s.push(15, 'late'); s.push(40, 'c');
    expect([s.at(5), s.at(10), s.at(19), s.at(20), s.at(39), s.at(99)]).toEqual(['a', 'a', 'a', 'b2', 'b2', 'c']);
    expect([s.atOrBefore(5), s.atOrBefore(25)]).toEqual([undefined, 'b2']);
    s.trim(30);
    expect(s.size()).toBe(2);
    expect([s.at(25), s.at(45)]).toEqual(['b2', 'c']);
  });
});

describe('coverage of an agent by its samples', () => {
  it('finds a gap longer than 2.5 typical intervals, says a restart in it lost data, and the agent\'s start inside the period', () => {
    const c = createCoverageTracker(0, 100_000);
    for (const t of [20_000, 21_000, 22_000, 23_000, 24_000, 40_000, 41_000, 42_000, 43_000]) c.push(t);
    c.restart(24_000, 40_000);
    const { coverage, spanMs } = c.finish(19.5);
    expect(coverage.intervalS).toBe(1);
    expect(coverage.gaps.map((g) => [g.from, g.to, g.seconds])).toEqual([
      [new Date(0).toISOString(), new Date(20_000).toISOString(), 20],
      [new Date(24_000).toISOString(), new Date(40_000).toISOString(), 16],
      [new Date(43_000).toISOString(), new Date(100_000).toISOString(), 57],
    ]);
    expect(coverage.gaps[0]!.why).toMatch(/had not started yet .*00:00:19\.500Z/);
    expect(coverage.gaps[1]!.why).toMatch(/restarted in this gap/);
    expect(coverage.gaps[2]!.why).toMatch(/no samples after this/);
    // From the agent's start (19.5 s) to its last sample (43 s) less the 16 s gap.
    expect(coverage.coveredShare).toBeCloseTo((43_000 - 19_500 - 16_000) / 100_000, 12);
    expect(spanMs).toBe(43_000 - 19_500);
    expect(coverage.restarts).toEqual([`between ${new Date(24_000).toISOString()} and ${new Date(40_000).toISOString()}`]);
  });

  it('sampled before the period: covered from its start, a gap that no restart crossed lost nothing', () => {
    const c = createCoverageTracker(10_000, 20_000);
    for (const t of [8_000, 9_000, 10_000, 11_000, 12_000, 13_000, 17_000, 18_000, 19_000, 20_000]) c.push(t);
    const { coverage, spanMs } = c.finish(1);
    expect(coverage.gaps).toEqual([{ from: new Date(13_000).toISOString(), to: new Date(17_000).toISOString(), seconds: 4, why: expect.stringMatching(/nothing is lost/) }]);
    expect(coverage.coveredShare).toBeCloseTo(0.6, 12);
    expect(spanMs).toBe(10_000);
  });
});
