/**
 * Integration: sensors → sampler → timeline, driven by a fake clock, against power curves whose energy
 * integral is known in closed form. Each curve is sampled by a gauge device (power, integrated by the
 * timeline) and a counter device (exact cumulative energy, as RAPL or NVML give it).
 *
 * Error bounds (h = sampling interval in s, L = t1 − t0 in s, M1 = max|P'|, M2 = max|P''|):
 * - Trapezoid rule over one interval: |error| ≤ h³·M2/12, so between sample points the gauge series is
 *   off by at most (span in s)·h²·M2/12. It is exact for constant and linear power.
 * - Inside an interval the timeline interpolates cumulative energy linearly; for a C² energy curve the
 *   interpolation error is ≤ h²·max|E''|/8 = h²·M1/8 at each end of the query.
 * - Hence, gauge:   |energyBetween − exact| ≤ (L + 2h)·h²·M2/12 + 2·h²·M1/8   (the span can reach one
 *   interval beyond each end); counter: ≤ 2·h²·M1/8, and exact (to rounding) at sample points.
 * - Step of ΔP inside one interval (E'' is not bounded there): the trapezoid over that interval is off by
 *   ≤ |ΔP|·h/2, and interpolating inside it by ≤ |ΔP|·h/4.
 * A small relative slack (1e-9 of the energy) absorbs floating-point rounding.
 */
