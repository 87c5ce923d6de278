import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import { createLogger } from '../../src/core/logger.js';
import { createFactorResolver, defaultFactorsDir, loadFactorTables, PLAUSIBLE, readFactorTables } from '../../src/impacts/factor-tables.js';
import { editDistance, findRegion, gridZoneOf, suggestRegions } from '../../src/impacts/regions.js';

const SHIPPED = resolve(__dirname, '../../config/factors');
const tmpDirs: string[] = [];
afterAll(() => { for (const d of tmpDirs) rmSync(d, { recursive: true, force: true }); });

/** A copy of the shipped tables with one file edited. */
function brokenCopy(edit: (dir: string) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'inferwatt-factors-'));
  tmpDirs.push(dir);
  cpSync(SHIPPED, dir, { recursive: true });
  edit(dir);
  return dir;
}
const editFile = (dir: string, file: string, fn: (text: string) => string) =>
  writeFileSync(join(dir, file), fn(readFileSync(join(dir, file), 'utf8')));

function configProblems(fn: () => unknown): string[] {
  try { fn(); } catch (err) { expect(err).toBeInstanceOf(ConfigError); return [...(err as ConfigError).problems]; }
  throw new Error('expected a ConfigError');
}

describe('shipped factor tables', () => {
  const t = loadFactorTables(SHIPPED);

  it('the default directory is config/factors of this package', () => {
    expect(defaultFactorsDir()).toBe(SHIPPED);
  });

  it('load and validate with the expected coverage', () => {
    expect(t.countries.length).toBeGreaterThanOrEqual(200);
    expect(t.zones.length).toBeGreaterThanOrEqual(300);
    expect(t.egrid.length).toBe(27);
    expect(t.cloudRegions.length).toBeGreaterThanOrEqual(120);
    expect(t.ewif.length).toBeGreaterThanOrEqual(49);
    for (const p of ['aws', 'gcp', 'azure']) expect(t.cloudRegions.some((r) => r.provider === p)).toBe(true);
  });

  it('every row has a source, an integer year and a value in the plausible range', () => {
    const grids = [...t.countries, ...t.zones, ...t.egrid];
    for (const g of grids) {
      expect(g.source.length).toBeGreaterThan(0);
      expect(Number.isInteger(g.year)).toBe(true);
      expect(g.gCo2ePerKWh).toBeGreaterThanOrEqual(PLAUSIBLE.gridGCo2ePerKWh.min);
      expect(g.gCo2ePerKWh).toBeLessThanOrEqual(PLAUSIBLE.gridGCo2ePerKWh.max);
    }
    for (const [scope, m] of t.efficiency) {
      for (const [k, row] of m) {
        expect(row.unit, `${scope} ${k}`).toBe(k === 'pue' ? 'ratio' : 'L/kWh');
        expect(row.source.length).toBeGreaterThan(0);
      }
    }
    expect(t.world.gridGCo2ePerKWh.value).toBeCloseTo(472.94, 2); // Ember World 2024
    expect(t.world.ewif.value).toBeCloseTo(3.908, 3); // EcoLogits WOR
  });

  it('every listed cloud region resolves to a factor from its zone, with its provider PUE/WUE', () => {
    for (const r of t.cloudRegions) {
      const f = createFactorResolver({ dir: SHIPPED, region: r.region });
      expect(f.region).toBe(r.region);
      expect(f.resolution).toBe('region');
      expect(f.source).toBe('static:electricitymaps');
      expect(f.details.gridGCo2ePerKWh.from).toBe(r.zone);
      expect(f.details.pue.from.startsWith(r.provider)).toBe(true);
      expect(Number.isFinite(f.gridGCo2ePerKWh) && Number.isFinite(f.ewif)).toBe(true);
    }
  });

  it('every country (alpha-2 and alpha-3), eGRID subregion and zone resolves', () => {
    for (const c of t.countries) {
      expect(findRegion(t, c.alpha2)?.id).toBe(c.alpha2);
      expect(findRegion(t, c.alpha3)?.id).toBe(c.alpha2);
    }
    for (const e of t.egrid) expect(findRegion(t, e.id)?.kind).toBe('egrid');
    for (const z of t.zones) expect(findRegion(t, `zone:${z.id}`)?.grid.gCo2ePerKWh).toBe(z.gCo2ePerKWh);
  });
});

