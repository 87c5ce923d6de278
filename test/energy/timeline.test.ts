import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/logger.js';
import { createEnergyTimeline, DEFAULT_TIMELINE_CAPACITY } from '../../src/energy/timeline.js';
import type { DeviceInfo, Reading } from '../../src/sensors/types.js';

const dev = (id: string, method: DeviceInfo['method'] = 'integrated'): DeviceInfo => ({
  id, kind: 'gpu', method, sensor: 'simulated', name: id,
});

const gauge = (device: string, tMs: number, powerW: number): Reading => ({ device, tMs, powerW });
const counter = (device: string, tMs: number, energyJ: number): Reading => ({ device, tMs, energyJ });

describe('energy timeline: gauges', () => {
  it('starts a gauge series at 0 J and integrates trapezoids between readings', () => {
    const tl = createEnergyTimeline({ devices: [dev('g')] });
    tl.append(gauge('g', 0, 100));
    expect(tl.series('g')!.totalJ()).toBe(0);
    tl.append(gauge('g', 1000, 300)); // (100 + 300) / 2 W × 1 s = 200 J
    tl.append(gauge('g', 3000, 300)); // 300 W × 2 s = 600 J
    const s = tl.series('g')!;
    expect(s.totalJ()).toBe(800);
    expect(s.energyAt(0)).toBe(0);
    expect(s.energyAt(1000)).toBe(200);
    expect(s.energyAt(3000)).toBe(800);
    expect(s.latestPowerW()).toBe(300);
    expect(s.pointCount()).toBe(3);
  });

  it('interpolates linearly inside a sample interval (constant power over it)', () => {
    const tl = createEnergyTimeline({ devices: [dev('g')] });
    tl.append(gauge('g', 0, 100));
    tl.append(gauge('g', 1000, 300));
    const s = tl.series('g')!;
    expect(s.energyAt(250)).toBeCloseTo(50, 12); // mean power 200 W × 0.25 s
    expect(s.energyAt(500)).toBeCloseTo(100, 12);
    expect(tl.energyBetween('g', 250, 750)).toBeCloseTo(100, 12);
  });

  it('answers undefined before the oldest point, after the newest, and with no points', () => {
    const tl = createEnergyTimeline({ devices: [dev('g'), dev('empty')] });
    tl.append(gauge('g', 1000, 100));
    tl.append(gauge('g', 2000, 100));
    const s = tl.series('g')!;
    expect(s.energyAt(999.999)).toBeUndefined();
    expect(s.energyAt(2000.001)).toBeUndefined();
    expect(s.energyAt(Number.NaN)).toBeUndefined();
    expect(tl.energyBetween('g', 500, 1500)).toBeUndefined();
    expect(tl.energyBetween('g', 1500, 2500)).toBeUndefined();
    expect(tl.energyBetween('g', 1000, 2000)).toBe(100);
    expect(tl.energyBetween('g', 1500, 1500)).toBe(0);
    expect(tl.energyBetween('g', 1800, 1200)).toBeUndefined(); // reversed range
    expect(tl.energyBetween('empty', 1000, 2000)).toBeUndefined();
    expect(tl.energyBetween('nope', 1000, 2000)).toBeUndefined();
    expect(tl.series('empty')!.totalJ()).toBe(0);
    expect(tl.series('empty')!.latestPowerW()).toBeUndefined();
    expect(tl.series('empty')!.coveredUntilMs()).toBeUndefined();
    expect(tl.series('empty')!.retainedFromMs()).toBeUndefined();
  });

  it('a single point covers only its own instant', () => {
    const tl = createEnergyTimeline({ devices: [dev('g')] });
    tl.append(gauge('g', 500, 42));
    expect(tl.series('g')!.energyAt(500)).toBe(0);
    expect(tl.energyBetween('g', 500, 500)).toBe(0);
    expect(tl.energyBetween('g', 500, 501)).toBeUndefined();
    expect(tl.series('g')!.latestPowerW()).toBe(42);
  });

  it('a real 0 W gauge is kept as 0, not treated as absent', () => {
    const tl = createEnergyTimeline({ devices: [dev('g')] });
    tl.append(gauge('g', 0, 0));
    tl.append(gauge('g', 1000, 0));
    expect(tl.series('g')!.latestPowerW()).toBe(0);
    expect(tl.series('g')!.pointCount()).toBe(2);
    expect(tl.energyBetween('g', 0, 1000)).toBe(0);
  });
});

