/**
 * Factor tables (config/factors/*.csv, built by scripts/build-factors.mjs) loaded and validated at
 * start-up, and factor resolution (docs/design.md#impacts): explicit override → region table → world
 * average. Which table row a region id names is regions.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { findRegion, unknownRegionError } from './regions.js';
import type { FactorOrigin, FactorOverrides, ResolvedFactors } from './types.js';

export const PROVIDERS = ['aws', 'gcp', 'azure', 'self-hosted'] as const;
export type Provider = (typeof PROVIDERS)[number];

export interface GridRow { id: string; name: string; gCo2ePerKWh: number; year: number; source: string }
export interface CountryRow extends GridRow { alpha2: string; alpha3: string }
export interface CloudRegionRow { region: string; provider: Provider; zone: string; country: string; year: number; source: string }
export interface ValueRow { value: number; unit: string; year: number; source: string }
export interface EwifRow extends ValueRow { alpha2: string; alpha3: string }

export interface FactorTables {
  dir: string;
  countries: CountryRow[];
  zones: GridRow[];
  egrid: GridRow[];
  cloudRegions: CloudRegionRow[];
  /** scope (`aws`, `self-hosted`, `aws:us-east-1`) → factor (`pue`, `wue`) → row */
  efficiency: Map<string, Map<'pue' | 'wue', ValueRow>>;
  ewif: EwifRow[];
  world: { gridGCo2ePerKWh: ValueRow; ewif: ValueRow };
}

/** Plausible ranges; a value outside is a unit or transcription error, not data. */
export const PLAUSIBLE = {
  gridGCo2ePerKWh: { min: 0, max: 1500, unit: 'gCO2e/kWh' },
  pue: { min: 1, max: 3, unit: 'ratio' },
  wue: { min: 0, max: 10, unit: 'L/kWh' },
  ewif: { min: 0, max: 100, unit: 'L/kWh' },
  year: { min: 1990, max: 2100 },
} as const;

// --------------------------------------------------------------------------------------------------
// Locating and reading

/** config/factors of this package: walks up from this module (works from src/ and dist/). */
export function defaultFactorsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'config', 'factors');
    if (existsSync(join(candidate, 'world.csv'))) return candidate;
    dir = dirname(dir);
  }
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../config/factors');
}

/** RFC 4180 CSV (quoted fields, doubled quotes) → objects keyed by header. */
export function parseCsv(text: string): { header: string[]; rows: Record<string, string>[] } {
  const records: string[][] = [];
  let row: string[] = [];
  let field = '';
  let inQuotes = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inQuotes) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') inQuotes = false;
      else field += c;
    } else if (c === '"') inQuotes = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field); field = '';
      if (row.length > 1 || row[0] !== '') records.push(row);
      row = [];
    } else field += c;
  }
  if (field !== '' || row.length) { row.push(field); records.push(row); }
  const header = records.shift() ?? [];
  return { header, rows: records.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? '']))) };
}

class Problems {
  readonly list: string[] = [];
  add(msg: string) { this.list.push(msg); }
}

