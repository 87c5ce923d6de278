/**
 * Where a report's sources pour their increments (a counter's increase between two samples, or one
 * record), each with the time it was counted and the factors in force then. It sums them per group
 * and host, converts energy with those factors (facility, water, idle CO2e, market-based CO2e), and
 * bins energy and CO2e over time for the charts. Sources know where numbers come from; this knows
 * what they mean; build-report.ts shares idle and embodied out and derives the ratios.
 *
 * The location-based CO2e of attributed energy is never recomputed here: it is the agents' own CO2e
 * (the counter, or each record's co2eGrams), converted when each request finished with the grid
 * intensity of that moment. Idle energy has no CO2e counter, so it is converted here at the intensity
 * in force at each of its samples (per factor period when live intensity was on).
 */
import { joulesToKWh } from '../core/units.js';
import type { FactorsInForce } from '../impacts/types.js';
import type { MarketFactorRow, MarketLookup } from './market-factors.js';
import { ABSENT_LABEL, type GroupKey } from './types.js';

/** The factors an agent had in force at a moment (inferwatt_factor_info and the grid intensity, or a record's factors). */
export type { FactorsInForce } from '../impacts/types.js';

export type SeriesLabels = Partial<Record<GroupKey, string>>;

/** Energy and what it became: facility energy, water, location- and market-based CO2e. */
export interface EnergySums {
  j: number;
  facilityJ: number;
  locationG: number;
  onsiteL: number;
  offsiteL: number;
  marketG: number;
  /** Facility energy that no contractual factor covered. */
  marketMissingJ: number;
}

export interface Cell {
  group: Record<GroupKey, string>;
  /** The host whose idle energy and embodied share this cell takes part in. */
  host: string;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  attributed: EnergySums;
  /** Idle energy the source already tied to this group (a record's amortized idle share). */
  idle: EnergySums;
}

export interface FactorUseSums {
  f: FactorsInForce;
  /** Facility J converted with it, and the grams it gave (for the energy-weighted mean intensity). */
  facilityJ: number;
  grams: number;
  minIntensity: number;
  maxIntensity: number;
  firstMs: number;
  lastMs: number;
}

export interface Measurements {
  cells: Cell[];
  /** Per host, the idle energy to share over its cells in proportion to their attributed energy. */
  hostIdle: Map<string, EnergySums>;
  factorUses: FactorUseSums[];
  marketUses: { row: MarketFactorRow; facilityJ: number; firstMs: number; lastMs: number }[];
  /** Regions and times with energy that no contractual factor covered. */
  marketGaps: { region: string; firstMs: number; lastMs: number; facilityJ: number }[];
  timeline: { stepMs: number; startMs: number; attributedJ: Float64Array; idleJ: Float64Array; co2eGrams: Float64Array };
}

export interface ReportAccumulator {
  requests(tMs: number, labels: SeriesLabels, host: string, n: number): void;
  tokens(tMs: number, labels: SeriesLabels, host: string, type: 'prompt' | 'completion', n: number): void;
  /** Attributed IT energy, converted with the factors in force. */
  attributed(tMs: number, labels: SeriesLabels, host: string, j: number, f: FactorsInForce): void;
  /** Location-based CO2e the agent computed for attributed energy (its counter or a record's). */
  co2e(tMs: number, labels: SeriesLabels, host: string, g: number): void;
  /** Idle IT energy of a host; with `labels`, already tied to that group (and its location CO2e given). */
  idle(tMs: number, host: string, j: number, f: FactorsInForce, direct?: { labels: SeriesLabels; locationG: number }): void;
  measurements(): Measurements;
}

const addAt = (a: Float64Array, i: number, v: number) => { a[i] = a[i]! + v; };

export const emptySums = (): EnergySums => ({ j: 0, facilityJ: 0, locationG: 0, onsiteL: 0, offsiteL: 0, marketG: 0, marketMissingJ: 0 });

