/**
 * The scenario projection: what a year of generative-AI queries costs when billions of people
 * make them every day. Pure: the `inferwatt project` command gathers the inputs (flags, a running agent's
 * /api/summary, a records file, the factor tables) and prints what this returns.
 *
 *   queries/year          = users × queries per user per day × 365
 *   IT energy/query       = measured or given Wh, or server power × utilization × 24 h / queries per server per day
 *   facility energy       = IT energy × PUE
 *   operational CO2e      = facility kWh × grid intensity
 *   embodied CO2e/year    = servers × embodied kgCO2e / service life (servers = queries/day ÷ queries/server/day,
 *                           rounded up to whole servers unless asked not to)
 *   training CO2e/year    = training kWh per model × models per year × grid intensity (training energy is
 *                           taken as facility energy, as Patterson et al. 2021 report GPT-3's 1,287 MWh)
 *   water                 = mL per query, or IT kWh × WUE + facility kWh × EWIF (PUE applied once)
 */

export const DAYS_PER_YEAR = 365;
/** Global GHG emissions per year used for the share, ≈ 40 Gt CO2e (the article's figure, IEA 2021). */
export const GLOBAL_EMISSIONS_TONNES = 40e9;
/**
 * World population used for person-equivalents: 8.0 billion (UN DESA, "Day of Eight Billion",
 * 15 November 2022). 40 Gt / 8.0 billion = 5.0 tCO2e per person per year, the global average.
 */
export const WORLD_POPULATION = 8.0e9;
export const PER_PERSON_TONNES = GLOBAL_EMISSIONS_TONNES / WORLD_POPULATION;
export const PER_PERSON_SOURCE =
  'global average 5.0 tCO2e/person/year = 40 Gt CO2e ÷ 8.0 billion people (UN DESA, 15 Nov 2022)';

export type EnergyPerQuery =
  | { kind: 'wh-per-query'; itWhPerQuery: number; origin: string }
  | { kind: 'server'; serverPowerKW: number; utilization: number; queriesPerServerPerDay: number; origin: string };

export type WaterInput =
  | { kind: 'per-query'; mlPerQuery: number }
  | { kind: 'factors'; wue: number; ewif: number };

export interface ProjectionInputs {
  users: number;
  queriesPerUserPerDay: number;
  energy: EnergyPerQuery;
  pue: number;
  gridGCo2ePerKWh: number;
  water: WaterInput;
  /**
   * Embodied CO2e of the servers; needs queries per server per day to size the fleet. The fleet is rounded
   * up to whole servers unless `wholeServers` is false (the article scales a fleet linearly and keeps the
   * fraction).
   */
  embodied?: { serverKgCo2e: number; serverLifeYears: number; queriesPerServerPerDay: number; wholeServers?: boolean };
  training?: { kWhPerModel: number; modelsPerYear: number };
  /** Whose yearly emissions the person-equivalents count; default the global average (PER_PERSON_*). */
  perPerson?: PerPerson;
}

export interface PerPerson {
  tonnes: number;
  /** Plural, as in "9.5 million people's yearly emissions". */
  who: string;
  source: string;
}

export const GLOBAL_AVERAGE_PERSON: PerPerson = { tonnes: PER_PERSON_TONNES, who: 'people', source: PER_PERSON_SOURCE };

export interface ProjectionResult {
  queriesPerDay: number;
  queriesPerYear: number;
  energy: {
    itWhPerQuery: number;
    facilityWhPerQuery: number;
    itKWhPerYear: number;
    facilityKWhPerYear: number;
    origin: string;
  };
  servers: number | null;
  co2eTonnes: { operational: number; embodied: number | null; training: number | null; total: number };
  co2eGramsPerQuery: { operational: number; total: number };
  waterLiters: { perQuery: number; perYear: number; onsitePerYear: number | null; offsitePerYear: number | null };
  comparisons: {
    globalEmissionsTonnes: number;
    shareOfGlobal: number;
    perPersonTonnes: number;
    personEquivalents: number;
    /** Whose emissions the person-equivalents are (`people`, `Danes`). */
    perPersonWho: string;
    perPersonSource: string;
  };
}