import { describe, expect, it } from 'vitest';
import { createFakeClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { createSampler } from '../../src/energy/sampler.js';
import { createEnergyTimeline } from '../../src/energy/timeline.js';
import { createFakeSensor } from '../helpers/fake-sensor.js';

interface Curve {
  readonly name: string;
  /** W at t seconds. */
  readonly powerW: (tS: number) => number;
  /** Exact J from 0 to t seconds. */
  readonly energyJ: (tS: number) => number;
  /** max|P'| in W/s and max|P''| in W/s² over the run (steps handled apart). */
  readonly m1: number;
  readonly m2: number;
  readonly step?: { readonly atS: number; readonly deltaW: number };
}

const OMEGA = (2 * Math.PI) / 7; // a 7 s period: not a multiple of any sampling interval used here
const STEP_AT_S = 12.345; // between sample points for h = 0.1 s and h = 0.25 s

const CURVES: readonly Curve[] = [
  { name: 'constant 300 W', powerW: () => 300, energyJ: (t) => 300 * t, m1: 0, m2: 0 },
  { name: 'ramp 100 → 400 W over 60 s', powerW: (t) => 100 + 5 * t, energyJ: (t) => 100 * t + 2.5 * t * t, m1: 5, m2: 0 },
  {
    name: 'sine 250 ± 150 W, 7 s period',
    powerW: (t) => 250 + 150 * Math.sin(OMEGA * t),
    energyJ: (t) => 250 * t + (150 / OMEGA) * (1 - Math.cos(OMEGA * t)),
    m1: 150 * OMEGA,
    m2: 150 * OMEGA * OMEGA,
  },
  {
    name: 'step 100 → 400 W at 12.345 s',
    powerW: (t) => (t < STEP_AT_S ? 100 : 400),
    energyJ: (t) => (t < STEP_AT_S ? 100 * t : 100 * STEP_AT_S + 400 * (t - STEP_AT_S)),
    m1: 0,
    m2: 0,
    step: { atS: STEP_AT_S, deltaW: 300 },
  },
];

const RUN_MS = 60_000;

async function runCurves(intervalMs: number) {
  const clock = createFakeClock(0);
  const gaugeSensor = createFakeSensor({
    clock, name: 'nvidia-smi',
    devices: CURVES.map((c, i) => ({ id: `gauge${i}`, powerW: (tMs: number) => c.powerW(tMs / 1000) })),
  });
  const counterSensor = createFakeSensor({
    clock, name: 'rapl',
    devices: CURVES.map((c, i) => ({ id: `counter${i}`, kind: 'cpu' as const, energyJ: (tMs: number) => c.energyJ(tMs / 1000) })),
  });
  const timeline = createEnergyTimeline({ devices: [...gaugeSensor.devices(), ...counterSensor.devices()] });
  const sampler = createSampler({ sensors: [gaugeSensor, counterSensor], timeline, clock, logger: silentLogger, intervalMs: () => intervalMs });
  sampler.start();
  // The reads at t = 0 settle in promise callbacks; let them before the first timer fires.
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  await clock.advanceAsync(RUN_MS);
  await sampler.stop();
  return { timeline, sampler };
}

/** Deterministic pseudo-random query windows inside the run (an LCG, so failures reproduce). */
function windows(count: number): Array<[number, number]> {
  let s = 12345;
  const next = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const out: Array<[number, number]> = [[0, RUN_MS], [1000, 59_000], [1234.5, 45_678.9], [30_000.05, 30_000.07]];
  for (let i = 0; i < count; i++) {
    const a = next() * RUN_MS;
    const b = next() * RUN_MS;
    out.push(a < b ? [a, b] : [b, a]);
  }
  return out;
}

const onGrid = (tMs: number, hMs: number) => Math.abs(tMs / hMs - Math.round(tMs / hMs)) < 1e-9;

/** The bound derived in the header for one query window. */
function bound(c: Curve, kind: 'gauge' | 'counter', t0Ms: number, t1Ms: number, hMs: number): number {
  const h = hMs / 1000;
  const L = (t1Ms - t0Ms) / 1000;
  const ends = (onGrid(t0Ms, hMs) ? 0 : 1) + (onGrid(t1Ms, hMs) ? 0 : 1);
  let b = (ends * h * h * c.m1) / 8;
  if (kind === 'gauge') b += ((L + 2 * h) * h * h * c.m2) / 12;
  if (c.step) {
    // The sample interval holding the step, and which ends of the query fall inside it.
    const lo = Math.floor((c.step.atS * 1000) / hMs) * hMs;
    const hi = lo + hMs;
    const inside = (t: number) => t > lo && t < hi;
    const dW = Math.abs(c.step.deltaW);
    if (t0Ms < hi && t1Ms > lo) {
      if (kind === 'gauge') b += (dW * h) / 2;
      b += ((inside(t0Ms) ? 1 : 0) + (inside(t1Ms) ? 1 : 0)) * (dW * h) / 4;
    }
  }
  return b + 1e-9 * Math.abs(c.energyJ(t1Ms / 1000) - c.energyJ(t0Ms / 1000)) + 1e-9;
}

describe.each([100, 250])('analytic power curves sampled every %i ms (fake clock, 60 s)', (hMs) => {
  it('samples on cadence: one point per interval over the whole run', async () => {
    const { timeline, sampler } = await runCurves(hMs);
    expect(sampler.stats()).toMatchObject({ overruns: 0, errors: 0 });
    expect(timeline.series('gauge0')!.pointCount()).toBe(RUN_MS / hMs + 1);
    expect(timeline.coveredUntilMs()).toBe(RUN_MS);
    expect(timeline.dropped()).toMatchObject({ out_of_order: 0, unknown_device: 0, non_finite: 0 });
  });

  for (const [i, c] of CURVES.entries()) {
    it(`${c.name}: energyBetween is within the derived bound, for gauge and counter`, async () => {
      const { timeline } = await runCurves(hMs);
      let worstGauge = 0;
      for (const [t0, t1] of windows(300)) {
        const exact = c.energyJ(t1 / 1000) - c.energyJ(t0 / 1000);
        for (const kind of ['gauge', 'counter'] as const) {
          const got = timeline.energyBetween(`${kind}${i}`, t0, t1);
          expect(got, `${kind} [${t0}, ${t1}]`).toBeDefined();
          const err = Math.abs(got! - exact);
          expect(err, `${kind} [${t0}, ${t1}] exact=${exact} got=${got}`).toBeLessThanOrEqual(bound(c, kind, t0, t1, hMs));
          if (kind === 'gauge') worstGauge = Math.max(worstGauge, err);
        }
      }
      if (c.m1 === 0 && c.m2 === 0 && !c.step) expect(worstGauge).toBeLessThan(1e-6); // constant: exact
    });
  }

  it('ramp: the trapezoid is exact at sample points (a rectangle rule would be ~h/2·ΔP off)', async () => {
    const { timeline } = await runCurves(hMs);
    const ramp = CURVES[1]!;
    const exact = ramp.energyJ(50) - ramp.energyJ(10);
    expect(timeline.energyBetween('gauge1', 10_000, 50_000)).toBeCloseTo(exact, 6);
    expect(timeline.energyBetween('counter1', 10_000, 50_000)).toBeCloseTo(exact, 6);
  });

  it('interpolates inside a sample interval: constant power is exact anywhere, a counter is linear between points', async () => {
    const { timeline } = await runCurves(hMs);
    const mid = 20_000 + hMs * 0.3;
    expect(timeline.energyBetween('gauge0', 20_000, mid)).toBeCloseTo((300 * hMs * 0.3) / 1000, 9);
    const s = timeline.series('counter2')!;
    const a = s.energyAt(20_000)!;
    const b = s.energyAt(20_000 + hMs)!;
    expect(s.energyAt(mid)).toBeCloseTo(a + 0.3 * (b - a), 9);
    expect(s.pointTimesBetween(20_000, 20_000 + 3 * hMs)).toEqual([20_000 + hMs, 20_000 + 2 * hMs]);
  });

  it('latest power: the gauge value, and ΔE/Δt of the last interval for a counter', async () => {
    const { timeline } = await runCurves(hMs);
    const sine = CURVES[2]!;
    const t = RUN_MS / 1000;
    const h = hMs / 1000;
    expect(timeline.series('gauge2')!.latestPowerW()).toBeCloseTo(sine.powerW(t), 9);
    expect(timeline.series('counter2')!.latestPowerW()).toBeCloseTo((sine.energyJ(t) - sine.energyJ(t - h)) / h, 6);
  });
});
