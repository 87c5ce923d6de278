/**
 * `inferwatt project` (DESIGN §5): a year of queries at a given scale, from a measured or an assumed
 * energy per query. Flag parsing and input gathering here; the arithmetic is src/impacts/projection.ts.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ConfigError, errorMessage } from '../core/errors.js';
import { joulesToWh } from '../core/units.js';
import { createFactorResolver } from '../impacts/factor-tables.js';
import {
  articleInputs,
  checkProjectionInputs,
  project,
  type EnergyPerQuery,
  type ProjectionInputs,
  type ProjectionResult,
  type WaterInput,
} from '../impacts/projection.js';
import type { FactorOverrides, ResolvedFactors } from '../impacts/types.js';
import type { CommandIo } from './factors.js';

const USAGE = `usage: inferwatt project [options]

Scale:        --users N  --queries-per-user-per-day N
Energy/query (one of):
              --wh-per-query WH            IT energy per query (before PUE)
              --from URL                   a running agent's /api/summary (mean J per request)
              --records FILE               JSONL request records (mean of energyJ.total)
              --server-power-kw KW --utilization 0..1 --queries-per-server-per-day N
Facility:     --pue X   --intensity G (gCO2e/kWh) | --region ID   [--provider aws|gcp|azure|self-hosted]
Water:        --water-ml-per-query ML | --wue L/kWh --ewif L/kWh   (default: the region's factors)
Embodied:     --server-embodied-kg KG --server-life-years Y  (fleet sized by --queries-per-server-per-day)
Training:     --training-kwh KWH [--models-per-year N]  (facility kWh per model)
Other:        --preset article   the article's assumptions (DESIGN §5); other flags override them
              --json
`;

const NUMERIC = [
  'users', 'queries-per-user-per-day', 'wh-per-query', 'server-power-kw', 'utilization', 'queries-per-server-per-day',
  'pue', 'intensity', 'water-ml-per-query', 'wue', 'ewif', 'server-embodied-kg', 'server-life-years', 'training-kwh',
  'models-per-year',
] as const;
type NumericFlag = (typeof NUMERIC)[number];

/** What a running agent or a records file says about the mean energy per request. */
export interface MeasuredEnergy { itWhPerQuery: number; origin: string; requests: number }