/** Validates the inputs; returns every problem (empty when fine). */
export function checkProjectionInputs(i: ProjectionInputs): string[] {
  const p: string[] = [];
  const pos = (name: string, v: number, allowZero = false) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) p.push(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} number (got ${String(v)})`);
  };
  pos('users', i.users);
  pos('queries per user per day', i.queriesPerUserPerDay);
  if (i.energy.kind === 'wh-per-query') pos('Wh per query', i.energy.itWhPerQuery);
  else {
    pos('server power (kW)', i.energy.serverPowerKW);
    pos('queries per server per day', i.energy.queriesPerServerPerDay);
    if (!(i.energy.utilization > 0 && i.energy.utilization <= 1)) p.push(`utilization must be in (0, 1] (got ${i.energy.utilization})`);
  }
  if (!(i.pue >= 1)) p.push(`PUE must be ≥ 1 (got ${i.pue})`);
  pos('grid intensity (gCO2e/kWh)', i.gridGCo2ePerKWh, true);
  if (i.water.kind === 'per-query') pos('water per query (mL)', i.water.mlPerQuery, true);
  else { pos('WUE (L/kWh)', i.water.wue, true); pos('EWIF (L/kWh)', i.water.ewif, true); }
  if (i.embodied) {
    pos('server embodied kgCO2e', i.embodied.serverKgCo2e, true);
    pos('server life (years)', i.embodied.serverLifeYears);
    pos('queries per server per day', i.embodied.queriesPerServerPerDay);
  }
  if (i.training) { pos('training kWh per model', i.training.kWhPerModel, true); pos('models per year', i.training.modelsPerYear, true); }
  if (i.perPerson) pos('tCO2e per person', i.perPerson.tonnes);
  return p;
}

export function itWhPerQueryOf(e: EnergyPerQuery): number {
  if (e.kind === 'wh-per-query') return e.itWhPerQuery;
  return (e.serverPowerKW * 1000 * e.utilization * 24) / e.queriesPerServerPerDay;
}

export function project(i: ProjectionInputs): ProjectionResult {
  const queriesPerDay = i.users * i.queriesPerUserPerDay;
  const queriesPerYear = queriesPerDay * DAYS_PER_YEAR;
  const itWhPerQuery = itWhPerQueryOf(i.energy);
  const facilityWhPerQuery = itWhPerQuery * i.pue;
  const itKWhPerYear = (itWhPerQuery * queriesPerYear) / 1000;
  const facilityKWhPerYear = itKWhPerYear * i.pue;

  const operational = (facilityKWhPerYear * i.gridGCo2ePerKWh) / 1e6;
  let servers: number | null = null;
  let embodied: number | null = null;
  if (i.embodied) {
    const fleet = queriesPerDay / i.embodied.queriesPerServerPerDay;
    servers = i.embodied.wholeServers === false ? fleet : Math.ceil(fleet);
    embodied = (servers * i.embodied.serverKgCo2e) / i.embodied.serverLifeYears / 1000;
  }
  const training = i.training ? (i.training.kWhPerModel * i.training.modelsPerYear * i.gridGCo2ePerKWh) / 1e6 : null;
  const total = operational + (embodied ?? 0) + (training ?? 0);
  const perPerson = i.perPerson ?? GLOBAL_AVERAGE_PERSON;

  let perQueryL: number;
  let onsitePerYear: number | null = null;
  let offsitePerYear: number | null = null;
  if (i.water.kind === 'per-query') {
    perQueryL = i.water.mlPerQuery / 1000;
  } else {
    onsitePerYear = itKWhPerYear * i.water.wue;
    offsitePerYear = facilityKWhPerYear * i.water.ewif;
    perQueryL = (itWhPerQuery / 1000) * i.water.wue + (facilityWhPerQuery / 1000) * i.water.ewif;
  }

  return {
    queriesPerDay,
    queriesPerYear,
    energy: { itWhPerQuery, facilityWhPerQuery, itKWhPerYear, facilityKWhPerYear, origin: i.energy.origin },
    servers,
    co2eTonnes: { operational, embodied, training, total },
    co2eGramsPerQuery: { operational: (operational * 1e6) / queriesPerYear, total: (total * 1e6) / queriesPerYear },
    waterLiters: {
      perQuery: perQueryL,
      perYear: onsitePerYear !== null && offsitePerYear !== null ? onsitePerYear + offsitePerYear : perQueryL * queriesPerYear,
      onsitePerYear,
      offsitePerYear,
    },
    comparisons: {
      globalEmissionsTonnes: GLOBAL_EMISSIONS_TONNES,
      shareOfGlobal: total / GLOBAL_EMISSIONS_TONNES,
      perPersonTonnes: perPerson.tonnes,
      personEquivalents: total / perPerson.tonnes,
      perPersonWho: perPerson.who,
      perPersonSource: perPerson.source,
    },
  };
}
