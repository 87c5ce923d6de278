/**
 * `inferwatt project`: a year of queries at a given scale, from a measured or an assumed energy per query
 * (docs/projection.md). Flags and input gathering here; the arithmetic is src/impacts/projection.ts, the
 * article's table src/impacts/article.ts, the text src/commands/project-output.ts.
 */
import { readFile } from 'node:fs/promises';
import { parseArgv, type ExtraFlag } from '../config/argv.js';
import { ConfigError, errorMessage } from '../core/errors.js';
import { joulesToWh } from '../core/units.js';
import { articleInputs, articleTable, renderArticleTable } from '../impacts/article.js';
import { createFactorResolver } from '../impacts/factor-tables.js';
import {
  checkProjectionInputs,
  project,
  type EnergyPerQuery,
  type ProjectionInputs,
  type WaterInput,
} from '../impacts/projection.js';
import type { FactorOverrides, ResolvedFactors } from '../impacts/types.js';
import { describeFetchError, reportError, runtimeError } from './cli-errors.js';
import type { CommandIo } from './factors.js';
import { renderProjection } from './project-output.js';

export const PROJECT_USAGE = `Usage: inferwatt project [flags]

Projects a year of queries at scale: energy, CO2e (operational, embodied, training), water, comparisons.

Scale:        --users N  --queries-per-user-per-day N
Energy per query, one of:
              --wh-per-query WH            IT energy per query (before PUE)
              --from URL                   a running agent's /api/summary (mean J per request)
              --records FILE               JSONL request records (mean of energyJ.total)
              --server-power-kw KW --utilization 0..1 --queries-per-server-per-day N
Facility:     --pue X (>= 1)   --intensity G (gCO2e/kWh) | --region ID   [--provider aws|gcp|azure|self-hosted]
Water:        --water-ml-per-query ML | --wue L/kWh --ewif L/kWh   (default: the region's factors)
Embodied:     --server-embodied-kg KG --server-life-years Y  (fleet sized by --queries-per-server-per-day)
Training:     --training-kwh KWH [--models-per-year N]  (facility kWh per model)
Other:        --preset article   the article's assumptions and its table, line by line; other flags
                                 override its inputs
              --json             machine-readable output
              --help

Exit status: 0 ok, 1 a measured input could not be read, 2 bad flags (every problem listed).
`;

type Range = 'positive' | 'non-negative' | 'fraction' | 'pue';
const NUMERIC: readonly { flag: string; range: Range }[] = [
  { flag: 'users', range: 'positive' },
  { flag: 'queries-per-user-per-day', range: 'positive' },
  { flag: 'wh-per-query', range: 'positive' },
  { flag: 'server-power-kw', range: 'positive' },
  { flag: 'utilization', range: 'fraction' },
  { flag: 'queries-per-server-per-day', range: 'positive' },
  { flag: 'pue', range: 'pue' },
  { flag: 'intensity', range: 'non-negative' },
  { flag: 'water-ml-per-query', range: 'non-negative' },
  { flag: 'wue', range: 'non-negative' },
  { flag: 'ewif', range: 'non-negative' },
  { flag: 'server-embodied-kg', range: 'non-negative' },
  { flag: 'server-life-years', range: 'positive' },
  { flag: 'training-kwh', range: 'non-negative' },
  { flag: 'models-per-year', range: 'non-negative' },
];
const FLAGS: readonly ExtraFlag[] = [
  ...NUMERIC.map((n) => ({ flag: n.flag, type: 'string' as const, help: '' })),
  ...['from', 'records', 'region', 'provider', 'preset', 'factors-dir'].map((flag) => ({ flag, type: 'string' as const, help: '' })),
  { flag: 'json', type: 'bool', help: '' },
];

function rangeProblem(flag: string, v: number, range: Range): string | undefined {
  switch (range) {
    case 'positive': return v > 0 ? undefined : `--${flag}: ${v} must be a positive number`;
    case 'non-negative': return v >= 0 ? undefined : `--${flag}: ${v} must be zero or more`;
    case 'fraction': return v > 0 && v <= 1 ? undefined : `--${flag}: ${v} must be above 0 and at most 1`;
    case 'pue': return v >= 1 ? undefined : `--${flag}: ${v} must be at least 1`;
  }
}

/** What a running agent or a records file says about the mean energy per request. */
export interface MeasuredEnergy { itWhPerQuery: number; origin: string; requests: number }

export async function runProjectCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  try {
    return await projectCommand(argv, io);
  } catch (err) {
    return reportError(err, io, 'project');
  }
}