describe('table validation', () => {
  it('lists every problem at once: duplicate, unit, range, empty source, unknown zone', () => {
    const dir = brokenCopy((d) => {
      editFile(d, 'grid-countries.csv', (s) => s + s.split('\n')[1] + '\n'); // duplicate first row
      editFile(d, 'grid-zones.csv', (s) => s.replace(/^(AE,[^,]*,)383,gCO2e\/kWh/m, '$10.383,kgCO2e/kWh')); // wrong unit
      editFile(d, 'grid-egrid.csv', (s) => s.replace(/^CAMX,WECC California,226.5/m, 'CAMX,WECC California,226500')); // g/MWh slip
      editFile(d, 'efficiency.csv', (s) => s.replace(/^aws,pue,1.15,ratio,2024,[^\n]*/m, 'aws,pue,0.9,ratio,2024,')); // PUE < 1, no source
      editFile(d, 'cloud-regions.csv', (s) => s.replace(/^aws:us-east-1,aws,US-MIDA-PJM/m, 'aws:us-east-1,aws,US-NOWHERE'));
    });
    const problems = configProblems(() => readFactorTables(dir));
    const all = problems.join('\n');
    expect(all).toMatch(/grid-countries\.csv: duplicate id AE/);
    expect(all).toMatch(/grid-zones\.csv row \d+ \(AE\): unit "kgCO2e\/kWh", expected "gCO2e\/kWh"/);
    expect(all).toMatch(/grid-egrid\.csv row \d+ \(CAMX\): gCo2ePerKWh 226500 outside the plausible range/);
    expect(all).toMatch(/efficiency\.csv row \d+ \(aws pue\): value 0\.9 outside the plausible range 1\.\.3/);
    expect(all).toMatch(/efficiency\.csv row \d+ \(aws pue\): empty source/);
    expect(all).toMatch(/cloud-regions\.csv row \d+ \(aws:us-east-1\): zone "US-NOWHERE" is not in grid-zones\.csv/);
    expect(problems.length).toBeGreaterThanOrEqual(6);
  });

  it('a missing column or file is reported, not a crash', () => {
    const dir = brokenCopy((d) => {
      editFile(d, 'ewif-countries.csv', (s) => s.replace('alpha2,alpha3,ewif,', 'alpha2,alpha3,water,'));
      rmSync(join(d, 'world.csv'));
    });
    const all = configProblems(() => readFactorTables(dir)).join('\n');
    expect(all).toMatch(/ewif-countries\.csv: missing column\(s\) ewif/);
    expect(all).toMatch(/world\.csv: cannot read \(ENOENT\)/);
  });

  it('a non-numeric value and a non-integer year are problems', () => {
    const dir = brokenCopy((d) => editFile(d, 'grid-countries.csv', (s) => s.replace(/^(FR,FRA,France,)[^,]+,gCO2e\/kWh,\d+/m, '$1n/a,gCO2e/kWh,2024.5')));
    const all = configProblems(() => readFactorTables(dir)).join('\n');
    expect(all).toMatch(/\(FR\): gCo2ePerKWh "n\/a" is not a number/);
    expect(all).toMatch(/\(FR\): year 2024.5 is not an integer/);
  });
});