function readTable(dir: string, file: string, columns: readonly string[], p: Problems): Record<string, string>[] {
  const path = join(dir, file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    p.add(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    return [];
  }
  const { header, rows } = parseCsv(text);
  const missing = columns.filter((c) => !header.includes(c));
  if (missing.length) {
    p.add(`${file}: missing column(s) ${missing.join(', ')}`);
    return [];
  }
  return rows;
}

function num(p: Problems, where: string, col: string, raw: string | undefined, range?: { min: number; max: number }): number {
  const s = (raw ?? '').trim();
  const v = s === '' ? NaN : Number(s);
  if (!Number.isFinite(v)) { p.add(`${where}: ${col} "${raw ?? ''}" is not a number`); return NaN; }
  if (range && (v < range.min || v > range.max)) p.add(`${where}: ${col} ${v} outside the plausible range ${range.min}..${range.max}`);
  return v;
}

function common(p: Problems, where: string, r: Record<string, string>, unit?: string): { year: number; source: string } {
  const year = num(p, where, 'year', r.year, PLAUSIBLE.year);
  if (Number.isFinite(year) && !Number.isInteger(year)) p.add(`${where}: year ${year} is not an integer`);
  const source = (r.source ?? '').trim();
  if (!source) p.add(`${where}: empty source`);
  if (unit !== undefined && r.unit !== unit) p.add(`${where}: unit "${r.unit ?? ''}", expected "${unit}"`);
  return { year, source };
}

function noDuplicates(p: Problems, file: string, keys: string[]): void {
  const seen = new Set<string>();
  for (const k of keys) {
    const key = k.toLowerCase();
    if (seen.has(key)) p.add(`${file}: duplicate id ${k}`);
    seen.add(key);
  }
}

// --------------------------------------------------------------------------------------------------
// Loading and validation

const cache = new Map<string, FactorTables>();

/** Loads and validates every table; throws ConfigError listing every problem at once. Cached per dir. */
export function loadFactorTables(dir: string = defaultFactorsDir()): FactorTables {
  const hit = cache.get(dir);
  if (hit) return hit;
  const tables = readFactorTables(dir);
  cache.set(dir, tables);
  return tables;
}

/** Like loadFactorTables, without the cache (tests point it at broken copies). */
export function readFactorTables(dir: string): FactorTables {
  const p = new Problems();
  const G = PLAUSIBLE.gridGCo2ePerKWh;

  const grid = (file: string, idCol: string, extra: string[] = []) =>
    readTable(dir, file, [idCol, 'name', 'gCo2ePerKWh', 'unit', 'year', 'source', ...extra], p).map((r, i) => {
      const id = (r[idCol] ?? '').trim();
      const where = `${file} row ${i + 2} (${id || '?'})`;
      if (!id) p.add(`${where}: empty ${idCol}`);
      return { r, row: { id, name: r.name ?? '', gCo2ePerKWh: num(p, where, 'gCo2ePerKWh', r.gCo2ePerKWh, G), ...common(p, where, r, G.unit) } };
    });

  const countries: CountryRow[] = grid('grid-countries.csv', 'alpha2', ['alpha3']).map(({ r, row }) => {
    const alpha3 = (r.alpha3 ?? '').trim();
    if (!/^[A-Z]{2}$/.test(row.id)) p.add(`grid-countries.csv (${row.id}): alpha2 must be two capital letters`);
    if (!/^[A-Z]{3}$/.test(alpha3)) p.add(`grid-countries.csv (${row.id}): alpha3 "${alpha3}" must be three capital letters`);
    return { ...row, alpha2: row.id, alpha3 };
  });
  noDuplicates(p, 'grid-countries.csv', countries.map((c) => c.alpha2));
  noDuplicates(p, 'grid-countries.csv', countries.map((c) => c.alpha3));

  const zones = grid('grid-zones.csv', 'zone').map(({ row }) => row);
  noDuplicates(p, 'grid-zones.csv', zones.map((z) => z.id));
  const egrid = grid('grid-egrid.csv', 'subregion').map(({ row }) => row);
  noDuplicates(p, 'grid-egrid.csv', egrid.map((z) => z.id));
  const zoneIds = new Set(zones.map((z) => z.id.toLowerCase()));

  const cloudRegions: CloudRegionRow[] = readTable(dir, 'cloud-regions.csv', ['region', 'provider', 'zone', 'country', 'year', 'source'], p).map((r, i) => {
    const region = (r.region ?? '').trim().toLowerCase();
    const where = `cloud-regions.csv row ${i + 2} (${region || '?'})`;
    const provider = (r.provider ?? '') as Provider;
    if (!['aws', 'gcp', 'azure'].includes(provider)) p.add(`${where}: provider "${provider}" is not aws, gcp or azure`);
    else if (!region.startsWith(`${provider}:`)) p.add(`${where}: region id must start with "${provider}:"`);
    const zone = (r.zone ?? '').trim();
    if (!zoneIds.has(zone.toLowerCase())) p.add(`${where}: zone "${zone}" is not in grid-zones.csv`);
    const country = (r.country ?? '').trim();
    if (!/^[A-Z]{2}$/.test(country)) p.add(`${where}: country "${country}" must be an ISO alpha-2 code`);
    return { region, provider, zone, country, ...common(p, where, r) };
  });
  noDuplicates(p, 'cloud-regions.csv', cloudRegions.map((c) => c.region));
  const regionIds = new Set(cloudRegions.map((c) => c.region));

  const efficiency = new Map<string, Map<'pue' | 'wue', ValueRow>>();
  readTable(dir, 'efficiency.csv', ['scope', 'factor', 'value', 'unit', 'year', 'source'], p).forEach((r, i) => {
    const scope = (r.scope ?? '').trim().toLowerCase();
    const factor = r.factor as 'pue' | 'wue';
    const where = `efficiency.csv row ${i + 2} (${scope} ${factor})`;
    if (factor !== 'pue' && factor !== 'wue') { p.add(`${where}: factor must be pue or wue`); return; }
    if (!(PROVIDERS as readonly string[]).includes(scope) && !regionIds.has(scope)) p.add(`${where}: scope is neither a provider (${PROVIDERS.join(', ')}) nor a listed cloud region`);
    const lim = PLAUSIBLE[factor];
    const row = { value: num(p, where, 'value', r.value, lim), unit: r.unit ?? '', ...common(p, where, r, lim.unit) };
    const m = efficiency.get(scope) ?? new Map<'pue' | 'wue', ValueRow>();
    if (m.has(factor)) p.add(`efficiency.csv: duplicate ${factor} for ${scope}`);
    m.set(factor, row);
    efficiency.set(scope, m);
  });
  for (const prov of PROVIDERS) {
    for (const f of ['pue', 'wue'] as const) if (!efficiency.get(prov)?.has(f)) p.add(`efficiency.csv: no ${f} for provider ${prov}`);
  }

  const ewif: EwifRow[] = readTable(dir, 'ewif-countries.csv', ['alpha2', 'alpha3', 'ewif', 'unit', 'year', 'source'], p).map((r, i) => {
    const alpha2 = (r.alpha2 ?? '').trim();
    const where = `ewif-countries.csv row ${i + 2} (${alpha2 || '?'})`;
    if (!/^[A-Z]{2}$/.test(alpha2)) p.add(`${where}: alpha2 must be two capital letters`);
    return { alpha2, alpha3: (r.alpha3 ?? '').trim(), value: num(p, where, 'ewif', r.ewif, PLAUSIBLE.ewif), unit: r.unit ?? '', ...common(p, where, r, PLAUSIBLE.ewif.unit) };
  });
  noDuplicates(p, 'ewif-countries.csv', ewif.map((e) => e.alpha2));

  const worldRows = new Map<string, ValueRow>();
  readTable(dir, 'world.csv', ['factor', 'value', 'unit', 'year', 'source'], p).forEach((r, i) => {
    const factor = r.factor ?? '';
    const where = `world.csv row ${i + 2} (${factor})`;
    if (factor !== 'gridGCo2ePerKWh' && factor !== 'ewif') { p.add(`${where}: unknown factor`); return; }
    if (worldRows.has(factor)) p.add(`world.csv: duplicate ${factor}`);
    const lim = PLAUSIBLE[factor];
    worldRows.set(factor, { value: num(p, where, 'value', r.value, lim), unit: r.unit ?? '', ...common(p, where, r, lim.unit) });
  });
  const worldGrid = worldRows.get('gridGCo2ePerKWh');
  const worldEwif = worldRows.get('ewif');
  if (!worldGrid) p.add('world.csv: no gridGCo2ePerKWh row');
  if (!worldEwif) p.add('world.csv: no ewif row');

  if (p.list.length || !worldGrid || !worldEwif) throw new ConfigError(p.list.map((m) => `factor tables (${dir}): ${m}`));
  return { dir, countries, zones, egrid, cloudRegions, efficiency, ewif, world: { gridGCo2ePerKWh: worldGrid, ewif: worldEwif } };
}

// --------------------------------------------------------------------------------------------------
// Resolution

export interface FactorResolverOptions {
  /** Directory of the tables; default config/factors of this package. */
  dir?: string;
  region?: string;
  overrides?: FactorOverrides;
  /** aws|gcp|azure|self-hosted; default: the cloud region's provider, else self-hosted. */
  provider?: string;
  /** Receives the warnings (also returned in `warnings`). */
  logger?: Logger;
}

/**
 * Resolves the factors for one configuration: explicit override → region table → world average.
 * Throws ConfigError for an unknown region, an unknown provider or an implausible override.
 */
export function createFactorResolver(opts: FactorResolverOptions = {}): ResolvedFactors {
  const t = loadFactorTables(opts.dir ?? defaultFactorsDir());
  const problems: string[] = [];
  const warnings: string[] = [];
  const o = opts.overrides ?? {};
  for (const k of ['gridGCo2ePerKWh', 'pue', 'wue', 'ewif'] as const) {
    const v = o[k];
    if (v === undefined) continue;
    const lim = PLAUSIBLE[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lim.min || v > lim.max) {
      problems.push(`override ${k} = ${String(v)} is outside ${lim.min}..${lim.max} ${lim.unit}`);
    }
  }

  const match = opts.region !== undefined && opts.region.trim() !== '' ? findRegion(t, opts.region) : undefined;
  if (opts.region !== undefined && opts.region.trim() !== '' && !match) problems.push(...unknownRegionError(t, opts.region).problems);

  let provider: Provider = match?.cloud?.provider ?? 'self-hosted';
  if (opts.provider !== undefined) {
    const p = opts.provider.trim().toLowerCase();
    if ((PROVIDERS as readonly string[]).includes(p)) provider = p as Provider;
    else problems.push(`provider "${opts.provider}" is not one of ${PROVIDERS.join(', ')}`);
  }
  if (problems.length) throw new ConfigError(problems);

  const override = (k: keyof FactorOverrides, unit: string): FactorOrigin | undefined => {
    const v = o[k];
    return v === undefined ? undefined : { value: v, unit, resolution: 'override', source: 'override', from: 'override' };
  };
  const fromRow = (row: ValueRow, from: string, resolution: 'region' | 'world'): FactorOrigin =>
    ({ value: row.value, unit: row.unit, resolution, source: row.source, from, year: row.year });

  // Grid intensity
  let grid = override('gridGCo2ePerKWh', PLAUSIBLE.gridGCo2ePerKWh.unit);
  let gridLabel = 'override';
  if (!grid && match) {
    grid = { value: match.grid.gCo2ePerKWh, unit: 'gCO2e/kWh', resolution: 'region', source: match.grid.source, from: match.grid.id, year: match.grid.year };
    gridLabel = match.kind === 'country' ? 'static:ember' : match.kind === 'egrid' ? 'static:egrid' : 'static:electricitymaps';
  }
  if (!grid) {
    grid = fromRow(t.world.gridGCo2ePerKWh, 'world', 'world');
    gridLabel = 'static:world';
    warnings.push(`no region configured: using the world average grid intensity ${t.world.gridGCo2ePerKWh.value} gCO2e/kWh (${t.world.gridGCo2ePerKWh.year}); set --region for numbers that mean something`);
  }

  // PUE and on-site WUE: per-region row (only for the region's own provider), else provider fleet.
  const regionScope = match?.cloud && match.cloud.provider === provider ? t.efficiency.get(match.cloud.region) : undefined;
  const eff = (k: 'pue' | 'wue'): FactorOrigin => {
    const ov = override(k, PLAUSIBLE[k].unit);
    if (ov) return ov;
    const regional = regionScope?.get(k);
    if (regional) return fromRow(regional, match!.cloud!.region, 'region');
    return fromRow(t.efficiency.get(provider)!.get(k)!, provider, 'region');
  };
  const pue = eff('pue');
  const wue = eff('wue');

  // Off-site EWIF by the grid's country, else the world default.
  let ewif = override('ewif', PLAUSIBLE.ewif.unit);
  if (!ewif && match) {
    const row = t.ewif.find((e) => e.alpha2 === match.country);
    if (row) ewif = fromRow(row, row.alpha2, 'region');
    else warnings.push(`no off-site water factor (EWIF) for ${match.country}: using the world default ${t.world.ewif.value} L/kWh`);
  }
  if (!ewif) ewif = fromRow(t.world.ewif, 'world', 'world');

  for (const w of warnings) opts.logger?.warn(w);
  return {
    region: match?.id ?? 'world',
    gridGCo2ePerKWh: grid.value,
    pue: pue.value,
    wue: wue.value,
    ewif: ewif.value,
    source: gridLabel,
    ...(grid.year !== undefined ? { year: grid.year } : {}),
    resolution: grid.resolution,
    details: { gridGCo2ePerKWh: grid, pue, wue, ewif },
    warnings,
  };
}
