/**
 * Region ids resolved against the factor tables (factor-tables.ts), case-insensitive:
 *   cloud region   `aws:us-east-1`, `gcp:europe-west1`, `azure:westeurope`  → its grid zone
 *   eGRID          `CAMX` or `egrid:CAMX` (US subregions, EPA eGRID2022)
 *   country        `FR`, `FRA`, `country:FR` or its name as listed, `France` (ISO 3166 alpha-2/alpha-3;
 *                  Ember yearly average)
 *   grid zone      `US-CAL-CISO`, `SE-SE3` or `zone:DE` (Electricity Maps ids; 2024 yearly, lifecycle)
 * A bare id that is both a country and a zone (`DE`) resolves as a country; `zone:DE` asks for the zone.
 * An unknown id is a configuration error with near matches (`suggestRegions`), never a silent world average.
 */
import { ConfigError } from '../core/errors.js';
import type { CloudRegionRow, CountryRow, FactorTables, GridRow } from './factor-tables.js';

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
