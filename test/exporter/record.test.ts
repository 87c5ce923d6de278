import { describe, expect, it } from 'vitest';
import type { AttributedRequest } from '../../src/attribution/types.js';
import { computeImpacts, toRecordFactors } from '../../src/impacts/convert.js';
import type { Factors } from '../../src/impacts/types.js';
import { createRecordBuilder, toRecord } from '../../src/exporter/record.js';

const attributed = (id: string, totalJ: number): AttributedRequest => ({
  id, pool: 'default', model: 'llama', tenant: null, api: 'openai.chat', startedAt: '2026-01-01T00:00:00.000Z', startMs: 10, endMs: 1010,
  durationMs: 1000, ttfbMs: 100, outcome: 'ok', status: 200, promptTokens: 10, completionTokens: 20,
  energyJ: { gpu: totalJ - 1, cpu: 1, dram: 0, total: totalJ }, energyByDeviceJ: { gpu0: totalJ - 1, cpu: 1 }, idleShareJ: 0, attribution: 'time', complete: true,
});
const FR: Factors = { region: 'FR', gridGCo2ePerKWh: 44.18, pue: 1.56, wue: 0.55, ewif: 3.6737, source: 'static:ember', year: 2024, resolution: 'region' };

describe('record builder', () => {
  it('makes the same record, byte for byte in JSON, as toRecord with the impacts and factors of the request', () => {
    const build = createRecordBuilder();
    for (const [i, j] of [1, 300, 12_345.678].entries()) {
      const a = attributed(`r${i}`, j);
      const expected = toRecord(a, computeImpacts(j, FR), toRecordFactors(FR));
      expect(JSON.stringify(build(a, FR))).toBe(JSON.stringify(expected));
    }
  });

  it('shares one frozen factors object between records made with the same factors, and makes a new one when they change (a live intensity)', () => {
    const build = createRecordBuilder();
    const a = build(attributed('a', 1), FR);
    const b = build(attributed('b', 2), FR);
    expect(b.factors).toBe(a.factors);
    expect(Object.isFrozen(a.factors)).toBe(true);
    const live: Factors = { ...FR, gridGCo2ePerKWh: 51, source: 'electricitymaps:live', resolution: 'live' };
    const c = build(attributed('c', 3), live);
    expect(c.factors).not.toBe(a.factors);
    expect(c.factors).toEqual(toRecordFactors(live));
    expect(a.factors.gridGCo2ePerKWh).toBe(44.18);
  });

  it('puts embodiedCo2eGrams last, only when there is one', () => {
    const a = attributed('e', 5);
    expect(Object.keys(toRecord(a, computeImpacts(5, FR), toRecordFactors(FR)))).not.toContain('embodiedCo2eGrams');
    expect(Object.keys(toRecord(a, { ...computeImpacts(5, FR), embodiedCo2eGrams: 0.5 }, toRecordFactors(FR))).at(-1)).toBe('embodiedCo2eGrams');
  });
});