describe('energy timeline: counters', () => {
  it('stores counter readings as given and reports power over the last interval', () => {
    const tl = createEnergyTimeline({ devices: [dev('c', 'counter')] });
    tl.append(counter('c', 0, 1000));
    expect(tl.series('c')!.latestPowerW()).toBeUndefined(); // one reading: no interval yet
    tl.append(counter('c', 2000, 1500));
    const s = tl.series('c')!;
    expect(s.totalJ()).toBe(1500);
    expect(s.energyAt(0)).toBe(1000);
    expect(s.energyAt(1000)).toBe(1250);
    expect(s.latestPowerW()).toBe(250); // 500 J / 2 s
    expect(tl.energyBetween('c', 500, 1500)).toBe(250);
  });

  it('drops and counts a counter that goes down, keeping the series monotone', () => {
    const tl = createEnergyTimeline({ devices: [dev('c', 'counter')] });
    tl.append(counter('c', 0, 100));
    tl.append(counter('c', 1000, 200));
    tl.append(counter('c', 2000, 150));
    expect(tl.dropped().counter_decrease).toBe(1);
    expect(tl.series('c')!.totalJ()).toBe(200);
    expect(tl.series('c')!.coveredUntilMs()).toBe(1000);
    tl.append(counter('c', 3000, 260));
    expect(tl.series('c')!.totalJ()).toBe(260);
    expect(tl.series('c')!.latestPowerW()).toBeCloseTo(30, 12); // 60 J over 2 s since the last accepted point
  });

  it('keeps one continuous series when a device switches from gauge to counter and back', () => {
    const tl = createEnergyTimeline({ devices: [dev('x')] });
    tl.append(gauge('x', 0, 100));
    tl.append(gauge('x', 1000, 100)); // 100 J
    tl.append(counter('x', 2000, 5000)); // no power given: interval integrated at 100 W → 200 J
    expect(tl.series('x')!.totalJ()).toBeCloseTo(200, 12);
    tl.append(counter('x', 3000, 5300)); // +300 J from the counter
    expect(tl.series('x')!.totalJ()).toBeCloseTo(500, 12);
    expect(tl.series('x')!.latestPowerW()).toBeCloseTo(300, 12);
    tl.append(gauge('x', 4000, 100)); // trapezoid from 300 W (last counter interval) to 100 W → 200 J
    expect(tl.series('x')!.totalJ()).toBeCloseTo(700, 12);
    expect(tl.dropped().counter_decrease).toBe(0);
  });
});

describe('energy timeline: bad readings are dropped and counted, never thrown', () => {
  it('counts out-of-order, unknown-device, non-finite and negative readings by reason', () => {
    const lines: string[] = [];
    const tl = createEnergyTimeline({
      devices: [dev('g'), dev('c', 'counter')],
      logger: createLogger({ level: 'warn', write: (l) => lines.push(l), nowMs: () => 0 }),
    });
    tl.append(gauge('g', 1000, 100));
    tl.append(gauge('g', 2000, 100));
    tl.append(counter('c', 1000, 5));
    const bad: Reading[] = [
      gauge('g', 2000, 100), // same time as the newest
      gauge('g', 1500, 100), // older
      gauge('ghost', 3000, 100),
      gauge('g', Number.NaN, 100),
      gauge('g', 3000, Number.NaN),
      gauge('g', 3000, Number.POSITIVE_INFINITY),
      counter('c', 2000, Number.NaN),
      counter('c', Number.POSITIVE_INFINITY, 10),
      { device: 'c', tMs: 2000, energyJ: 10, powerW: Number.NaN },
      gauge('g', 3000, -5),
    ];
    expect(() => bad.forEach((r) => tl.append(r))).not.toThrow();
    expect(tl.dropped()).toEqual({
      out_of_order: 2, unknown_device: 1, non_finite: 6, counter_decrease: 0, negative_power: 1,
    });
    expect(tl.series('g')!.pointCount()).toBe(2);
    expect(tl.series('g')!.totalJ()).toBe(100);
    expect(tl.series('c')!.pointCount()).toBe(1);
    // Logged, but rate-limited: one line per reason however many drops.
    tl.append(gauge('ghost', 4000, 1));
    expect(lines.filter((l) => l.includes('unknown_device'))).toHaveLength(1);
  });

  it('dropped() lists every reason with 0 at first and returns a copy', () => {
    const tl = createEnergyTimeline({ devices: [dev('g')] });
    const d = tl.dropped() as Record<string, number>;
    expect(d).toEqual({ out_of_order: 0, unknown_device: 0, non_finite: 0, counter_decrease: 0, negative_power: 0 });
    d.out_of_order = 99;
    expect(tl.dropped().out_of_order).toBe(0);
  });

  it('rejects a bad capacity or duplicate device ids at construction', () => {
    expect(() => createEnergyTimeline({ devices: [dev('g')], capacity: 1 })).toThrow(/capacity/);
    expect(() => createEnergyTimeline({ devices: [dev('g')], capacity: 10.5 })).toThrow(/capacity/);
    expect(() => createEnergyTimeline({ devices: [dev('g'), dev('g')] })).toThrow(/twice/);
    expect(DEFAULT_TIMELINE_CAPACITY).toBe(36_000);
  });
});