describe('resolution: override → region → world', () => {
  it('a region supplies the grid intensity, its country EWIF and the provider PUE/WUE', () => {
    const f = createFactorResolver({ dir: SHIPPED, region: 'aws:eu-west-1' });
    expect(f).toMatchObject({ region: 'aws:eu-west-1', gridGCo2ePerKWh: 352, pue: 1.15, ewif: 1.4769, resolution: 'region', year: 2024 });
    expect(f.wue).toBe(0.03); // AWS publishes eu-west-1's own WUE; it wins over the fleet's 0.15
    expect(f.details.wue.from).toBe('aws:eu-west-1');
    expect(f.details.ewif.from).toBe('IE');
    expect(f.warnings).toEqual([]);
  });

  it('explicit overrides win over the region, factor by factor', () => {
    const f = createFactorResolver({ dir: SHIPPED, region: 'FR', overrides: { gridGCo2ePerKWh: 100, wue: 0 } });
    expect(f.gridGCo2ePerKWh).toBe(100);
    expect(f.resolution).toBe('override');
    expect(f.source).toBe('override');
    expect(f.wue).toBe(0); // a real 0 is kept, not replaced by a default
    expect(f.details.pue.resolution).toBe('region');
    expect(f.ewif).toBeCloseTo(3.6737, 4); // France's EWIF still comes from the table
  });

  it('no region: world average, with a warning (also logged)', () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'warn', write: (l) => lines.push(l) });
    const f = createFactorResolver({ dir: SHIPPED, logger });
    expect(f).toMatchObject({ region: 'world', gridGCo2ePerKWh: 472.94, ewif: 3.908, resolution: 'world', source: 'static:world' });
    expect(f.warnings).toHaveLength(1);
    expect(f.warnings[0]).toMatch(/no region configured/);
    expect(lines.join('\n')).toMatch(/world average/);
  });

  it('self-hosted is the default provider outside a cloud region; --provider changes it', () => {
    const self = createFactorResolver({ dir: SHIPPED, region: 'US-CAL-CISO' });
    expect(self).toMatchObject({ pue: 1.56, wue: 0.55, gridGCo2ePerKWh: 229, source: 'static:electricitymaps' });
    expect(self.details.ewif.from).toBe('US');
    const gcp = createFactorResolver({ dir: SHIPPED, region: 'US-CAL-CISO', provider: 'gcp' });
    expect(gcp).toMatchObject({ pue: 1.09, wue: 1.1 });
  });

  it('a bare id that is a country resolves to the country (Ember); zone: asks for the zone', () => {
    const country = createFactorResolver({ dir: SHIPPED, region: 'DE' });
    const zone = createFactorResolver({ dir: SHIPPED, region: 'zone:DE' });
    expect(country.source).toBe('static:ember');
    expect(zone.source).toBe('static:electricitymaps');
    expect(zone.gridGCo2ePerKWh).toBe(341);
    expect(createFactorResolver({ dir: SHIPPED, region: 'deu' }).gridGCo2ePerKWh).toBe(country.gridGCo2ePerKWh);
  });

  it('eGRID subregions resolve with the US EWIF', () => {
    const f = createFactorResolver({ dir: SHIPPED, region: 'egrid:camx' });
    expect(f).toMatchObject({ region: 'CAMX', gridGCo2ePerKWh: 226.5, year: 2022, source: 'static:egrid' });
    expect(f.details.ewif.from).toBe('US');
  });

  it('ids are case-insensitive', () => {
    expect(createFactorResolver({ dir: SHIPPED, region: 'AWS:EU-WEST-1' }).region).toBe('aws:eu-west-1');
    expect(createFactorResolver({ dir: SHIPPED, region: 'us-cal-ciso' }).region).toBe('US-CAL-CISO');
  });

  it('a country without an EWIF row falls back to the world EWIF and says so', () => {
    const f = createFactorResolver({ dir: SHIPPED, region: 'KE' });
    expect(f.ewif).toBe(3.908);
    expect(f.details.ewif.resolution).toBe('world');
    expect(f.warnings.join()).toMatch(/no off-site water factor \(EWIF\) for KE/);
  });

  it('an unknown region is a ConfigError with near matches, never the world average', () => {
    const problems = configProblems(() => createFactorResolver({ dir: SHIPPED, region: 'aws:eu-wset-1' }));
    expect(problems[0]).toMatch(/region "aws:eu-wset-1" is not in the factor tables; did you mean aws:eu-west-1/);
  });

  it('suggestions find the prefixed id for a bare cloud region name', () => {
    expect(suggestRegions(loadFactorTables(SHIPPED), 'eu-west-1')[0]).toBe('aws:eu-west-1');
    expect(suggestRegions(loadFactorTables(SHIPPED), 'US-CAL-CISCO')[0]).toBe('US-CAL-CISO');
    expect(suggestRegions(loadFactorTables(SHIPPED), 'qqqqqqqqqqqq')).toEqual([]);
  });

  it('an unknown provider and an implausible override are listed together', () => {
    const problems = configProblems(() => createFactorResolver({ dir: SHIPPED, region: 'FR', provider: 'oracle', overrides: { pue: 0.5 } }));
    expect(problems).toHaveLength(2);
    expect(problems.join('\n')).toMatch(/override pue = 0.5/);
    expect(problems.join('\n')).toMatch(/provider "oracle"/);
  });

  it('gridZoneOf gives the live-data zone of a region', () => {
    const t = loadFactorTables(SHIPPED);
    expect(gridZoneOf(t, 'aws:eu-west-1')).toBe('IE');
    expect(gridZoneOf(t, 'gcp:us-west2')).toBe('US-CAL-CISO');
    expect(gridZoneOf(t, 'FR')).toBe('FR');
    expect(gridZoneOf(t, 'SE-SE3')).toBe('SE-SE3');
    expect(gridZoneOf(t, 'CAMX')).toBeUndefined();
    expect(gridZoneOf(t, 'nowhere')).toBeUndefined();
  });

  it('edit distance is the Levenshtein distance', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('fr', 'fr')).toBe(0);
  });
});