export async function runProjectCommand(argv: string[], io: CommandIo): Promise<number> {
  const options = {
    ...Object.fromEntries(NUMERIC.map((n) => [n, { type: 'string' as const }])),
    from: { type: 'string' as const },
    records: { type: 'string' as const },
    region: { type: 'string' as const },
    provider: { type: 'string' as const },
    preset: { type: 'string' as const },
    'factors-dir': { type: 'string' as const },
    json: { type: 'boolean' as const, default: false },
    help: { type: 'boolean' as const, short: 'h', default: false },
  };
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as typeof values;
  } catch (err) {
    io.stderr(`inferwatt project: ${errorMessage(err)}\n${USAGE}`);
    return 2;
  }
  if (values.help) { io.stdout(USAGE); return 0; }

  const problems: string[] = [];
  const n: Partial<Record<NumericFlag, number>> = {};
  for (const k of NUMERIC) {
    const raw = values[k];
    if (typeof raw !== 'string') continue;
    const v = Number(raw.replace(/_/g, ''));
    if (raw.trim() === '' || !Number.isFinite(v)) problems.push(`--${k} "${raw}" is not a number`);
    else n[k] = v;
  }
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const preset = str('preset');
  if (preset !== undefined && preset !== 'article') problems.push(`--preset "${preset}" is unknown (known: article)`);
  const base = preset === 'article' ? articleInputs() : undefined;

  const energySources = (['wh-per-query', 'from', 'records', 'server-power-kw'] as const).filter((k) => values[k] !== undefined);
  if (energySources.length > 1) problems.push(`give one energy source, not ${energySources.map((k) => `--${k}`).join(' and ')}`);
  if (energySources.length === 0 && !base) problems.push('no energy per query: give --wh-per-query, --from URL, --records FILE or --server-power-kw (or --preset article)');
  // Server-based energy: --server-power-kw, or the preset's servers, each of its three inputs overridable.
  const baseServer = base?.energy.kind === 'server' ? base.energy : undefined;
  const serverBased = n['server-power-kw'] !== undefined || (energySources.length === 0 && baseServer !== undefined);
  const serverKW = n['server-power-kw'] ?? baseServer?.serverPowerKW;
  const utilization = n.utilization ?? baseServer?.utilization;
  const serverQueries = n['queries-per-server-per-day'] ?? baseServer?.queriesPerServerPerDay;
  if (n['server-power-kw'] !== undefined && (utilization === undefined || serverQueries === undefined)) {
    problems.push('--server-power-kw needs --utilization and --queries-per-server-per-day');
  }
  if (n.utilization !== undefined && !serverBased) problems.push('--utilization applies only to server-based energy (--server-power-kw, or --preset article without another energy source)');
  if (values['water-ml-per-query'] !== undefined && (values.wue !== undefined || values.ewif !== undefined)) {
    problems.push('give --water-ml-per-query or --wue/--ewif, not both');
  }
  const users = n.users ?? base?.users;
  const qpupd = n['queries-per-user-per-day'] ?? base?.queriesPerUserPerDay;
  if (users === undefined) problems.push('--users is required');
  if (qpupd === undefined) problems.push('--queries-per-user-per-day is required');
  const embodiedAsked = n['server-embodied-kg'] !== undefined || n['server-life-years'] !== undefined;
  if (embodiedAsked && (n['server-embodied-kg'] === undefined || n['server-life-years'] === undefined)) {
    problems.push('embodied CO2e needs both --server-embodied-kg and --server-life-years');
  }
  const qpspd = n['queries-per-server-per-day'] ?? base?.embodied?.queriesPerServerPerDay;
  if (embodiedAsked && qpspd === undefined) problems.push('embodied CO2e needs --queries-per-server-per-day to size the fleet');
  if (n['models-per-year'] !== undefined && n['training-kwh'] === undefined && !base) problems.push('--models-per-year needs --training-kwh');
  if (problems.length) return fail(io, problems, 2);

  // Factors: the article preset states its own; flags override; a region fills what is left.
  const overrides: FactorOverrides = {};
  const intensity = n.intensity ?? (str('region') === undefined ? base?.gridGCo2ePerKWh : undefined);
  if (intensity !== undefined) overrides.gridGCo2ePerKWh = intensity;
  const pue = n.pue ?? base?.pue;
  if (pue !== undefined) overrides.pue = pue;
  if (n.wue !== undefined) overrides.wue = n.wue;
  if (n.ewif !== undefined) overrides.ewif = n.ewif;
  let factors: ResolvedFactors;
  try {
    factors = createFactorResolver({
      ...(str('factors-dir') !== undefined ? { dir: str('factors-dir') } : {}),
      ...(str('region') !== undefined ? { region: str('region') } : {}),
      ...(str('provider') !== undefined ? { provider: str('provider') } : {}),
      overrides,
    });
  } catch (err) {
    if (err instanceof ConfigError) return fail(io, err.problems, 2);
    return fail(io, [errorMessage(err)], 1);
  }
  const warnings = [...factors.warnings];

  // Energy per query.
  let energy: EnergyPerQuery;
  let measuredRequests: number | undefined;
  try {
    if (n['wh-per-query'] !== undefined) energy = { kind: 'wh-per-query', itWhPerQuery: n['wh-per-query'], origin: '--wh-per-query (IT energy)' };
    else if (serverBased && (baseServer === undefined || serverKW !== baseServer.serverPowerKW || utilization !== baseServer.utilization || serverQueries !== baseServer.queriesPerServerPerDay)) {
      energy = {
        kind: 'server', serverPowerKW: serverKW!, utilization: utilization!, queriesPerServerPerDay: serverQueries!,
        origin: `${serverKW} kW per server × ${utilization} utilization × 24 h ÷ ${serverQueries} queries per server per day`,
      };
    } else if (str('from') !== undefined) {
      const m = await energyFromSummary(str('from')!, io.fetch ?? globalThis.fetch);
      energy = { kind: 'wh-per-query', itWhPerQuery: m.itWhPerQuery, origin: m.origin };
      measuredRequests = m.requests;
    } else if (str('records') !== undefined) {
      const m = await energyFromRecords(str('records')!);
      energy = { kind: 'wh-per-query', itWhPerQuery: m.itWhPerQuery, origin: m.origin };
      measuredRequests = m.requests;
    } else energy = base!.energy;
  } catch (err) {
    return fail(io, [errorMessage(err)], 1);
  }

  let water: WaterInput;
  const mlPerQuery = n['water-ml-per-query'] ?? (n.wue === undefined && n.ewif === undefined && base?.water.kind === 'per-query' ? base.water.mlPerQuery : undefined);
  if (mlPerQuery !== undefined) water = { kind: 'per-query', mlPerQuery };
  else water = { kind: 'factors', wue: factors.wue, ewif: factors.ewif };

  let embodied: ProjectionInputs['embodied'];
  if (embodiedAsked) embodied = { serverKgCo2e: n['server-embodied-kg']!, serverLifeYears: n['server-life-years']!, queriesPerServerPerDay: qpspd! };
  else if (base?.embodied) embodied = { ...base.embodied, ...(n['queries-per-server-per-day'] !== undefined ? { queriesPerServerPerDay: n['queries-per-server-per-day'] } : {}) };

  let training: ProjectionInputs['training'];
  if (n['training-kwh'] !== undefined) training = { kWhPerModel: n['training-kwh'], modelsPerYear: n['models-per-year'] ?? 1 };
  else if (base?.training) training = { ...base.training, ...(n['models-per-year'] !== undefined ? { modelsPerYear: n['models-per-year'] } : {}) };

  const inputs: ProjectionInputs = {
    users: users!, queriesPerUserPerDay: qpupd!, energy, pue: factors.pue, gridGCo2ePerKWh: factors.gridGCo2ePerKWh, water,
    ...(embodied ? { embodied } : {}), ...(training ? { training } : {}),
  };
  const bad = checkProjectionInputs(inputs);
  if (bad.length) return fail(io, bad, 2);
  const result = project(inputs);

  const factorSources = {
    gridGCo2ePerKWh: describe(factors, 'gridGCo2ePerKWh', preset === 'article' && n.intensity === undefined && str('region') === undefined),
    pue: describe(factors, 'pue', preset === 'article' && n.pue === undefined),
    water: water.kind === 'per-query'
      ? (n['water-ml-per-query'] !== undefined ? '--water-ml-per-query' : 'article assumption (10 mL per query, Li et al. 2023 upper bound)')
      : `WUE ${describe(factors, 'wue', false)}; EWIF ${describe(factors, 'ewif', false)}`,
  };
  if (values.json) {
    io.stdout(JSON.stringify({ preset: preset ?? null, inputs, factors: { region: factors.region, source: factors.source, details: factors.details }, factorSources, ...(measuredRequests !== undefined ? { measuredRequests } : {}), result, warnings }, null, 2) + '\n');
  } else {
    io.stdout(render(inputs, result, factorSources, preset));
  }
  for (const w of warnings) io.stderr(`warning: ${w}\n`);
  return 0;
}

