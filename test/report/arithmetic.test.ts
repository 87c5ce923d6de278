import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RequestRecord } from '../../src/exporter/record.js';
import { createReport, type ReportOptions } from '../../src/report/create-report.js';
import type { MarketFactorRow } from '../../src/report/market-factors.js';
import type { Report } from '../../src/report/types.js';

/**
 * Scenario: three request records with round numbers, and the report's figures against a hand
 * computation of every one (facility, location CO2e, water, embodied by time share, market-based
 * with a supplier-specific and a residual-mix factor, SCI per query and per 1,000 tokens).
 *
 *   r1  m1/t1  00:30:00 + 1 s  3600 J  FR factors: 100 g/kWh, PUE 1.5, WUE 2, EWIF 4   100 + 400 tokens
 *   r2  m1/t2  01:00:00 + 2 s  7200 J  FR                                                 50 + 150 tokens
 *   r3  m2/t1  01:29:59 + 1 s  1800 J  DE factors: 400 g/kWh, PUE 1.2, WUE 0, EWIF 2       10 tokens, no completion
 */
const FR = { region: 'FR', gridGCo2ePerKWh: 100, pue: 1.5, wue: 2, ewif: 4, source: 'override' };
const DE = { region: 'DE', gridGCo2ePerKWh: 400, pue: 1.2, wue: 0, ewif: 2, source: 'override' };
const kWh = (j: number) => j / 3.6e6;

function record(id: string, over: Partial<RequestRecord>): RequestRecord {
  const total = over.energyJ?.total ?? 0;
  const f = over.factors ?? FR;
  return {
    id, model: 'm1', tenant: 't1', startedAt: '2025-01-01T00:00:00.000Z', durationMs: 1000, ttfbMs: 100, outcome: 'ok', status: 200,
    promptTokens: 0, completionTokens: 0, energyJ: { gpu: total, cpu: 0, dram: 0, total }, idleShareJ: 0,
    co2eGrams: kWh(total) * f.pue * f.gridGCo2ePerKWh,
    waterLiters: { onsite: kWh(total) * f.wue, offsite: kWh(total) * f.pue * f.ewif, total: kWh(total) * (f.wue + f.pue * f.ewif) },
    factors: f, attribution: 'time', complete: true, pool: 'default', api: 'openai.chat', energyByDeviceJ: { gpu0: total },
    ...over,
  };
}

const RECORDS = [
  record('r1', { model: 'm1', tenant: 't1', startedAt: '2025-01-01T00:30:00.000Z', durationMs: 1000, energyJ: { gpu: 3600, cpu: 0, dram: 0, total: 3600 }, promptTokens: 100, completionTokens: 400 }),
  record('r2', { model: 'm1', tenant: 't2', startedAt: '2025-01-01T01:00:00.000Z', durationMs: 2000, energyJ: { gpu: 7200, cpu: 0, dram: 0, total: 7200 }, promptTokens: 50, completionTokens: 150 }),
  record('r3', { model: 'm2', tenant: 't1', startedAt: '2025-01-01T01:29:59.000Z', durationMs: 1000, energyJ: { gpu: 1800, cpu: 0, dram: 0, total: 1800 }, promptTokens: 10, completionTokens: null, factors: DE }),
];

function recordsFile(records: RequestRecord[]): string {
  const f = join(mkdtempSync(join(tmpdir(), 'inferwatt-arith-')), 'records.jsonl');
  writeFileSync(f, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return f;
}

const NONE = { hostKgCo2e: null, lifetimeYears: null, source: null, year: null };
const period = { fromMs: Date.parse('2025-01-01T00:00:00Z'), toMs: Date.parse('2025-01-01T02:00:00Z') };
const report = (over: Partial<ReportOptions> = {}) => createReport({
  source: { kind: 'records', files: [recordsFile(RECORDS)] }, period, by: ['model'], market: [], embodied: NONE, version: 'test', nowMs: period.toMs, ...over,
});
const g = (r: Report, model: string) => r.groups.find((x) => x.model === model)!;
const close = (got: number | null, want: number) => expect(Math.abs((got ?? NaN) - want)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(want)));