async function projectCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  const parsed = parseArgv(argv, FLAGS, { configFlags: false });
  if (parsed.flags.help === true) { io.stdout(PROJECT_USAGE); return 0; }
  const values = parsed.flags;
  const problems = [...parsed.problems];
  if (parsed.positionals.length) problems.push(`unexpected argument(s): ${parsed.positionals.join(' ')} (flags start with --)`);

  // Numbers, each checked for its range here so that every problem is listed in one run.
  const n: Partial<Record<string, number>> = {};
  for (const { flag, range } of NUMERIC) {
    const raw = values[flag];
    if (typeof raw !== 'string') continue;
    const v = Number(raw.trim().replace(/_/g, ''));
    if (raw.trim() === '' || !Number.isFinite(v)) { problems.push(`--${flag}: "${raw}" is not a number`); continue; }
    const p = rangeProblem(flag, v, range);
    if (p) problems.push(p);
    else n[flag] = v;
  }
  const given = (k: string) => values[k] !== undefined;
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k]) : undefined);
  const preset = str('preset');
  if (preset !== undefined && preset !== 'article') problems.push(`--preset: "${preset}" is unknown (known: article)`);
  const base = preset === 'article' ? articleInputs() : undefined;

  const energySources = (['wh-per-query', 'from', 'records', 'server-power-kw'] as const).filter(given);
  if (energySources.length > 1) problems.push(`give one energy source, not ${energySources.map((k) => `--${k}`).join(' and ')}`);
  if (energySources.length === 0 && !base) problems.push('no energy per query: give --wh-per-query, --from URL, --records FILE or --server-power-kw (or --preset article)');
  const from = str('from');
  if (from !== undefined && !isHttpUrl(from)) problems.push(`--from: "${from}" is not an http:// or https:// URL (e.g. http://127.0.0.1:9477)`);
  // Server-based energy: --server-power-kw, or the preset's servers, each of its three inputs overridable.
  const baseServer = base?.energy.kind === 'server' ? base.energy : undefined;
  const serverBased = given('server-power-kw') || (energySources.length === 0 && baseServer !== undefined);
  const serverKW = n['server-power-kw'] ?? baseServer?.serverPowerKW;
  const utilization = n.utilization ?? baseServer?.utilization;
  const serverQueries = n['queries-per-server-per-day'] ?? baseServer?.queriesPerServerPerDay;
  if (given('server-power-kw') && ((!given('utilization') && utilization === undefined) || (!given('queries-per-server-per-day') && serverQueries === undefined))) {
    problems.push('--server-power-kw needs --utilization and --queries-per-server-per-day');
  }
  if (given('utilization') && !serverBased) problems.push('--utilization applies only to server-based energy (--server-power-kw, or --preset article without another energy source)');
  if (given('water-ml-per-query') && (given('wue') || given('ewif'))) problems.push('give --water-ml-per-query or --wue/--ewif, not both');
  if (!given('users') && base === undefined) problems.push('--users is required');
  if (!given('queries-per-user-per-day') && base === undefined) problems.push('--queries-per-user-per-day is required');
  const embodiedAsked = given('server-embodied-kg') || given('server-life-years');
  if (embodiedAsked && !(given('server-embodied-kg') && given('server-life-years'))) problems.push('embodied CO2e needs both --server-embodied-kg and --server-life-years');
  const qpspd = n['queries-per-server-per-day'] ?? base?.embodied?.queriesPerServerPerDay;
  if (embodiedAsked && !given('queries-per-server-per-day') && qpspd === undefined) problems.push('embodied CO2e needs --queries-per-server-per-day to size the fleet');
  if (given('models-per-year') && !given('training-kwh') && !base) problems.push('--models-per-year needs --training-kwh');

  // Factors: the article preset states its own; flags override; a region fills what is left.
  const overrides: FactorOverrides = {};
  const intensity = n.intensity ?? (str('region') === undefined ? base?.gridGCo2ePerKWh : undefined);
  if (intensity !== undefined) overrides.gridGCo2ePerKWh = intensity;
  const pue = n.pue ?? base?.pue;
  if (pue !== undefined) overrides.pue = pue;
  if (n.wue !== undefined) overrides.wue = n.wue;
  if (n.ewif !== undefined) overrides.ewif = n.ewif;
  let factors: ResolvedFactors | undefined;
  try {
    factors = createFactorResolver({
      ...(str('factors-dir') !== undefined ? { dir: str('factors-dir') } : {}),
      ...(str('region') !== undefined ? { region: str('region') } : {}),
      ...(str('provider') !== undefined ? { provider: str('provider') } : {}),
      overrides,
    });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  if (problems.length || !factors) throw new ConfigError(problems);
  const warnings = [...factors.warnings];
  const users = n.users ?? base!.users;
  const qpupd = n['queries-per-user-per-day'] ?? base!.queriesPerUserPerDay;

  // Energy per query (reading a measurement can fail at run time: exit 1).
  let energy: EnergyPerQuery;
  let measuredRequests: number | undefined;
  if (n['wh-per-query'] !== undefined) energy = { kind: 'wh-per-query', itWhPerQuery: n['wh-per-query'], origin: '--wh-per-query (IT energy)' };
  else if (serverBased && (baseServer === undefined || serverKW !== baseServer.serverPowerKW || utilization !== baseServer.utilization || serverQueries !== baseServer.queriesPerServerPerDay)) {
    energy = {
      kind: 'server', serverPowerKW: serverKW!, utilization: utilization!, queriesPerServerPerDay: serverQueries!,
      origin: `${serverKW} kW a server × ${utilization} utilization × 24 h ÷ ${serverQueries} queries a server a day`,
    };
  } else if (from !== undefined) {
    const m = await energyFromSummary(from, io.fetch ?? globalThis.fetch);
    energy = { kind: 'wh-per-query', itWhPerQuery: m.itWhPerQuery, origin: m.origin };
    measuredRequests = m.requests;
  } else if (str('records') !== undefined) {
    const m = await energyFromRecords(str('records')!);
    energy = { kind: 'wh-per-query', itWhPerQuery: m.itWhPerQuery, origin: m.origin };
    measuredRequests = m.requests;
  } else energy = base!.energy;

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
    users, queriesPerUserPerDay: qpupd, energy, pue: factors.pue, gridGCo2ePerKWh: factors.gridGCo2ePerKWh, water,
    ...(embodied ? { embodied } : {}), ...(training ? { training } : {}), ...(base?.perPerson ? { perPerson: base.perPerson } : {}),
  };
  // Every flag was range-checked above: what is left here are measured values (never ≤ 0) and presets.
  const bad = checkProjectionInputs(inputs);
  if (bad.length) throw new ConfigError(bad);
  const result = project(inputs);
  const article = preset === 'article' ? articleTable(inputs, result) : undefined;

  const fromArticle = "the article's assumption";
  const factorSources = {
    gridGCo2ePerKWh: preset === 'article' && n.intensity === undefined && str('region') === undefined ? fromArticle : describe(factors, 'gridGCo2ePerKWh'),
    pue: preset === 'article' && n.pue === undefined ? fromArticle : describe(factors, 'pue'),
    water: water.kind === 'per-query'
      ? (n['water-ml-per-query'] !== undefined ? '--water-ml-per-query' : `${fromArticle}: ${water.mlPerQuery} mL a query (Li et al. 2023, upper bound)`)
      : `WUE ${describe(factors, 'wue')}; EWIF ${describe(factors, 'ewif')}`,
  };
  if (values.json === true) {
    io.stdout(JSON.stringify({
      preset: preset ?? null, inputs, factors: { region: factors.region, source: factors.source, details: factors.details }, factorSources,
      ...(measuredRequests !== undefined ? { measuredRequests } : {}), result, ...(article ? { article } : {}), warnings,
    }, null, 2) + '\n');
  } else {
    io.stdout(renderProjection(inputs, result, factorSources, preset === 'article' ? "Projection with the article's assumptions (Ludvigsen 2023)" : 'Projection'));
    if (article) io.stdout('\n' + renderArticleTable(article));
  }
  for (const w of warnings) io.stderr(`warning: ${w}\n`);
  return 0;
}