function fail(io: CommandIo, problems: readonly string[], code: number): number {
  for (const p of problems) io.stderr(`inferwatt project: ${p}\n`);
  return code;
}

function describe(f: ResolvedFactors, k: 'gridGCo2ePerKWh' | 'pue' | 'wue' | 'ewif', article: boolean): string {
  const d = f.details[k];
  if (article) return 'article assumption';
  if (d.resolution === 'override') return `--${k === 'gridGCo2ePerKWh' ? 'intensity' : k}`;
  return `${d.source}${d.year !== undefined ? `, ${d.year}` : ''} [${d.from}]`;
}

// -------------------------------------------------------------------------------------------------
// Measured inputs

/**
 * Mean IT energy per request from a running agent's /api/summary. Uses `totals.meanEnergyJPerRequest`;
 * falls back to `totals.energyJ / totals.requests`, then to the request-weighted mean over `models[]`.
 */
export async function energyFromSummary(url: string, fetchFn: typeof fetch, timeoutMs = 10_000): Promise<MeasuredEnergy> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new Error(`--from "${url}" is not a URL (e.g. http://127.0.0.1:9477/api/summary)`);
  }
  if (target.pathname === '/' || target.pathname === '') target.pathname = '/api/summary';
  let body: unknown;
  try {
    const res = await fetchFn(target, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    body = await res.json();
  } catch (err) {
    throw new Error(`--from ${target.href}: cannot read the agent's summary (${errorMessage(err)})`);
  }
  const obj = (v: unknown): Record<string, unknown> | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);
  const fin = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const totals = obj(obj(body)?.totals);
  const requests = fin(totals?.requests);
  const mean = fin(totals?.meanEnergyJPerRequest);
  if (mean !== undefined && mean > 0) {
    return { itWhPerQuery: joulesToWh(mean), requests: requests ?? NaN, origin: `measured: totals.meanEnergyJPerRequest ${mean.toFixed(1)} J over ${requests ?? '?'} requests from ${target.href}` };
  }
  const energyJ = fin(totals?.energyJ);
  if (energyJ !== undefined && requests !== undefined && requests > 0 && energyJ > 0) {
    return { itWhPerQuery: joulesToWh(energyJ / requests), requests, origin: `measured: totals.energyJ ÷ totals.requests (${requests}) from ${target.href}` };
  }
  const models = obj(body)?.models;
  if (Array.isArray(models)) {
    let sumJ = 0;
    let sumN = 0;
    for (const m of models) {
      const r = fin(obj(m)?.requests);
      const e = fin(obj(m)?.meanEnergyJPerRequest);
      if (r !== undefined && e !== undefined && r > 0) { sumJ += r * e; sumN += r; }
    }
    if (sumN > 0 && sumJ > 0) return { itWhPerQuery: joulesToWh(sumJ / sumN), requests: sumN, origin: `measured: request-weighted mean of models[].meanEnergyJPerRequest over ${sumN} requests from ${target.href}` };
  }
  throw new Error(`--from ${target.href}: the summary has no usable energy per request (expected totals.meanEnergyJPerRequest > 0, or totals.energyJ and totals.requests, or models[]); has the agent measured any request yet?`);
}

