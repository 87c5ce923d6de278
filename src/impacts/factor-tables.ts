/**
 * Factor tables (config/factors/*.csv, built by scripts/build-factors.mjs) loaded and validated at
 * start-up, and region resolution (docs/design.md#impacts): explicit override → region table → world average.
 *
 * Region ids, case-insensitive:
 *   cloud region   `aws:us-east-1`, `gcp:europe-west1`, `azure:westeurope`  → its grid zone
 *   eGRID          `CAMX` or `egrid:CAMX` (US subregions, EPA eGRID2022)
 *   country        `FR`, `FRA`, `country:FR` or its name as listed, `France` (ISO 3166 alpha-2/alpha-3;
 *                  Ember yearly average)
 *   grid zone      `US-CAL-CISO`, `SE-SE3` or `zone:DE` (Electricity Maps ids; 2024 yearly, lifecycle)
 * A bare id that is both a country and a zone (`DE`) resolves as a country; `zone:DE` asks for the zone.
 * An unknown id is a configuration error with near matches, never a silent world average.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
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
// Region lookup

export type RegionKind = 'cloud' | 'egrid' | 'country' | 'zone';
export interface RegionMatch {
  kind: RegionKind;
  /** Canonical id (`aws:us-east-1`, `CAMX`, `FR`, `US-CAL-CISO`). */
  id: string;
  name: string;
  grid: GridRow;
  /** ISO alpha-2 of the country the grid is in (for EWIF). */
  country: string;
  cloud?: CloudRegionRow;
}

function indexOf(t: FactorTables) {
  const byCountry = new Map<string, CountryRow>();
  for (const c of t.countries) { byCountry.set(c.alpha2.toLowerCase(), c); byCountry.set(c.alpha3.toLowerCase(), c); }
  // Names as `inferwatt factors` lists them (France, United Kingdom), compared without case.
  const byCountryName = new Map(t.countries.map((c) => [c.name.trim().toLowerCase(), c]));
  const byZone = new Map(t.zones.map((z) => [z.id.toLowerCase(), z]));
  const byEgrid = new Map(t.egrid.map((z) => [z.id.toLowerCase(), z]));
  const byRegion = new Map(t.cloudRegions.map((r) => [r.region, r]));
  return { byCountry, byCountryName, byZone, byEgrid, byRegion };
}
const indexes = new WeakMap<FactorTables, ReturnType<typeof indexOf>>();
function idx(t: FactorTables) {
  let i = indexes.get(t);
  if (!i) { i = indexOf(t); indexes.set(t, i); }
  return i;
}

/** Looks a region id up; undefined when no table knows it. */
export function findRegion(t: FactorTables, regionId: string): RegionMatch | undefined {
  const { byCountry, byCountryName, byZone, byEgrid, byRegion } = idx(t);
  const raw = regionId.trim();
  const key = raw.toLowerCase();
  const colon = key.indexOf(':');
  const prefix = colon >= 0 ? key.slice(0, colon) : undefined;
  const rest = colon >= 0 ? key.slice(colon + 1) : key;

  const asCountry = (c: CountryRow): RegionMatch => ({ kind: 'country', id: c.alpha2, name: c.name, grid: c, country: c.alpha2 });
  const asZone = (z: GridRow): RegionMatch => ({ kind: 'zone', id: z.id, name: z.name, grid: z, country: z.id.split('-')[0]! });
  const asEgrid = (z: GridRow): RegionMatch => ({ kind: 'egrid', id: z.id, name: z.name, grid: z, country: 'US' });

  if (prefix === 'aws' || prefix === 'gcp' || prefix === 'azure') {
    const c = byRegion.get(key);
    const z = c && byZone.get(c.zone.toLowerCase());
    return c && z ? { kind: 'cloud', id: c.region, name: `${z.name} (${c.zone})`, grid: z, country: c.country, cloud: c } : undefined;
  }
  if (prefix === 'zone') { const z = byZone.get(rest); return z && asZone(z); }
  if (prefix === 'egrid') { const z = byEgrid.get(rest); return z && asEgrid(z); }
  if (prefix === 'country') { const c = byCountry.get(rest) ?? byCountryName.get(rest); return c && asCountry(c); }
  if (prefix !== undefined) return undefined;
  const e = byEgrid.get(key);
  if (e) return asEgrid(e);
  const c = byCountry.get(key);
  if (c) return asCountry(c);
  const z = byZone.get(key);
  if (z) return asZone(z);
  const named = byCountryName.get(key.replace(/\s+/g, ' '));
  return named && asCountry(named);
}

/** Every region id the tables know, for `inferwatt factors` and suggestions. */
export function listRegions(t: FactorTables): { kind: RegionKind; id: string; name: string; alias?: string }[] {
  return [
    ...t.cloudRegions.map((r) => ({ kind: 'cloud' as const, id: r.region, name: r.zone })),
    ...t.countries.map((c) => ({ kind: 'country' as const, id: c.alpha2, alias: c.alpha3, name: c.name })),
    ...t.egrid.map((z) => ({ kind: 'egrid' as const, id: z.id, name: z.name })),
    ...t.zones.map((z) => ({ kind: 'zone' as const, id: z.id, name: z.name })),
  ];
}

export function editDistance(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  let prev = Array.from({ length: n + 1 }, (_, j) => j);
  for (let i = 1; i <= m; i++) {
    const cur = [i];
    for (let j = 1; j <= n; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[n]!;
}

/** Up to `limit` known ids close to `regionId`: small edit distance, or the same region under a prefix. */
export function suggestRegions(t: FactorTables, regionId: string, limit = 5): string[] {
  const q = regionId.trim().toLowerCase();
  const bare = q.includes(':') ? q.slice(q.indexOf(':') + 1) : q;
  const maxD = Math.max(2, Math.floor(q.length / 3));
  const scored: { id: string; d: number }[] = [];
  const seen = new Set<string>();
  for (const r of listRegions(t)) {
    const ids = [r.id, ...(r.alias ? [r.alias] : []), ...(r.kind === 'country' ? [r.name] : [])];
    for (const id of ids) {
      const lower = id.toLowerCase();
      const tail = lower.includes(':') ? lower.slice(lower.indexOf(':') + 1) : lower;
      let d = Math.min(editDistance(q, lower), editDistance(bare, tail) + (q === bare ? 0 : 1));
      if (tail === bare) d = Math.min(d, 0.5); // `eu-west-1` → `aws:eu-west-1`; `zone:FR` → `FR`
      if (d <= maxD && !seen.has(r.id)) { seen.add(r.id); scored.push({ id: r.id, d }); }
    }
  }
  return scored.sort((a, b) => a.d - b.d || a.id.localeCompare(b.id)).slice(0, limit).map((s) => s.id);
}

export function unknownRegionError(t: FactorTables, regionId: string): ConfigError {
  const near = suggestRegions(t, regionId);
  return new ConfigError([
    `region "${regionId}" is not in the factor tables${near.length ? `; did you mean ${near.join(', ')}?` : ''} (\`inferwatt factors\` lists them)`,
  ]);
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

/**
 * The Electricity Maps zone to ask for live intensity for a region, if there is one: a cloud region's zone,
 * a zone itself, or a country whose code is also a zone id. eGRID subregions have none (undefined).
 */
export function gridZoneOf(t: FactorTables, regionId: string): string | undefined {
  const m = findRegion(t, regionId);
  if (!m) return undefined;
  if (m.kind === 'cloud') return m.cloud!.zone;
  if (m.kind === 'zone') return m.id;
  if (m.kind === 'country') return findRegion(t, `zone:${m.id}`)?.id;
  return undefined;
}
