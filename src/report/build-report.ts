/**
 * From the sums of a report's sources to the report (docs/report.md, "Definitions"): idle energy and
 * embodied emissions shared over the groups of each host in proportion to their attributed energy,
 * facility energy, CO2e, water, SCI and the intensities per query and per 1,000 tokens. Pure.
 *
 *   facility  = (attributed + idle) × PUE                      (per sample, with the PUE in force)
 *   location  = agents' CO2e of attributed + idle facility kWh × grid intensity in force
 *   market    = facility kWh × contractual factor in force     (null if some energy has none)
 *   embodied  = host kgCO2e × time covered ÷ lifetime          (SCI 1.1 time share; null if not configured)
 *   SCI       = (location + embodied) / R,  R = requests, or tokens ÷ 1,000
 */
import { embodiedGrams } from '../impacts/convert.js';
import { emptySums, type EnergySums, type FactorsInForce, type Measurements } from './accumulator.js';
import type { FactorUse, Figures, GroupKey, Report, ReportGroup } from './types.js';

export interface EmbodiedConfig { hostKgCo2e: number | null; lifetimeYears: number | null; source: string | null; year: number | null }

/** Citations (and data years) of a set of factors in this inferwatt's tables, where a row gives the same value. */
export type CiteFactors = (f: FactorsInForce) => Partial<Record<'gridGCo2ePerKWh' | 'pue' | 'wue' | 'ewif', { text: string; year: number | null }>>;

export interface BuildInput {
  measurements: Measurements;
  by: readonly GroupKey[];
  /** Per host, how long it was covered within the period (for the embodied time share). */
  hostSpanMs: ReadonlyMap<string, number>;
  embodied: EmbodiedConfig;
  marketConfigured: boolean;
  cite: CiteFactors;
  /** Everything the report states that the arithmetic does not touch. */
  frame: Omit<Report, 'groups' | 'totals' | 'factors' | 'timeline'>;
}

const addScaled = (into: EnergySums, from: EnergySums, k: number) => {
  into.j += from.j * k;
  into.facilityJ += from.facilityJ * k;
  into.locationG += from.locationG * k;
  into.onsiteL += from.onsiteL * k;
  into.offsiteL += from.offsiteL * k;
  into.marketG += from.marketG * k;
  into.marketMissingJ += from.marketMissingJ * k;
};

interface Acc { requests: number; promptTokens: number; completionTokens: number; attributed: EnergySums; idle: EnergySums; embodiedG: number }
const emptyAcc = (): Acc => ({ requests: 0, promptTokens: 0, completionTokens: 0, attributed: emptySums(), idle: emptySums(), embodiedG: 0 });

const per = (x: number, n: number) => (n > 0 ? x / n : null);

export function toFigures(a: Acc, opts: { embodiedConfigured: boolean; marketConfigured: boolean }): Figures {
  const facility = a.attributed.facilityJ + a.idle.facilityJ;
  const it = a.attributed.j + a.idle.j;
  const location = a.attributed.locationG + a.idle.locationG;
  const missing = a.attributed.marketMissingJ + a.idle.marketMissingJ;
  const embodied = opts.embodiedConfigured ? a.embodiedG : null;
  const onsite = a.attributed.onsiteL + a.idle.onsiteL;
  const offsite = a.attributed.offsiteL + a.idle.offsiteL;
  const water = onsite + offsite;
  const tokens = a.promptTokens + a.completionTokens;
  // SCI's C = O + M: operational at the location-based intensity (never market-based), plus embodied.
  const c = location + (embodied ?? 0);
  return {
    requests: a.requests,
    promptTokens: a.promptTokens,
    completionTokens: a.completionTokens,
    energyJ: { attributed: a.attributed.j, idle: a.idle.j, facility },
    co2eGrams: { location, market: opts.marketConfigured && !(missing > 0) ? a.attributed.marketG + a.idle.marketG : null, embodied },
    waterLiters: { onsite, offsite, total: water },
    sci: { gPerQuery: per(c, a.requests), gPer1kTokens: per(c * 1000, tokens) },
    intensity: {
      energyJPerQuery: per(it, a.requests),
      facilityEnergyJPerQuery: per(facility, a.requests),
      co2eGramsPerQuery: per(location, a.requests),
      waterLitersPerQuery: per(water, a.requests),
      energyJPer1kTokens: per(it * 1000, tokens),
      co2eGramsPer1kTokens: per(location * 1000, tokens),
      waterLitersPer1kTokens: per(water * 1000, tokens),
    },
  };
}