/**
 * Mean IT energy per request from a JSONL records file. Records without energyJ.total are skipped, and so
 * are incomplete ones (`complete: false`: finalised with part of their energy, which would bias the mean low).
 */
export async function energyFromRecords(path: string): Promise<MeasuredEnergy> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`--records ${path}: cannot read (${errorMessage(err)})`);
  }
  let sumJ = 0;
  let used = 0;
  let skipped = 0;
  let incomplete = 0;
  let malformed = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let rec: unknown;
    try { rec = JSON.parse(line); } catch { malformed++; continue; }
    const r = rec as { energyJ?: { total?: unknown }; complete?: unknown } | null;
    const total = r?.energyJ?.total;
    if (!(typeof total === 'number' && Number.isFinite(total) && total >= 0)) skipped++;
    else if (r?.complete === false) incomplete++;
    else { sumJ += total; used++; }
  }
  if (used === 0) throw new Error(`--records ${path}: no complete record with energyJ.total (${skipped} without, ${incomplete} incomplete, ${malformed} malformed lines)`);
  const extra = [
    skipped ? `${skipped} without energyJ.total skipped` : '',
    incomplete ? `${incomplete} incomplete (complete: false) skipped` : '',
    malformed ? `${malformed} malformed lines skipped` : '',
  ].filter(Boolean).join(', ');
  return { itWhPerQuery: joulesToWh(sumJ / used), requests: used, origin: `measured: mean energyJ.total of ${used} records in ${path}${extra ? ` (${extra})` : ''}` };
}

