import fc from 'fast-check';
import { Counter, Histogram, Registry, type RegistryContentType } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { OUTCOMES, type Outcome } from '../../src/attribution/types.js';
import { createFakeClock } from '../../src/core/clock.js';
import { admitsLabels, createLabelBounder, type LabelBounder } from '../../src/exporter/label-bounder.js';
import { createMetricsCatalogue, REQUEST_HISTOGRAM_BUCKETS } from '../../src/exporter/metrics.js';
import type { RequestRecord } from '../../src/exporter/record.js';

/**
 * The reference: the per-request metrics as they were kept before request-series.ts, with prom-client's
 * own Counter and Histogram updated on every record (label objects hashed per call, exemplars by
 * prom-client). The catalogue must render the same series with the same values.
 */
function referenceRegistry(models: LabelBounder, tenants: LabelBounder) {
  const registry = new Registry<RegistryContentType>();
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  const requests = new Counter({ name: 'inferwatt_requests_total', help: 'h', labelNames: ['model', 'tenant', 'pool', 'outcome'], registers: [registry] });
  const hist = (name: string, buckets: readonly number[]) => new Histogram({ name, help: 'h', labelNames: ['model'], buckets: [...buckets], registers: [registry], enableExemplars: true });
  const energyHist = hist('inferwatt_request_energy_joules', REQUEST_HISTOGRAM_BUCKETS.energyJ);
  const co2eHist = hist('inferwatt_request_co2e_grams', REQUEST_HISTOGRAM_BUCKETS.co2eGrams);
  const waterHist = hist('inferwatt_request_water_liters', REQUEST_HISTOGRAM_BUCKETS.waterLiters);
  const tokens = new Counter({ name: 'inferwatt_tokens_total', help: 'h', labelNames: ['model', 'tenant', 'pool', 'type'], registers: [registry] });
  const attributed = new Counter({ name: 'inferwatt_attributed_energy_joules_total', help: 'h', labelNames: ['model', 'tenant', 'pool'], registers: [registry] });
  const co2e = new Counter({ name: 'inferwatt_co2e_grams_total', help: 'h', labelNames: ['model', 'tenant', 'pool'], registers: [registry] });
  const water = new Counter({ name: 'inferwatt_water_liters_total', help: 'h', labelNames: ['model', 'tenant', 'pool'], registers: [registry] });
  registry.setContentType(Registry.PROMETHEUS_CONTENT_TYPE);
  const seen = new Set<string>();
  return {
    registry,
    observe(rec: RequestRecord) {
      if (admitsLabels(rec)) {
        models.admit(rec.model);
        tenants.admit(rec.tenant);
      }
      const model = models.label(rec.model);
      const tenant = tenants.label(rec.tenant);
      const pool = rec.pool;
      if (!seen.has(`${pool}\u0000${model}\u0000${tenant}`)) {
        seen.add(`${pool}\u0000${model}\u0000${tenant}`);
        for (const o of OUTCOMES) requests.inc({ model, tenant, pool, outcome: o }, 0);
      }
      requests.inc({ model, tenant, pool, outcome: rec.outcome });
      const ex = { request_id: rec.id } as unknown as Record<'model', string>;
      energyHist.observe({ labels: { model }, value: rec.energyJ.total, exemplarLabels: ex });
      co2eHist.observe({ labels: { model }, value: rec.co2eGrams, exemplarLabels: ex });
      waterHist.observe({ labels: { model }, value: rec.waterLiters.total, exemplarLabels: ex });
      if (rec.promptTokens !== null) tokens.inc({ model, tenant, pool, type: 'prompt' }, rec.promptTokens);
      if (rec.completionTokens !== null) tokens.inc({ model, tenant, pool, type: 'completion' }, rec.completionTokens);
      attributed.inc({ model, tenant, pool }, rec.energyJ.total);
      co2e.inc({ model, tenant, pool }, rec.co2eGrams);
      water.inc({ model, tenant, pool }, rec.waterLiters.total);
    },
  };
}

