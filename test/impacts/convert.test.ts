import { describe, expect, it } from 'vitest';
import { computeImpacts, embodiedGrams, toRecordFactors } from '../../src/impacts/convert.js';

const f = { gridGCo2ePerKWh: 400, pue: 1.5, wue: 0.5, ewif: 2 };

describe('computeImpacts (docs/design.md#impacts)', () => {
  it('1 kWh of IT energy: CO2e from facility kWh, water = IT×WUE + facility×EWIF (hand computed)', () => {
    const r = computeImpacts(3.6e6, f);
    // facility = 1 × 1.5 = 1.5 kWh; CO2e = 1.5 × 400 = 600 g
    expect(r.co2eGrams).toBeCloseTo(600, 12);
    // on-site = 1 kWh × 0.5 = 0.5 L; off-site = 1.5 kWh × 2 = 3 L
    expect(r.waterLiters.onsite).toBeCloseTo(0.5, 12);
    expect(r.waterLiters.offsite).toBeCloseTo(3, 12);
    expect(r.waterLiters.total).toBeCloseTo(3.5, 12);
  });

  it('applies PUE once: on-site water does not scale with PUE, off-site water and CO2e do', () => {
    const lowPue = computeImpacts(3.6e6, { ...f, pue: 1 });
    const highPue = computeImpacts(3.6e6, { ...f, pue: 2 });
    expect(highPue.waterLiters.onsite).toBe(lowPue.waterLiters.onsite); // the trap: IT kWh × WUE, not facility
    expect(highPue.waterLiters.offsite).toBeCloseTo(2 * lowPue.waterLiters.offsite, 12);
    expect(highPue.co2eGrams).toBeCloseTo(2 * lowPue.co2eGrams, 12);
    // A double-applied PUE would give 0.5 × 2 = 1 L on-site here.
    expect(highPue.waterLiters.onsite).not.toBeCloseTo(1, 6);
  });

  it('a typical request: 1,800 J on an AWS-like factor set (hand computed)', () => {
    // 1800 J = 0.0005 kWh IT; facility 0.000575 kWh (PUE 1.15)
    const r = computeImpacts(1800, { gridGCo2ePerKWh: 352, pue: 1.15, wue: 0.03, ewif: 1.4769 });
    expect(r.co2eGrams).toBeCloseTo(0.000575 * 352, 12); // 0.2024 g
    expect(r.waterLiters.onsite).toBeCloseTo(0.0005 * 0.03, 15);
    expect(r.waterLiters.offsite).toBeCloseTo(0.000575 * 1.4769, 15);
  });

  it('zero energy gives zero impacts (a real 0, not absent)', () => {
    const r = computeImpacts(0, f);
    expect(r).toEqual({ co2eGrams: 0, waterLiters: { onsite: 0, offsite: 0, total: 0 } });
  });
});

describe('embodiedGrams', () => {
  it('charges the share of the lifetime: 3,700 kg over 5 years, one day of use (hand computed)', () => {
    expect(embodiedGrams(3700, 5, 86_400_000)).toBeCloseTo(3_700_000 / (5 * 365), 9); // ≈ 2027.4 g
  });
  it('a full lifetime charges the whole embodied CO2e', () => {
    expect(embodiedGrams(150, 4, 4 * 365 * 86_400_000)).toBeCloseTo(150_000, 6);
  });
  it('a lifetime of 0 is not silently 0 g', () => {
    expect(embodiedGrams(150, 0, 1000)).toBeNaN();
  });
});

describe('toRecordFactors', () => {
  it('keeps exactly the record fields of the contract (docs/design.md)', () => {
    const r = toRecordFactors({ region: 'FR', gridGCo2ePerKWh: 44.18, pue: 1.56, wue: 0.55, ewif: 3.6737, source: 'static:ember', year: 2024, resolution: 'region' });
    expect(r).toEqual({ region: 'FR', gridGCo2ePerKWh: 44.18, pue: 1.56, wue: 0.55, ewif: 3.6737, source: 'static:ember' });
  });
});