// -------------------------------------------------------------------------------------------------
// Human output

const big = (x: number): string => {
  const a = Math.abs(x);
  if (a >= 1e12) return `${(x / 1e12).toPrecision(4)} trillion`;
  if (a >= 1e9) return `${(x / 1e9).toPrecision(4)} billion`;
  if (a >= 1e6) return `${(x / 1e6).toPrecision(4)} million`;
  return x.toLocaleString('en-US', { maximumFractionDigits: 2 });
};
const energyKWh = (kwh: number): string => {
  if (kwh >= 1e9) return `${(kwh / 1e9).toPrecision(4)} TWh`;
  if (kwh >= 1e6) return `${(kwh / 1e6).toPrecision(4)} GWh`;
  if (kwh >= 1e3) return `${(kwh / 1e3).toPrecision(4)} MWh`;
  return `${kwh.toPrecision(4)} kWh`;
};
const tonnes = (t: number): string => `${big(t)} tCO2e`;
const liters = (l: number): string => `${big(l)} L`;

function render(i: ProjectionInputs, r: ProjectionResult, src: { gridGCo2ePerKWh: string; pue: string; water: string }, preset: string | undefined): string {
  const rows: [string, string][] = [
    ['queries per day', `${big(r.queriesPerDay)} (${big(i.users)} users × ${i.queriesPerUserPerDay})`],
    ['queries per year', big(r.queriesPerYear)],
    ['energy per query', `${r.energy.itWhPerQuery.toPrecision(4)} Wh IT, ${r.energy.facilityWhPerQuery.toPrecision(4)} Wh facility`],
    ['  from', r.energy.origin],
    ['IT energy', `${energyKWh(r.energy.itKWhPerYear)} per year`],
    ['facility energy', `${energyKWh(r.energy.facilityKWhPerYear)} per year (PUE ${i.pue}: ${src.pue})`],
    ['grid intensity', `${i.gridGCo2ePerKWh} gCO2e/kWh (${src.gridGCo2ePerKWh})`],
    ['operational', tonnes(r.co2eTonnes.operational)],
    ['embodied', r.co2eTonnes.embodied === null ? 'not included (--server-embodied-kg, --server-life-years)' : `${tonnes(r.co2eTonnes.embodied)} (${big(r.servers ?? 0)} servers × ${i.embodied?.serverKgCo2e} kg ÷ ${i.embodied?.serverLifeYears} years)`],
    ['training', r.co2eTonnes.training === null ? 'not included (--training-kwh)' : `${tonnes(r.co2eTonnes.training)} (${i.training?.modelsPerYear} model(s) × ${i.training?.kWhPerModel.toLocaleString('en-US')} kWh)`],
    ['total', `${tonnes(r.co2eTonnes.total)} per year (${r.co2eGramsPerQuery.total.toPrecision(3)} g per query)`],
    ['water', `${liters(r.waterLiters.perYear)} per year (${(r.waterLiters.perQuery * 1000).toPrecision(3)} mL per query; ${src.water})`],
    ['share of global', `${(r.comparisons.shareOfGlobal * 100).toPrecision(3)} % of ${r.comparisons.globalEmissionsTonnes / 1e9} Gt CO2e per year`],
    ['person-equivalents', `${big(r.comparisons.personEquivalents)} people's yearly emissions (${r.comparisons.perPersonSource})`],
  ];
  if (r.waterLiters.onsitePerYear !== null && r.waterLiters.offsitePerYear !== null) {
    rows.splice(12, 0, ['  on-site / off-site', `${liters(r.waterLiters.onsitePerYear)} / ${liters(r.waterLiters.offsitePerYear)}`]);
  }
  const head = preset === 'article' ? 'Projection with the article\'s assumptions (DESIGN §5)\n' : 'Projection\n';
  return head + rows.map(([k, v]) => `  ${k.padEnd(22)}${v}\n`).join('');
}