const FAMILIES = /^inferwatt_(requests_total|request_(energy_joules|co2e_grams|water_liters)_(bucket|sum|count)|tokens_total|attributed_energy_joules_total|co2e_grams_total|water_liters_total)[{ ]/;
/** The sample lines of the per-request families, sorted (series order is not part of the format), exemplar timestamps cut. */
const samples = (body: string) => body.split('\n').filter((l) => FAMILIES.test(l)).map((l) => l.replace(/( # \{[^}]*\} \S+) \S+$/, '$1')).sort();

function record(i: number, r: { model: string | null; tenant: string | null; outcome: Outcome; prompt: number | null; completion: number | null; energyJ: number; status?: number | null; pool?: string }): RequestRecord {
  const waterL = r.energyJ * 2.1e-7;
  return {
    id: `req-${i}`, model: r.model, tenant: r.tenant, startedAt: '2026-01-01T00:00:00.000Z', durationMs: 1000, ttfbMs: 100, outcome: r.outcome, status: r.status === undefined ? 200 : r.status,
    promptTokens: r.prompt, completionTokens: r.completion, energyJ: { gpu: r.energyJ, cpu: 0, dram: 0, total: r.energyJ }, idleShareJ: 0,
    co2eGrams: r.energyJ * 1.3e-4, waterLiters: { onsite: waterL / 3, offsite: waterL - waterL / 3, total: waterL },
    factors: { region: 'FR', gridGCo2ePerKWh: 44, pue: 1.1, wue: 0.5, ewif: 1.2, source: 'static:ember' },
    attribution: 'time', complete: true, pool: r.pool ?? 'default', api: 'openai.chat', energyByDeviceJ: { gpu0: r.energyJ },
  };
}

const arbRecord = fc.record({
  model: fc.constantFrom('llama', 'qwen', 'mistral', 'phi', null, 'unknown'),
  tenant: fc.constantFrom('a', 'b', 'c', null),
  outcome: fc.constantFrom(...OUTCOMES),
  // a refused (404) or failed request does not admit its model or tenant as a label (label-bounder.ts)
  status: fc.constantFrom(200, 200, 404, 500, null),
  pool: fc.constantFrom('default', 'gpu-b'),
  prompt: fc.option(fc.nat(5000), { nil: null }),
  completion: fc.option(fc.nat(5000), { nil: null }),
  // 0, inside every bucket range, exactly on a bound (it belongs to that bucket), and past the last bound (+Inf only)
  energyJ: fc.oneof(fc.constant(0), fc.double({ min: 0.01, max: 2e5, noNaN: true }), fc.constantFrom(...REQUEST_HISTOGRAM_BUCKETS.energyJ), fc.constant(1e7)),
});

describe('per-request metrics kept in plain numbers (request-series.ts)', () => {
  it('render the same series and values as prom-client counters and histograms updated per record, in both formats', async () => {
    await fc.assert(fc.asyncProperty(fc.array(arbRecord, { maxLength: 60 }), fc.boolean(), async (recs, allowLists) => {
      const bounders = () => allowLists
        ? { models: createLabelBounder({ max: 2, allowList: ['llama', 'phi'] }), tenants: createLabelBounder({ max: 2, allowList: ['a'] }) }
        : { models: createLabelBounder({ max: 3 }), tenants: createLabelBounder({ max: 2 }) };
      const ours = bounders();
      const cat = createMetricsCatalogue({
        ...ours, clock: createFakeClock(1000, Date.UTC(2026, 0, 1)), pools: ['default', 'gpu-b'],
        sources: { devices: () => [], sensors: () => [], unattributedJ: () => 0, inFlight: () => 0, factors: () => ({ region: 'FR', source: 's', year: null, gridGCo2ePerKWh: 1, pue: 1, wue: 0, ewif: 0 }) },
      });
      const theirs = bounders();
      const ref = referenceRegistry(theirs.models, theirs.tenants);
      // the catalogue creates the allow-listed pairs at start-up: so does the reference, with zero-valued requests
      const startTenants = theirs.tenants.allowList().length ? theirs.tenants.allowList() : ['unknown'];
      for (const pool of ['default', 'gpu-b']) for (const m of theirs.models.allowList()) for (const t of startTenants) {
        for (const o of OUTCOMES) (ref.registry.getSingleMetric('inferwatt_requests_total') as Counter).inc({ model: m, tenant: t, pool, outcome: o }, 0);
      }
      recs.forEach((r, i) => {
        const rec = record(i, r);
        cat.observeRecord(rec);
        ref.observe(rec); // an increment of 0 on a series made at start-up changes nothing
      });
      const plain = await cat.render(undefined);
      if (recs.length > 0) expect(samples(plain.body).filter((l) => l.includes('_bucket{')).length).toBeGreaterThan(0);
      expect(samples(plain.body)).toEqual(samples(await ref.registry.metrics()));
      const open = await cat.render('application/openmetrics-text');
      ref.registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
      expect(samples(open.body)).toEqual(samples(await ref.registry.metrics()));
    }), { numRuns: 60 });
  });

  it('stamps each bucket with its latest request id, value and the clock\'s wall time', async () => {
    const clock = createFakeClock(1000, Date.UTC(2026, 0, 1));
    const cat = createMetricsCatalogue({
      clock, models: createLabelBounder({ max: 5 }), tenants: createLabelBounder({ max: 5 }),
      sources: { devices: () => [], sensors: () => [], unattributedJ: () => 0, inFlight: () => 0, factors: () => ({ region: 'FR', source: 's', year: null, gridGCo2ePerKWh: 1, pue: 1, wue: 0, ewif: 0 }) },
    });
    cat.observeRecord(record(1, { model: 'llama', tenant: null, outcome: 'ok', prompt: 1, completion: 1, energyJ: 300 }));
    clock.advance(2500);
    cat.observeRecord(record(2, { model: 'llama', tenant: null, outcome: 'ok', prompt: 1, completion: 1, energyJ: 310 }));
    const { body } = await cat.render('application/openmetrics-text');
    expect(body).toMatch(new RegExp(`inferwatt_request_energy_joules_bucket\\{le="464",model="llama"\\} 2 # \\{request_id="req-2"\\} 310 ${Date.UTC(2026, 0, 1) / 1000 + 2.5}\\n`));
  });

  it('a record whose values are not finite changes no histogram or sum and never throws', async () => {
    const cat = createMetricsCatalogue({
      clock: createFakeClock(1000), models: createLabelBounder({ max: 5 }), tenants: createLabelBounder({ max: 5 }),
      sources: { devices: () => [], sensors: () => [], unattributedJ: () => 0, inFlight: () => 0, factors: () => ({ region: 'FR', source: 's', year: null, gridGCo2ePerKWh: 1, pue: 1, wue: 0, ewif: 0 }) },
    });
    cat.observeRecord(record(1, { model: 'llama', tenant: null, outcome: 'ok', prompt: 1, completion: 1, energyJ: 300 }));
    expect(() => cat.observeRecord(record(2, { model: 'llama', tenant: null, outcome: 'ok', prompt: 1, completion: 1, energyJ: Number.NaN }))).not.toThrow();
    const { body } = await cat.render(undefined);
    expect(body).toContain('inferwatt_request_energy_joules_count{model="llama"} 1');
    expect(body).toContain('inferwatt_attributed_energy_joules_total{model="llama",tenant="unknown",pool="default"} 300');
    expect(body).toContain('inferwatt_requests_total{model="llama",tenant="unknown",pool="default",outcome="ok"} 2');
  });
});