export function buildReport(input: BuildInput): Report {
  const { measurements: m, by, embodied } = input;
  const embodiedConfigured = embodied.hostKgCo2e !== null && embodied.lifetimeYears !== null;
  const opts = { embodiedConfigured, marketConfigured: input.marketConfigured };
  const hostEmbodiedG = (host: string) => (embodiedConfigured ? embodiedGrams(embodied.hostKgCo2e!, embodied.lifetimeYears!, input.hostSpanMs.get(host) ?? 0) : 0);

  // Each host's cells share its idle energy and embodied emissions by attributed energy; by requests
  // where none of its requests has energy; not at all (totals only) where it served no request.
  const hosts = new Set<string>([...m.hostIdle.keys(), ...input.hostSpanMs.keys(), ...m.cells.map((c) => c.host)]);
  const byHost = new Map<string, typeof m.cells>();
  for (const c of m.cells) byHost.set(c.host, [...(byHost.get(c.host) ?? []), c]);

  const groups = new Map<string, { keys: Record<GroupKey, string>; acc: Acc }>();
  const total = emptyAcc();
  const unshared: string[] = [];
  for (const host of [...hosts].sort()) {
    const cells = byHost.get(host) ?? [];
    const idle = m.hostIdle.get(host) ?? emptySums();
    const emb = hostEmbodiedG(host);
    addScaled(total.idle, idle, 1);
    total.embodiedG += emb;
    const energy = cells.reduce((s, c) => s + c.attributed.j, 0);
    const requests = cells.reduce((s, c) => s + c.requests, 0);
    if (!(energy > 0) && !(requests > 0) && (idle.j > 0 || emb > 0)) unshared.push(host);
    for (const c of cells) {
      const share = energy > 0 ? c.attributed.j / energy : requests > 0 ? c.requests / requests : 0;
      const key = JSON.stringify(by.map((k) => c.group[k]));
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { keys: c.group, acc: emptyAcc() }));
      g.acc.requests += c.requests;
      g.acc.promptTokens += c.promptTokens;
      g.acc.completionTokens += c.completionTokens;
      addScaled(g.acc.attributed, c.attributed, 1);
      addScaled(g.acc.idle, c.idle, 1);
      addScaled(g.acc.idle, idle, share);
      g.acc.embodiedG += emb * share;
      total.requests += c.requests;
      total.promptTokens += c.promptTokens;
      total.completionTokens += c.completionTokens;
      addScaled(total.attributed, c.attributed, 1);
      addScaled(total.idle, c.idle, 1);
    }
  }

  const rows: ReportGroup[] = [...groups.values()]
    .map((g) => ({ ...g.keys, ...toFigures(g.acc, opts) }))
    .sort((a, b) => b.energyJ.facility - a.energyJ.facility || by.map((k) => (a[k] ?? '').localeCompare(b[k] ?? '')).find((x) => x !== 0) || 0);

  const notes = [...input.frame.coverage.notes];
  if (unshared.length) notes.push(`served no request in the period, so their idle energy${embodiedConfigured ? ' and embodied emissions are' : ' is'} in the totals only, in no group: ${unshared.join(', ')}`);
  for (const gap of m.marketGaps) {
    notes.push(`no contractual factor (impacts.market) for region ${gap.region} between ${iso(gap.firstMs)} and ${iso(gap.lastMs)} (${round(gap.facilityJ / 3.6e6)} kWh facility): market-based CO2e is null where that energy counts`);
  }

  const tl = m.timeline;
  return {
    ...input.frame,
    factors: factorList(m, embodied, embodiedConfigured, input.cite),
    groups: rows,
    totals: toFigures(total, opts),
    timeline: {
      stepS: tl.stepMs / 1000,
      buckets: Array.from(tl.attributedJ, (_, i) => ({ start: iso(tl.startMs + i * tl.stepMs), attributedJ: tl.attributedJ[i]!, idleJ: tl.idleJ[i]!, co2eGrams: tl.co2eGrams[i]! })),
    },
    coverage: { ...input.frame.coverage, notes },
  };
}