describe('energy timeline: queries for the ledger and readers', () => {
  it('pointTimesBetween returns the retained point times strictly inside the range', () => {
    const tl = createEnergyTimeline({ devices: [dev('g')] });
    for (const t of [0, 100, 200, 300, 400]) tl.append(gauge('g', t, 10));
    const s = tl.series('g')!;
    expect(s.pointTimesBetween(100, 400)).toEqual([200, 300]);
    expect(s.pointTimesBetween(50, 250)).toEqual([100, 200]);
    expect(s.pointTimesBetween(-100, 1000)).toEqual([0, 100, 200, 300, 400]);
    expect(s.pointTimesBetween(100, 100)).toEqual([]);
    expect(s.pointTimesBetween(300, 100)).toEqual([]);
  });

  it('coveredUntilMs is the earliest newest point over the devices asked', () => {
    const tl = createEnergyTimeline({ devices: [dev('a'), dev('b'), dev('c')] });
    expect(tl.coveredUntilMs()).toBeUndefined();
    tl.append(gauge('a', 0, 1));
    tl.append(gauge('a', 500, 1));
    tl.append(gauge('b', 300, 1));
    expect(tl.coveredUntilMs()).toBeUndefined(); // c has nothing yet
    expect(tl.coveredUntilMs(['a', 'b'])).toBe(300);
    expect(tl.coveredUntilMs(['a'])).toBe(500);
    expect(tl.coveredUntilMs(['a', 'ghost'])).toBeUndefined();
    expect(tl.coveredUntilMs([])).toBeUndefined();
    tl.append(gauge('c', 400, 1));
    expect(tl.coveredUntilMs()).toBe(300);
  });

  it('snapshot() is a frozen copy that later appends do not change', () => {
    const tl = createEnergyTimeline({ devices: [dev('g'), dev('c', 'counter'), dev('idle')] });
    tl.append(gauge('g', 0, 100));
    tl.append(gauge('g', 1000, 100));
    tl.append(counter('c', 0, 10));
    tl.append(counter('c', 1000, 60));
    const snap = tl.snapshot();
    expect(snap).toEqual([
      { device: dev('g'), powerW: 100, energyJ: 100, lastSampleMs: 1000 },
      { device: dev('c', 'counter'), powerW: 50, energyJ: 60, lastSampleMs: 1000 },
      { device: dev('idle'), powerW: undefined, energyJ: 0, lastSampleMs: undefined },
    ]);
    tl.append(gauge('g', 2000, 300));
    expect(snap[0]!.energyJ).toBe(100);
    expect(Object.isFrozen(snap)).toBe(true);
    expect(Object.isFrozen(snap[0])).toBe(true);
    expect(tl.snapshot()[0]!.energyJ).toBe(300);
    expect(tl.devices().map((d) => d.id)).toEqual(['g', 'c', 'idle']);
  });
});

