/**
 * The text of `inferwatt project`: one quantity a line, figures to four significant digits (whole tonnes,
 * people and liters where they reach the thousands), the origin of each input on its own line below it.
 */
import type { ProjectionInputs, ProjectionResult } from '../impacts/projection.js';

/** Four significant digits, thousands separated, no trailing zeros: 6,229 · 622.9 · 2.19 · 10,950. */
export function sig(x: number, digits = 4): string {
  if (!Number.isFinite(x)) return String(x);
  return Number(x.toPrecision(digits)).toLocaleString('en-US', { maximumFractionDigits: 12 });
}

/** A count in words past a million: 38.33 trillion, 105 billion, 4.304 million, 2,190. */
export function count(x: number): string {
  const a = Math.abs(x);
  if (a >= 1e12) return `${sig(x / 1e12)} trillion`;
  if (a >= 1e9) return `${sig(x / 1e9)} billion`;
  if (a >= 1e6) return `${sig(x / 1e6)} million`;
  return sig(x);
}

export function energyKWh(kwh: number): string {
  if (kwh >= 1e9) return `${sig(kwh / 1e9)} TWh`;
  if (kwh >= 1e6) return `${sig(kwh / 1e6)} GWh`;
  if (kwh >= 1e3) return `${sig(kwh / 1e3)} MWh`;
  if (kwh >= 1) return `${sig(kwh)} kWh`;
  return `${sig(kwh * 1000)} Wh`;
}

/** Tonnes of CO2e, in kg or g below a tonne. */
export function co2e(t: number): string {
  if (t === 0 || Math.abs(t) >= 1) return `${count(t)} tCO2e`;
  if (Math.abs(t) >= 1e-3) return `${sig(t * 1e3)} kgCO2e`;
  return `${sig(t * 1e6)} gCO2e`;
}

const liters = (l: number): string => `${count(l)} L`;
/** people → people's, Danes → Danes'. */
const possessive = (who: string): string => (who.endsWith('s') ? `${who}'` : `${who}'s`);
const plural = (n: number, one: string, many: string): string => `${sig(n)} ${n === 1 ? one : many}`;

export interface InputSources {
  gridGCo2ePerKWh: string;
  pue: string;
  water: string;
}

export function renderProjection(i: ProjectionInputs, r: ProjectionResult, src: InputSources, title: string): string {
  const rows: [string, string][] = [
    ['queries per day', `${count(r.queriesPerDay)} (${count(i.users)} users × ${sig(i.queriesPerUserPerDay)} a day)`],
    ['queries per year', count(r.queriesPerYear)],
    ['energy per query', `${sig(r.energy.itWhPerQuery)} Wh IT, ${sig(r.energy.facilityWhPerQuery)} Wh facility`],
    ['  from', r.energy.origin],
    ['IT energy', `${energyKWh(r.energy.itKWhPerYear)} a year`],
    ['facility energy', `${energyKWh(r.energy.facilityKWhPerYear)} a year at PUE ${i.pue}`],
    ['  PUE from', src.pue],
    ['grid intensity', `${i.gridGCo2ePerKWh} gCO2e/kWh`],
    ['  from', src.gridGCo2ePerKWh],
    ['operational', `${co2e(r.co2eTonnes.operational)} a year`],
    ['embodied', r.co2eTonnes.embodied === null || !i.embodied
      ? 'not included: give --server-embodied-kg and --server-life-years'
      : `${co2e(r.co2eTonnes.embodied)} a year: ${Math.round(r.servers ?? 0).toLocaleString('en-US')} servers × ${sig(i.embodied.serverKgCo2e)} kgCO2e over ${sig(i.embodied.serverLifeYears)} years`],
    ['training', r.co2eTonnes.training === null || !i.training
      ? 'not included: give --training-kwh'
      : `${co2e(r.co2eTonnes.training)} a year: ${plural(i.training.modelsPerYear, 'model', 'models')} × ${i.training.kWhPerModel.toLocaleString('en-US')} kWh`],
    ['total', `${co2e(r.co2eTonnes.total)} a year, ${sig(r.co2eGramsPerQuery.total)} gCO2e a query`],
    ['water', `${liters(r.waterLiters.perYear)} a year, ${sig(r.waterLiters.perQuery * 1000, 3)} mL a query`],
    ['  from', src.water],
  ];
  if (r.waterLiters.onsitePerYear !== null && r.waterLiters.offsitePerYear !== null) {
    rows.push(['  on-site / off-site', `${liters(r.waterLiters.onsitePerYear)} / ${liters(r.waterLiters.offsitePerYear)}`]);
  }
  rows.push(
    ['share of global', `${sig(r.comparisons.shareOfGlobal * 100, 3)} % of ${sig(r.comparisons.globalEmissionsTonnes / 1e9)} GtCO2e a year`],
    ['person-equivalents', `${count(r.comparisons.personEquivalents)} ${possessive(r.comparisons.perPersonWho)} yearly emissions`],
    ['  at', r.comparisons.perPersonSource],
  );
  return `${title}\n${rows.map(([k, v]) => `  ${k.padEnd(22)}${v}\n`).join('')}`;
}