export function createReportAccumulator(opts: { by: readonly GroupKey[]; fromMs: number; toMs: number; stepMs: number; market: MarketLookup }): ReportAccumulator {
  const { by, market } = opts;
  const cells = new Map<string, Cell>();
  const hostIdle = new Map<string, EnergySums>();
  const factorUses = new Map<string, FactorUseSums>();
  const marketUses = new Map<MarketFactorRow, { row: MarketFactorRow; facilityJ: number; firstMs: number; lastMs: number }>();
  const marketGaps = new Map<string, { region: string; firstMs: number; lastMs: number; facilityJ: number }>();
  const buckets = Math.max(1, Math.ceil((opts.toMs - opts.fromMs) / opts.stepMs));
  const tl = { stepMs: opts.stepMs, startMs: opts.fromMs, attributedJ: new Float64Array(buckets), idleJ: new Float64Array(buckets), co2eGrams: new Float64Array(buckets) };
  // Increments are counted at the end of the interval they cover, in (from, to]: `to` itself goes to the last bucket.
  const bucket = (tMs: number) => Math.min(buckets - 1, Math.max(0, Math.floor((tMs - opts.fromMs - 1e-6) / opts.stepMs)));

  const cell = (labels: SeriesLabels, host: string): Cell => {
    const values = by.map((k) => labels[k] ?? ABSENT_LABEL);
    const key = JSON.stringify([...values, host]);
    let c = cells.get(key);
    if (!c) {
      const group = Object.fromEntries(by.map((k, i) => [k, values[i]!])) as Record<GroupKey, string>;
      c = { group, host, requests: 0, promptTokens: 0, completionTokens: 0, attributed: emptySums(), idle: emptySums() };
      cells.set(key, c);
    }
    return c;
  };

  /**
   * Adds `j` of IT energy converted with `f` to `s` (facility, water, market-based CO2e) and returns its
   * location-based CO2e at f's intensity, which the caller adds or not (attributed CO2e comes from the agents).
   */
  const convert = (s: EnergySums, tMs: number, j: number, f: FactorsInForce): number => {
    const facilityJ = j * f.pue;
    s.j += j;
    s.facilityJ += facilityJ;
    s.onsiteL += joulesToKWh(j) * f.wue;
    s.offsiteL += joulesToKWh(facilityJ) * f.ewif;
    useFactor(f, tMs, facilityJ);
    if (market.configured) {
      const row = market.at(f.region, tMs);
      if (row) {
        s.marketG += joulesToKWh(facilityJ) * row.gCo2ePerKWh;
        const u = marketUses.get(row) ?? { row, facilityJ: 0, firstMs: tMs, lastMs: tMs };
        u.facilityJ += facilityJ; u.firstMs = Math.min(u.firstMs, tMs); u.lastMs = Math.max(u.lastMs, tMs);
        marketUses.set(row, u);
      } else if (facilityJ > 0) {
        s.marketMissingJ += facilityJ;
        const gap = marketGaps.get(f.region) ?? { region: f.region, firstMs: tMs, lastMs: tMs, facilityJ: 0 };
        gap.facilityJ += facilityJ; gap.firstMs = Math.min(gap.firstMs, tMs); gap.lastMs = Math.max(gap.lastMs, tMs);
        marketGaps.set(f.region, gap);
      }
    }
    return joulesToKWh(facilityJ) * f.gridGCo2ePerKWh;
  };

  const useFactor = (f: FactorsInForce, tMs: number, facilityJ: number) => {
    // One entry per region, source and static factors; a live intensity varies within it.
    const key = JSON.stringify([f.region, f.source, f.year, f.pue, f.wue, f.ewif, f.source.endsWith(':live') ? null : f.gridGCo2ePerKWh]);
    let u = factorUses.get(key);
    if (!u) factorUses.set(key, (u = { f, facilityJ: 0, grams: 0, minIntensity: f.gridGCo2ePerKWh, maxIntensity: f.gridGCo2ePerKWh, firstMs: tMs, lastMs: tMs }));
    u.facilityJ += facilityJ;
    u.grams += joulesToKWh(facilityJ) * f.gridGCo2ePerKWh;
    u.minIntensity = Math.min(u.minIntensity, f.gridGCo2ePerKWh);
    u.maxIntensity = Math.max(u.maxIntensity, f.gridGCo2ePerKWh);
    u.firstMs = Math.min(u.firstMs, tMs);
    u.lastMs = Math.max(u.lastMs, tMs);
  };

  return {
    requests(tMs, labels, host, n) { cell(labels, host).requests += n; },
    tokens(tMs, labels, host, type, n) {
      const c = cell(labels, host);
      if (type === 'prompt') c.promptTokens += n; else c.completionTokens += n;
    },
    attributed(tMs, labels, host, j, f) {
      convert(cell(labels, host).attributed, tMs, j, f);
      addAt(tl.attributedJ, bucket(tMs), j);
    },
    co2e(tMs, labels, host, g) {
      cell(labels, host).attributed.locationG += g;
      addAt(tl.co2eGrams, bucket(tMs), g);
    },
    idle(tMs, host, j, f, direct) {
      let s: EnergySums;
      if (direct) s = cell(direct.labels, host).idle;
      else {
        s = hostIdle.get(host) ?? emptySums();
        hostIdle.set(host, s);
      }
      const g = direct ? direct.locationG : convert(s, tMs, j, f);
      if (direct) convert(s, tMs, j, f);
      s.locationG += g;
      addAt(tl.idleJ, bucket(tMs), j);
      addAt(tl.co2eGrams, bucket(tMs), g);
    },
    measurements: () => ({
      cells: [...cells.values()],
      hostIdle,
      factorUses: [...factorUses.values()],
      marketUses: [...marketUses.values()],
      marketGaps: [...marketGaps.values()],
      timeline: tl,
    }),
  };
}