const iso = (ms: number) => new Date(ms).toISOString();
const round = (x: number) => Number(x.toPrecision(4));

function factorList(m: Measurements, embodied: EmbodiedConfig, embodiedConfigured: boolean, cite: CiteFactors): FactorUse[] {
  const out: FactorUse[] = [];
  const seen = new Set<string>();
  const push = (u: FactorUse) => {
    const key = JSON.stringify([u.factor, u.region, u.source, u.year, u.value, u.min, u.max]);
    if (seen.has(key)) return;
    seen.add(key);
    out.push(u);
  };
  for (const u of [...m.factorUses].sort((a, b) => a.f.region.localeCompare(b.f.region) || a.firstMs - b.firstMs)) {
    const c = cite(u.f);
    const span = { firstUsed: iso(u.firstMs), lastUsed: iso(u.lastMs) };
    const kWh = u.facilityJ / 3.6e6;
    // One value in force: that value, not a mean with rounding errors; a live intensity: the energy-weighted mean.
    const intensity = u.minIntensity === u.maxIntensity || !(kWh > 0) ? u.f.gridGCo2ePerKWh : u.grams / kWh;
    push({ factor: 'gridGCo2ePerKWh', region: u.f.region, value: intensity, min: u.minIntensity, max: u.maxIntensity, unit: 'gCO2e/kWh', source: u.f.source, year: u.f.year ?? c.gridGCo2ePerKWh?.year ?? null, citation: c.gridGCo2ePerKWh?.text ?? null, method: 'location', ...span });
    // The agents export PUE, WUE and EWIF values without their sources: those come from this inferwatt's tables where a row matches.
    const other = (factor: 'pue' | 'wue' | 'ewif', value: number, unit: string) => {
      const cited = c[factor];
      push({ factor, region: u.f.region, value, min: value, max: value, unit, source: cited ? 'factor tables' : 'agent (no matching row: an override?)', year: cited?.year ?? null, citation: cited?.text ?? null, ...span });
    };
    other('pue', u.f.pue, 'ratio');
    other('wue', u.f.wue, 'L/kWh (IT)');
    other('ewif', u.f.ewif, 'L/kWh (facility)');
  }
  for (const u of m.marketUses) {
    push({ factor: 'market', region: u.row.region, value: u.row.gCo2ePerKWh, min: u.row.gCo2ePerKWh, max: u.row.gCo2ePerKWh, unit: 'gCO2e/kWh', source: u.row.source, year: u.row.year, citation: u.row.source, method: u.row.kind, firstUsed: iso(u.firstMs), lastUsed: iso(u.lastMs) });
  }
  if (embodiedConfigured) {
    push({ factor: 'embodied', region: null, value: embodied.hostKgCo2e!, min: embodied.hostKgCo2e!, max: embodied.hostKgCo2e!, unit: `kgCO2e per host over ${embodied.lifetimeYears} years`, source: embodied.source ?? '', year: embodied.year, citation: embodied.source, firstUsed: null, lastUsed: null });
  }
  return out;
}