function isHttpUrl(s: string): boolean {
  try { return /^https?:$/.test(new URL(s).protocol); } catch { return false; }
}

function describe(f: ResolvedFactors, k: 'gridGCo2ePerKWh' | 'pue' | 'wue' | 'ewif'): string {
  const d = f.details[k];
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
    throw new ConfigError([`--from: "${url}" is not an http:// or https:// URL (e.g. http://127.0.0.1:9477)`]);
  }
  if (target.pathname === '/' || target.pathname === '') target.pathname = '/api/summary';
  let res: Response;
  try {
    res = await fetchFn(target, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
  } catch (err) {
    const why = describeFetchError(err);
    throw runtimeError('AGENT_UNREACHABLE', `cannot reach the agent at ${target.href}: ${why}${why === 'connection refused' ? ' (is `inferwatt run` listening there?)' : ''}`, err);
  }
  let body: unknown;
  try {
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    body = await res.json();
  } catch (err) {
    throw runtimeError('AGENT_SUMMARY', `--from ${target.href}: cannot read the agent's summary (${errorMessage(err)})`, err);
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
  throw runtimeError('AGENT_SUMMARY', `--from ${target.href}: the summary has no usable energy per request (expected totals.meanEnergyJPerRequest > 0, or totals.energyJ and totals.requests, or models[]); has the agent measured any request yet?`);
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
    throw runtimeError('RECORDS_UNREADABLE', `--records ${path}: cannot read (${errorMessage(err)})`, err);
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
  if (used === 0) throw runtimeError('RECORDS_EMPTY', `--records ${path}: no complete record with energyJ.total (${skipped} without, ${incomplete} incomplete, ${malformed} malformed lines)`);
  const extra = [
    skipped ? `${skipped} without energyJ.total skipped` : '',
    incomplete ? `${incomplete} incomplete (complete: false) skipped` : '',
    malformed ? `${malformed} malformed lines skipped` : '',
  ].filter(Boolean).join(', ');
  return { itWhPerQuery: joulesToWh(sumJ / used), requests: used, origin: `measured: mean energyJ.total of ${used} records in ${path}${extra ? ` (${extra})` : ''}` };
}