describe('energy timeline: bounded memory (ring buffer)', () => {
  it('wrap-around keeps the newest points; evicted ranges answer undefined; the total keeps growing', () => {
    const tl = createEnergyTimeline({ devices: [dev('g')], capacity: 5 });
    for (let i = 0; i <= 11; i++) tl.append(gauge('g', i * 1000, 100)); // 12 points, 100 W
    const s = tl.series('g')!;
    expect(s.pointCount()).toBe(5);
    expect(s.retainedFromMs()).toBe(7000);
    expect(s.coveredUntilMs()).toBe(11_000);
    expect(s.totalJ()).toBe(1100);
    expect(s.energyAt(7000)).toBe(700);
    expect(s.energyAt(6999)).toBeUndefined();
    expect(tl.energyBetween('g', 7000, 11_000)).toBe(400);
    expect(tl.energyBetween('g', 7500, 10_250)).toBeCloseTo(275, 9);
    expect(tl.energyBetween('g', 3000, 11_000)).toBeUndefined();
    expect(s.pointTimesBetween(0, 20_000)).toEqual([7000, 8000, 9000, 10_000, 11_000]);
  });

  it('appending far more points than capacity keeps the retained count at capacity (memory stays bounded)', () => {
    const capacity = 1000;
    const tl = createEnergyTimeline({ devices: [dev('g'), dev('c', 'counter')], capacity });
    const n = 500_000;
    for (let i = 0; i < n; i++) {
      tl.append(gauge('g', i * 100, 250));
      tl.append(counter('c', i * 100, i * 10));
      if (i === capacity * 3) {
        expect(tl.series('g')!.pointCount()).toBe(capacity);
      }
    }
    const g = tl.series('g')!;
    const c = tl.series('c')!;
    expect(g.pointCount()).toBe(capacity);
    expect(c.pointCount()).toBe(capacity);
    const last = (n - 1) * 100;
    expect(g.retainedFromMs()).toBe(last - (capacity - 1) * 100);
    // 250 W for (n − 1) × 0.1 s: the cumulative total is not lost with the evicted points.
    expect(g.totalJ()).toBeCloseTo(250 * (n - 1) * 0.1, 6);
    expect(tl.energyBetween('g', last - 10_000, last)).toBeCloseTo(2500, 6);
    expect(tl.energyBetween('c', last - 10_000, last)).toBe(1000);
    expect(tl.energyBetween('g', 0, last)).toBeUndefined();
    expect(c.latestPowerW()).toBeCloseTo(100, 9);
  });
});

describe('energy timeline: properties', () => {
  it('energyBetween is additive and equals the trapezoid sum at sample points (random irregular gauges)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ gapMs: fc.double({ min: 0.5, max: 500, noNaN: true }), powerW: fc.double({ min: 0, max: 1000, noNaN: true }) }), { minLength: 2, maxLength: 80 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (steps, u0, u1, u2) => {
          const tl = createEnergyTimeline({ devices: [dev('g')] });
          let t = 0;
          let cum = 0;
          let prev: { t: number; p: number } | undefined;
          for (const st of steps) {
            t += st.gapMs;
            tl.append(gauge('g', t, st.powerW));
            if (prev) cum += ((prev.p + st.powerW) / 2) * ((t - prev.t) / 1000);
            prev = { t, p: st.powerW };
          }
          const first = steps[0]!.gapMs;
          const s = tl.series('g')!;
          expect(s.totalJ()).toBeCloseTo(cum, 6);
          const [a, b, c] = [u0, u1, u2].map((u) => first + u * (t - first)).sort((x, y) => x - y) as [number, number, number];
          const ab = tl.energyBetween('g', a, b)!;
          const bc = tl.energyBetween('g', b, c)!;
          const ac = tl.energyBetween('g', a, c)!;
          expect(ab).toBeGreaterThanOrEqual(0);
          expect(Math.abs(ab + bc - ac)).toBeLessThanOrEqual(1e-9 * Math.max(1, ac));
          expect(tl.energyBetween('g', first, t)).toBeCloseTo(cum, 6);
        },
      ),
    );
  });
});
