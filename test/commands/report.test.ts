import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { CSV_COLUMNS } from '../../src/report/render/csv.js';
import type { Report } from '../../src/report/types.js';

/**
 * `inferwatt report` as a user meets it: the help, every usage problem at once with exit 2, and the
 * five formats of one report (from a records file written here).
 */
async function run(args: string[]): Promise<{ rc: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const rc = await main(args, { stdout: (s) => { out += s; }, stderr: (s) => { err += s; }, env: {} });
  return { rc, out, err };
}

const dir = mkdtempSync(join(tmpdir(), 'inferwatt-report-cli-'));
const records = join(dir, 'records.jsonl');
const rec = (id: string, model: string, tenant: string | null, startedAt: string, j: number) => JSON.stringify({
  id, model, tenant, startedAt, durationMs: 1000, ttfbMs: 50, outcome: 'ok', status: 200, promptTokens: 12, completionTokens: 30,
  energyJ: { gpu: j, cpu: 0, dram: 0, total: j }, idleShareJ: 0, co2eGrams: (j / 3.6e6) * 1.56 * 44.18,
  waterLiters: { onsite: 0, offsite: 0, total: 0 }, factors: { region: 'FR', gridGCo2ePerKWh: 44.18, pue: 1.56, wue: 0.55, ewif: 3.6737, source: 'static:ember' },
  attribution: 'time', complete: true, pool: 'default', api: 'openai.chat', energyByDeviceJ: { 'sim-gpu0': j },
});
writeFileSync(records, [
  rec('1', 'llama-3.1-8b', 'search', '2025-05-01T08:00:00Z', 120),
  rec('2', 'llama-3.1-8b', 'chat', '2025-05-01T09:00:00Z', 150),
  rec('3', 'qwen2.5-72b', 'chat', '2025-05-01T10:00:00Z', 900),
  rec('4', 'qwen2.5-72b', null, '2025-05-01T11:00:00Z', 800),
].join('\n') + '\n');
const base = ['report', '--records', records, '--from', '2025-05-01', '--to', '2025-05-02', '--by', 'model,tenant'];

