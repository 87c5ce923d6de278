import { describe, expect, it } from 'vitest';
import { ARTICLE_QUERIES_PER_SERVER_PER_DAY, articleInputs } from '../../src/impacts/article.js';
import {
  checkProjectionInputs,
  PER_PERSON_TONNES,
  project,
  type ProjectionInputs,
} from '../../src/impacts/projection.js';

describe("project() with the article's assumptions", () => {
  const r = project(articleInputs());

  // Every expected figure below is computed by hand from the article's assumptions (src/impacts/article.ts):
  //   queries/day = 3.5e9 × 30 = 1.05e11; /year = × 365 = 3.8325e13
  //   queries per server per day = 195e6 / 3,617 = 53,912.08
  //   IT Wh/query = 6.5 kW × 0.75 × 24 h / 53,912.08 = 117,000 Wh × 3,617 / 195e6 = 2.1702 Wh
  //   facility Wh/query = 2.1702 × 1.14 = 2.474028 Wh
  it('yearly queries', () => {
    expect(r.queriesPerDay).toBe(1.05e11);
    expect(r.queriesPerYear).toBe(3.8325e13);
  });

  it('energy per query and per year', () => {
    expect(ARTICLE_QUERIES_PER_SERVER_PER_DAY).toBeCloseTo(53_912.08, 2);
    expect(r.energy.itWhPerQuery).toBeCloseTo(2.1702, 10);
    expect(r.energy.facilityWhPerQuery).toBeCloseTo(2.474028, 10);
    expect(r.energy.itKWhPerYear / 1e9).toBeCloseTo(83.172915, 6); // TWh IT
    expect(r.energy.facilityKWhPerYear / 1e9).toBeCloseTo(94.8171231, 6); // TWh facility
  });

  it('operational, embodied, training and total tCO2e', () => {
    // 94.8171231e9 kWh × 484 g = 45,891,487.6 t
    expect(r.co2eTonnes.operational).toBeCloseTo(45_891_487.58, 1);
    // servers = 1.05e11 / 53,912.08 = 1,947,615.38, not rounded up (the article keeps the fraction);
    // × 3,700 kg / 5 y = 1,441,235.38 t
    expect(r.servers).toBeCloseTo(1_947_615.38, 2);
    expect(r.co2eTonnes.embodied).toBeCloseTo(1_441_235.38, 2);
    // 10 models × 1,287,000 kWh × 484 g = 6,229.08 t
    expect(r.co2eTonnes.training).toBeCloseTo(6_229.08, 6);
    expect(r.co2eTonnes.total).toBeCloseTo(47_338_952.04, 1);
    expect(r.co2eGramsPerQuery.total).toBeCloseTo(1.23520, 4);
  });

  it('water: 10 mL × 3.8325e13 queries = 383.25 billion liters', () => {
    expect(r.waterLiters.perYear).toBeCloseTo(3.8325e11, -3);
    expect(r.waterLiters.perQuery).toBeCloseTo(0.01, 12);
    expect(r.waterLiters.onsitePerYear).toBeNull();
  });

  it("comparisons: share of 40 Gt, and person-equivalents in Danes at the article's 11 t each", () => {
    expect(r.comparisons.shareOfGlobal).toBeCloseTo(0.0011835, 6); // ≈ 0.12 %
    expect(r.comparisons.perPersonWho).toBe('Danes');
    expect(r.comparisons.personEquivalents).toBeCloseTo(4_303_541.09, 1);
  });

  it('without the article\'s comparison, person-equivalents are at the global average of 5.0 t', () => {
    const { perPerson: _, ...inputs } = articleInputs();
    expect(PER_PERSON_TONNES).toBe(5);
    expect(project(inputs).comparisons.personEquivalents).toBeCloseTo(47_338_952.04 / 5, 1);
  });
});

describe('project() on hand-computed cases', () => {
  const base: ProjectionInputs = {
    users: 1000,
    queriesPerUserPerDay: 10,
    energy: { kind: 'wh-per-query', itWhPerQuery: 1, origin: 'test' },
    pue: 1.5,
    gridGCo2ePerKWh: 400,
    water: { kind: 'factors', wue: 0.5, ewif: 2 },
  };

  it('1 Wh IT per query, 10,000 queries a day', () => {
    const r = project(base);
    expect(r.queriesPerYear).toBe(3_650_000);
    expect(r.energy.itKWhPerYear).toBeCloseTo(3650, 9);
    expect(r.energy.facilityKWhPerYear).toBeCloseTo(5475, 9);
    expect(r.co2eTonnes.operational).toBeCloseTo(2.19, 12); // 5475 kWh × 400 g = 2.19 t
    expect(r.co2eTonnes.embodied).toBeNull();
    expect(r.co2eTonnes.training).toBeNull();
    expect(r.co2eTonnes.total).toBeCloseTo(2.19, 12);
    // water: 3650 × 0.5 + 5475 × 2 = 1825 + 10950 = 12,775 L (PUE applied once)
    expect(r.waterLiters.onsitePerYear).toBeCloseTo(1825, 9);
    expect(r.waterLiters.offsitePerYear).toBeCloseTo(10950, 9);
    expect(r.waterLiters.perYear).toBeCloseTo(12775, 9);
    expect(r.waterLiters.perQuery * r.queriesPerYear).toBeCloseTo(12775, 6);
  });

  it('server-based energy: 1 kW × 50 % × 24 h over 1,200 queries = 10 Wh per query', () => {
    const r = project({ ...base, energy: { kind: 'server', serverPowerKW: 1, utilization: 0.5, queriesPerServerPerDay: 1200, origin: 'x' } });
    expect(r.energy.itWhPerQuery).toBeCloseTo(10, 12);
  });

  it('embodied: whole servers, spread over their life', () => {
    // 10,000 queries/day ÷ 3,000 per server → 4 servers; 4 × 1000 kg / 4 y = 1 t/y
    const r = project({ ...base, embodied: { serverKgCo2e: 1000, serverLifeYears: 4, queriesPerServerPerDay: 3000 } });
    expect(r.servers).toBe(4);
    expect(r.co2eTonnes.embodied).toBeCloseTo(1, 12);
    expect(r.co2eTonnes.total).toBeCloseTo(3.19, 12);
  });

  it('training: kWh per model × models per year × intensity', () => {
    const r = project({ ...base, training: { kWhPerModel: 10_000, modelsPerYear: 3 } });
    expect(r.co2eTonnes.training).toBeCloseTo(12, 12); // 30,000 kWh × 400 g
  });

  it('invalid inputs are all reported', () => {
    const problems = checkProjectionInputs({ ...base, users: -1, pue: 0.8, energy: { kind: 'server', serverPowerKW: 1, utilization: 1.5, queriesPerServerPerDay: 0, origin: 'x' } });
    expect(problems.join('\n')).toMatch(/users/);
    expect(problems.join('\n')).toMatch(/PUE must be ≥ 1/);
    expect(problems.join('\n')).toMatch(/utilization must be in \(0, 1\]/);
    expect(problems.join('\n')).toMatch(/queries per server per day/);
    expect(checkProjectionInputs(base)).toEqual([]);
  });
});