describe('report arithmetic against a hand computation', () => {
  it('facility energy, location-based CO2e and water per group and in total', async () => {
    const r = await report();
    const m1 = g(r, 'm1');
    expect([m1.requests, m1.promptTokens, m1.completionTokens]).toEqual([2, 150, 550]);
    expect(m1.energyJ).toEqual({ attributed: 10_800, idle: 0, facility: 16_200 });
    close(m1.co2eGrams.location, 0.45); // 16,200 J = 0.0045 kWh × 100 g/kWh
    close(m1.waterLiters.onsite, 0.006); // 0.003 IT kWh × 2 L/kWh
    close(m1.waterLiters.offsite, 0.018); // 0.0045 facility kWh × 4 L/kWh
    const m2 = g(r, 'm2');
    expect([m2.requests, m2.promptTokens, m2.completionTokens]).toEqual([1, 10, 0]);
    close(m2.energyJ.facility, 2160);
    close(m2.co2eGrams.location, 0.24); // 0.0006 kWh × 400
    expect(m2.waterLiters.onsite).toBe(0);
    close(m2.waterLiters.offsite, 0.0012);
    expect([r.totals.requests, r.totals.promptTokens, r.totals.completionTokens]).toEqual([3, 160, 550]);
    close(r.totals.co2eGrams.location, 0.69);
    close(r.totals.energyJ.facility, 18_360);
  });

  it('SCI 1.1 without embodied: location CO2e per query and per 1,000 tokens; market and embodied are null, not 0', async () => {
    const r = await report();
    close(g(r, 'm1').sci.gPerQuery, 0.45 / 2);
    close(g(r, 'm1').sci.gPer1kTokens, (0.45 * 1000) / 700);
    close(g(r, 'm2').sci.gPer1kTokens, (0.24 * 1000) / 10);
    close(r.totals.sci.gPerQuery, 0.69 / 3);
    expect(r.totals.co2eGrams.market).toBeNull();
    expect(r.totals.co2eGrams.embodied).toBeNull();
    expect(r.groups.every((x) => x.co2eGrams.market === null && x.co2eGrams.embodied === null)).toBe(true);
    expect(r.boundary.embodied).toMatch(/not included.*M = 0/);
  });

  it('embodied by time share, as the SCI specification\'s example: 1,000 kg over 4 years for one hour is about 28 g', async () => {
    // The records cover 00:30:00 to 01:30:00, one hour: 1,000,000 g × 1 h / (4 × 365 × 24 h).
    const r = await report({ embodied: { hostKgCo2e: 1000, lifetimeYears: 4, source: 'test LCA', year: 2024 } });
    const m = 1e6 / (4 * 365 * 24);
    expect(m).toBeCloseTo(28.54, 2);
    close(r.totals.co2eGrams.embodied, m);
    // Shared by attributed energy: 10,800 of 12,600 J to m1, 1,800 to m2.
    close(g(r, 'm1').co2eGrams.embodied, (m * 10_800) / 12_600);
    close(g(r, 'm2').co2eGrams.embodied, (m * 1800) / 12_600);
    close(g(r, 'm1').sci.gPerQuery, (0.45 + (m * 10_800) / 12_600) / 2);
    close(r.totals.sci.gPer1kTokens, ((0.69 + m) * 1000) / 710);
    expect(r.factors.find((f) => f.factor === 'embodied')).toMatchObject({ value: 1000, source: 'test LCA', year: 2024 });
  });

  it('market-based: a supplier-specific factor wins over the residual mix while it is in force; no factor for DE makes m2 and the totals null', async () => {
    const market: MarketFactorRow[] = [
      { region: 'FR', from: '2025-01-01', to: '2025-01-01T01:00:00Z', gCo2ePerKWh: 20, kind: 'supplier-specific', source: 'supplier', year: 2025 },
      { region: 'fr', from: '2024-01-01', to: null, gCo2ePerKWh: 60, kind: 'residual-mix', source: 'AIB residual mix', year: 2024 },
    ];
    const r = await report({ market });
    // r1 ended 00:30:01 (supplier, 20 g/kWh), r2 ended 01:00:02 (residual mix, 60 g/kWh).
    close(g(r, 'm1').co2eGrams.market, kWh(5400) * 20 + kWh(10_800) * 60);
    expect(g(r, 'm2').co2eGrams.market).toBeNull();
    expect(r.totals.co2eGrams.market).toBeNull();
    expect(r.coverage.notes.join('\n')).toMatch(/no contractual factor \(impacts\.market\) for region DE/);
    // SCI never uses market-based factors.
    close(g(r, 'm1').sci.gPerQuery, 0.45 / 2);
    expect(r.factors.filter((f) => f.factor === 'market').map((f) => [f.method, f.value])).toEqual([['supplier-specific', 20], ['residual-mix', 60]]);
    const frOnly = await report({ market, source: { kind: 'records', files: [recordsFile(RECORDS.slice(0, 2))] } });
    close(frOnly.totals.co2eGrams.market, kWh(5400) * 20 + kWh(10_800) * 60);
  });

  it('an amortized idle share in a record is its group\'s idle energy, not counted twice', async () => {
    const r4 = record('r4', { model: 'm1', tenant: 't3', startedAt: '2025-01-01T01:10:00.000Z', energyJ: { gpu: 1000, cpu: 0, dram: 0, total: 1000 }, idleShareJ: 400, promptTokens: 1, completionTokens: 1 });
    const r = await report({ source: { kind: 'records', files: [recordsFile([r4])] }, by: [] });
    expect(r.totals.energyJ.attributed).toBe(600);
    expect(r.totals.energyJ.idle).toBe(400);
    close(r.totals.energyJ.facility, 1500);
    close(r.totals.co2eGrams.location, r4.co2eGrams);
    expect(r.attribution.idle).toEqual(['amortize']);
    expect(r.boundary.idle).toMatch(/amortized into the records/);
  });

  it('by tenant, and totals only', async () => {
    const byTenant = await report({ by: ['tenant'] });
    expect(byTenant.groups.map((x) => [x.tenant, x.requests]).sort()).toEqual([['t1', 2], ['t2', 1]]);
    const totalsOnly = await report({ by: [] });
    expect(totalsOnly.groups).toHaveLength(1);
    expect(totalsOnly.groups[0]!.requests).toBe(3);
  });
});
