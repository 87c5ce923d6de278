import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createZoneCounter } from '../../src/sensors/rapl-counter.js';

const MAX_UJ = 262143328850; // max_energy_range_uj of the recorded tree

describe('RAPL zone counter (property)', () => {
  it('any power schedule, with wraps: cumulative J equals the true energy, never decreases, and wraps are reported', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: MAX_UJ }),
      // (power W, dt ms): up to 1500 W for up to 2 s = 3 kJ per sample, far below one range (262 kJ), so at
      // most one wrap per sample — the only case a counter can resolve.
      fc.array(fc.tuple(fc.integer({ min: 0, max: 1500 }), fc.integer({ min: 1, max: 2000 })), { minLength: 1, maxLength: 300 }),
      (startUj, steps) => {
        const c = createZoneCounter({ maxEnergyRangeUj: MAX_UJ, maxPlausibleW: 2000 });
        let t = 0;
        let raw = startUj;
        let trueUj = 0;
        let wraps = 0;
        let reported = 0;
        let prevJ = c.update(raw, t).energyJ;
        expect(prevJ).toBe(0);
        for (const [powerW, dtMs] of steps) {
          const deltaUj = powerW * dtMs * 1000; // W × ms = mJ = 1000 µJ
          t += dtMs;
          trueUj += deltaUj;
          raw += deltaUj;
          if (raw > MAX_UJ) { raw -= MAX_UJ; wraps++; }
          const r = c.update(raw, t);
          if (r.wrapped) reported++;
          expect(r.dropped).toBeUndefined();
          expect(r.energyJ).toBeGreaterThanOrEqual(prevJ);
          prevJ = r.energyJ;
        }
        expect(prevJ).toBeCloseTo(trueUj / 1e6, 6);
        expect(reported).toBe(wraps);
      },
    ), { numRuns: 300, seed: 20260101 });
  });

  it('a failed read drops exactly the next delta; the one after counts again', () => {
    const c = createZoneCounter({ maxEnergyRangeUj: MAX_UJ, maxPlausibleW: 2000 });
    c.update(1_000_000, 0);
    c.markError();
    expect(c.update(9_000_000, 1000)).toEqual({ energyJ: 0, dropped: 'reset' });
    expect(c.update(10_000_000, 2000)).toEqual({ energyJ: 1 });
    expect(c.totalJ()).toBe(1);
  });

  it('a positive delta over a non-positive dt is implausible', () => {
    const c = createZoneCounter({ maxEnergyRangeUj: MAX_UJ, maxPlausibleW: 2000 });
    c.update(0, 1000);
    expect(c.update(5, 1000)).toEqual({ energyJ: 0, dropped: 'implausible' });
    expect(c.update(5, 1000)).toEqual({ energyJ: 0 }); // no change at the same instant is fine
  });
});