describe('inferwatt report on the command line', () => {
  it('is listed by inferwatt --help, and report --help says how to use it (exit 0)', async () => {
    expect((await run(['--help'])).out).toMatch(/\n {2}report \[flags\] +totals, CO2e/);
    const help = await run(['report', '--help']);
    expect(help.rc).toBe(0);
    expect(help.out).toMatch(/--prometheus URL[\s\S]*--records FILE[\s\S]*--from TIME[\s\S]*--by KEYS[\s\S]*--format F[\s\S]*--out FILE/);
  });

  it('lists every usage problem at once and exits 2', async () => {
    const r = await run(['report', '--by', 'model,region,model', '--format', 'pdf', '--from', 'yesterday', '--match', 'x="y"']);
    expect(r.rc).toBe(2);
    expect(r.err).toContain('no source: give --prometheus URL or --records FILE');
    expect(r.err).toContain('unknown group key "region" in --by (known: model, tenant, pool, instance, cluster)');
    expect(r.err).toContain('--by names model twice');
    expect(r.err).toContain('unknown --format "pdf" (known: table, csv, json, md, html)');
    expect(r.err).toContain('--from "yesterday" is not a time');
    expect(r.err).toContain('--match selects agents in Prometheus: it needs --prometheus');
    expect(r.err).toMatch(/^inferwatt report: 6 problems:/);
    const both = await run(['report', '--records', records, '--prometheus', 'localhost:9090', '--by', 'instance']);
    expect(both.rc).toBe(2);
    expect(both.err).toContain('give --prometheus or --records, not both');
    expect(both.err).toContain('--prometheus "localhost:9090" is not an http:// or https:// URL');
    const recordsByHost = await run(['report', '--records', records, '--by', 'cluster,model']);
    expect(recordsByHost).toMatchObject({ rc: 2, err: expect.stringContaining('--by cluster: records do not say which instance or cluster they came from; use --prometheus') });
    expect((await run(['report', '--records', records, '--bogus'])).rc).toBe(2);
  });

  it('an invalid impacts.market or impacts.embodied in --config is a usage error listed with the others', async () => {
    const cfg = join(dir, 'bad.yaml');
    writeFileSync(cfg, [
      'impacts:',
      '  market:',
      '    - { region: FR, from: "2025-01-01", to: "2025-12-31", gCo2ePerKWh: 20, kind: residual-mix, source: a, year: 2025 }',
      '    - { region: fr, from: "2025-06-01", to: null, gCo2ePerKWh: 30, kind: residual-mix, source: b, year: 2025 }',
      '    - { region: DE, from: "2025-06-01T00:00:00", to: "2025-01-01", gCo2ePerKWh: 30, kind: green, source: c, year: 2025 }',
      '  embodied: { hostKgCo2e: 3700, lifetimeYears: null, source: null, year: null }',
    ].join('\n'));
    const r = await run([...base, '--config', cfg]);
    expect(r.rc).toBe(2);
    expect(r.err).toMatch(/impacts\.market\.2\.from: must be a date/);
    expect(r.err).toMatch(/impacts\.market\.2\.kind/);
    expect(r.err).toContain('impacts.embodied.lifetimeYears: hostKgCo2e and lifetimeYears go together');
    expect(r.err).toContain('impacts.embodied.source: say where the embodied figure comes from');
    // Overlaps and reversed periods are checked once each entry is valid.
    writeFileSync(cfg, [
      'impacts:',
      '  market:',
      '    - { region: FR, from: "2025-01-01", to: "2025-12-31", gCo2ePerKWh: 20, kind: residual-mix, source: a, year: 2025 }',
      '    - { region: fr, from: "2025-06-01", to: null, gCo2ePerKWh: 30, kind: residual-mix, source: b, year: 2025 }',
      '    - { region: FR, from: "2025-06-01", to: null, gCo2ePerKWh: 5, kind: supplier-specific, source: c, year: 2025 }',
      '    - { region: DE, from: "2025-06-01", to: "2025-01-01", gCo2ePerKWh: 30, kind: residual-mix, source: d, year: 2025 }',
    ].join('\n'));
    const o = await run([...base, '--config', cfg]);
    expect(o.rc).toBe(2);
    expect(o.err).toContain('impacts.market.1: overlaps entry 0: two residual-mix factors for FR at the same time');
    expect(o.err).toContain('impacts.market.3.to: must be after from (2025-06-01)');
    expect(o.err).toMatch(/^inferwatt report: 2 problems:/);
  });

  it('json: the shape of the contract (period, source, boundary, attribution, factors, groups, totals) and what the report adds', async () => {
    const { rc, out } = await run([...base, '--format', 'json']);
    expect(rc).toBe(0);
    const r = JSON.parse(out) as Report;
    expect(Object.keys(r)).toEqual(['period', 'source', 'groupBy', 'boundary', 'attribution', 'coverage', 'tool', 'factors', 'groups', 'totals', 'timeline']);
    expect(r.period).toEqual({ from: '2025-05-01T00:00:00.000Z', to: '2025-05-02T00:00:00.000Z' });
    const figureKeys = ['requests', 'promptTokens', 'completionTokens', 'energyJ', 'co2eGrams', 'waterLiters', 'sci', 'intensity'];
    expect(Object.keys(r.totals)).toEqual(figureKeys);
    for (const g of r.groups) expect(Object.keys(g)).toEqual(['model', 'tenant', ...figureKeys]);
    expect(Object.keys(r.totals.energyJ)).toEqual(['attributed', 'idle', 'facility']);
    expect(Object.keys(r.totals.co2eGrams)).toEqual(['location', 'market', 'embodied']);
    expect(Object.keys(r.totals.waterLiters)).toEqual(['onsite', 'offsite', 'total']);
    expect(Object.keys(r.totals.sci)).toEqual(['gPerQuery', 'gPer1kTokens']);
    expect(r.totals.co2eGrams.market).toBeNull();
    expect(r.groups.map((g) => [g.model, g.tenant, g.requests])).toEqual([['qwen2.5-72b', 'chat', 1], ['qwen2.5-72b', 'unknown', 1], ['llama-3.1-8b', 'chat', 1], ['llama-3.1-8b', 'search', 1]]);
    expect(r.factors.map((f) => f.factor)).toEqual(['gridGCo2ePerKWh', 'pue', 'wue', 'ewif']);
    expect(r.tool).toMatchObject({ name: 'inferwatt', version: JSON.parse(readFileSync('package.json', 'utf8')).version });
  });

  it('csv: a header and one row per group, then the total, in base units at full precision', async () => {
    const { rc, out } = await run([...base, '--format', 'csv']);
    expect(rc).toBe(0);
    const lines = out.trimEnd().split('\r\n');
    expect(lines[0]).toBe(['row', 'model', 'tenant', ...CSV_COLUMNS].join(','));
    expect(lines).toHaveLength(1 + 4 + 1);
    expect(lines[5]).toMatch(/^total,,,4,48,120,1970,0,3073\.2,/);
    // market and embodied not configured: empty fields, not 0.
    const cells = lines[5]!.split(',');
    expect([cells[CSV_COLUMNS.indexOf('co2e_market_g') + 3], cells[CSV_COLUMNS.indexOf('co2e_embodied_g') + 3]]).toEqual(['', '']);
  });

  it('table and md: the figures, intensities, method, factors and coverage; --out writes the file', async () => {
    const table = await run([...base, '--format', 'table']);
    expect(table.out).toMatch(/^inferwatt report\n {2}Period: 2025-05-01T00:00:00\.000Z – 2025-05-02T00:00:00\.000Z/);
    expect(table.out).toMatch(/\nTOTAL +4 +48 +120 /);
    expect(table.out).toMatch(/SCI gCO2e\/query/);
    expect(table.out).toMatch(/Boundary:\n {2}Hosts: 1; measured devices: 1 × device \(as recorded\)/);
    expect(table.out).toMatch(/Factors:\n.*factor +region/);
    const out = join(dir, 'report.md');
    const md = await run([...base, '--format', 'md', '--out', out]);
    expect(md).toMatchObject({ rc: 0, out: '', err: expect.stringMatching(/wrote .*report\.md \(md, 4 groups, 4 requests\)/) });
    const text = readFileSync(out, 'utf8');
    expect(text).toMatch(/^# inferwatt report\n/);
    expect(text).toMatch(/\n## Totals\n\n\| model \| tenant \| requests \|/);
    expect(text).toMatch(/\n\| TOTAL \| {2}\| 4 \| 48 \| 120 \|/);
    expect(text).toMatch(/\n## Method\n[\s\S]*SCI = \(\(E × I\) \+ M\) \/ R/);
  });

  it('html: one file, no script, no external resource, a CSP that forbids fetching, and four charts', async () => {
    const { rc, out } = await run([...base, '--format', 'html']);
    expect(rc).toBe(0);
    expect(out).toMatch(/^<!doctype html>/);
    expect(out).toContain(`content="default-src 'none'; style-src 'unsafe-inline'"`);
    expect(out).not.toMatch(/<script|<link|<img|@import|url\(/i);
    expect(out.match(/<svg class="chart"/g)).toHaveLength(4);
    // The only URLs are the SVG namespace and the specification's address in the method text.
    expect([...new Set(out.match(/https?:\/\/[^\s"<)]+[^\s"<).,;]/g))].sort()).toEqual(['http://www.w3.org/2000/svg', 'https://github.com/Green-Software-Foundation/sci/blob/main/SPEC.md']);
  });
});
