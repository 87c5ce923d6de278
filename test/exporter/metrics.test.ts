import { describe, expect, it } from 'vitest';
import { createFakeClock } from '../../src/core/clock.js';
import { createLabelBounder } from '../../src/exporter/label-bounder.js';
import { createMetricsCatalogue, type MetricsSources } from '../../src/exporter/metrics.js';
import type { RequestRecord } from '../../src/exporter/record.js';
import type { DeviceInfo } from '../../src/sensors/types.js';

const gpu: DeviceInfo = { id: 'gpu0', kind: 'gpu', method: 'integrated', sensor: 'nvidia-smi', name: 'NVIDIA H100 80GB HBM3', uuid: 'GPU-1', driver: '590.48.01' };

function record(over: Partial<RequestRecord> = {}): RequestRecord {
  return {
    id: 'req-1', model: 'llama', tenant: null, startedAt: '2026-01-01T00:00:00.000Z', durationMs: 1000, ttfbMs: 100,
    outcome: 'ok', status: 200, promptTokens: 10, completionTokens: 20,
    energyJ: { gpu: 250, cpu: 40, dram: 10, total: 300 }, idleShareJ: 0, co2eGrams: 0.04, waterLiters: { onsite: 0.0001, offsite: 0.0002, total: 0.0003 },
    factors: { region: 'FR', gridGCo2ePerKWh: 44, pue: 1.1, wue: 0.5, ewif: 1.2, source: 'static:ember' },
    attribution: 'time', complete: true, pool: 'default', api: 'openai.chat', energyByDeviceJ: { gpu0: 250 },
    ...over,
  };
}

function setup(over: Partial<MetricsSources> = {}) {
  const clock = createFakeClock(1000, Date.UTC(2026, 0, 1));
  const sources: MetricsSources = {
    devices: () => [{ device: gpu, powerW: 312.5, energyJ: 1234.5, lastSampleMs: 900 }],
    sensors: () => [{ name: 'nvidia-smi', health: { up: true, lastSampleMs: 900, errors: { restart: 2 } } }],
    unattributedJ: () => 77,
    inFlight: () => 3,
    factors: () => ({ region: 'FR', source: 'static:ember', year: 2024, gridGCo2ePerKWh: 44, pue: 1.1, wue: 0.5, ewif: 1.2 }),
    ...over,
  };
  const models = createLabelBounder({ max: 2 });
  const tenants = createLabelBounder({ max: 2 });
  return { cat: createMetricsCatalogue({ sources, models, tenants, clock }), clock };
}

const line = (body: string, prefix: string) => body.split('\n').find((l) => l.startsWith(prefix));

describe('metric catalogue', () => {
  it('exposes device metrics from the snapshot, in base units', async () => {
    const { cat } = setup();
    const { body, contentType } = await cat.render(undefined);
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(line(body, 'inferwatt_device_power_watts{')).toBe('inferwatt_device_power_watts{device="gpu0",kind="gpu",method="integrated"} 312.5');
    expect(line(body, 'inferwatt_device_energy_joules_total{')).toBe('inferwatt_device_energy_joules_total{device="gpu0",kind="gpu",method="integrated"} 1234.5');
    expect(line(body, 'inferwatt_device_info{')).toContain('name="NVIDIA H100 80GB HBM3",uuid="GPU-1",driver="590.48.01"');
    expect(line(body, 'inferwatt_unattributed_energy_joules_total')).toBe('inferwatt_unattributed_energy_joules_total 77');
    expect(line(body, 'inferwatt_in_flight_requests ')).toBe('inferwatt_in_flight_requests 3');
    expect(line(body, 'inferwatt_sensor_up{')).toBe('inferwatt_sensor_up{sensor="nvidia-smi"} 1');
    // Sample at mono 900 ms while the clock reads mono 1000 ms = wall 2026-01-01T00:00:00 → 0.1 s earlier.
    expect(line(body, 'inferwatt_sensor_last_sample_timestamp_seconds{')).toBe(`inferwatt_sensor_last_sample_timestamp_seconds{sensor="nvidia-smi"} ${Date.UTC(2026, 0, 1) / 1000 - 0.1}`);
    expect(line(body, 'inferwatt_grid_intensity_grams_per_kwh{')).toBe('inferwatt_grid_intensity_grams_per_kwh{region="FR",source="static:ember"} 44');
    expect(line(body, 'inferwatt_factor_info{')).toBe('inferwatt_factor_info{region="FR",source="static:ember",year="2024",pue="1.1",wue="0.5",ewif="1.2"} 1');
  });

  it('has the known label values at zero from start-up (reasons of sensors and upstream errors)', async () => {
    const { cat } = setup();
    const { body } = await cat.render(undefined);
    expect(body).toContain('inferwatt_upstream_errors_total{reason="connect"} 0');
    expect(body).toContain('inferwatt_upstream_errors_total{reason="status_5xx"} 0');
    expect(body).toContain('inferwatt_sensor_errors_total{sensor="nvidia-smi",reason="restart"} 2');
    expect(body).toContain('inferwatt_sensor_errors_total{sensor="nvidia-smi",reason="silent"} 0');
  });

  it('absent power is absent, not zero', async () => {
    const { cat } = setup({ devices: () => [{ device: gpu, powerW: undefined, energyJ: 0, lastSampleMs: undefined }] });
    const { body } = await cat.render(undefined);
    expect(body).not.toMatch(/^inferwatt_device_power_watts\{/m);
    expect(body).toMatch(/^inferwatt_device_energy_joules_total\{device="gpu0".*\} 0$/m);
  });

  it('updates request metrics from records, with every outcome of a new model at zero', async () => {
    const { cat } = setup();
    cat.observeRecord(record());
    cat.observeRecord(record({ id: 'req-2', outcome: 'aborted', promptTokens: null, completionTokens: null }));
    const { body } = await cat.render(undefined);
    expect(body).toContain('inferwatt_requests_total{model="llama",tenant="unknown",pool="default",outcome="ok"} 1');
    expect(body).toContain('inferwatt_requests_total{model="llama",tenant="unknown",pool="default",outcome="aborted"} 1');
    expect(body).toContain('inferwatt_requests_total{model="llama",tenant="unknown",pool="default",outcome="error"} 0');
    expect(body).toContain('inferwatt_tokens_total{model="llama",tenant="unknown",pool="default",type="prompt"} 10');
    expect(body).toContain('inferwatt_tokens_total{model="llama",tenant="unknown",pool="default",type="completion"} 20');
    expect(body).toContain('inferwatt_attributed_energy_joules_total{model="llama",tenant="unknown",pool="default"} 600');
    expect(body).toContain('inferwatt_request_energy_joules_count{model="llama"} 2');
    expect(body).toContain('inferwatt_request_energy_joules_sum{model="llama"} 600');
    expect(body).toContain('inferwatt_co2e_grams_total{model="llama",tenant="unknown",pool="default"} 0.08');
    expect(body).toContain('inferwatt_water_liters_total{model="llama",tenant="unknown",pool="default"} 0.0006');
  });

  it('has every outcome of each allow-listed model at zero from start-up (tenant "unknown" without a tenant allow-list), and survives a negative unattributed total', async () => {
    const clock = createFakeClock(1000);
    const cat = createMetricsCatalogue({
      clock, models: createLabelBounder({ max: 5, allowList: ['llama', 'qwen'] }), tenants: createLabelBounder({ max: 5 }),
      sources: { devices: () => [], sensors: () => [], unattributedJ: () => -1e-12, inFlight: () => 0, factors: () => ({ region: 'FR', source: 's', year: null, gridGCo2ePerKWh: 1, pue: 1, wue: 0, ewif: 0 }) },
    });
    const { body } = await cat.render(undefined);
    for (const m of ['llama', 'qwen']) for (const o of ['ok', 'error', 'aborted']) expect(body).toContain(`inferwatt_requests_total{model="${m}",tenant="unknown",pool="default",outcome="${o}"} 0`);
    expect(body.match(/^inferwatt_requests_total\{/gm)).toHaveLength(6);
    expect(body).toContain('inferwatt_unattributed_energy_joules_total 0');
  });

  it('with both allow-lists, every allow-listed (model, tenant) pair has its outcomes at zero from start-up', async () => {
    const cat = createMetricsCatalogue({
      clock: createFakeClock(1000),
      models: createLabelBounder({ max: 5, allowList: ['llama', 'qwen'] }),
      tenants: createLabelBounder({ max: 5, allowList: ['search', 'chat'] }),
      sources: { devices: () => [], sensors: () => [], unattributedJ: () => 0, inFlight: () => 0, factors: () => ({ region: 'FR', source: 's', year: null, gridGCo2ePerKWh: 1, pue: 1, wue: 0, ewif: 0 }) },
    });
    const { body } = await cat.render(undefined);
    for (const m of ['llama', 'qwen']) for (const t of ['search', 'chat']) for (const o of ['ok', 'error', 'aborted']) {
      expect(body).toContain(`inferwatt_requests_total{model="${m}",tenant="${t}",pool="default",outcome="${o}"} 0`);
    }
    expect(body.match(/^inferwatt_requests_total\{/gm)).toHaveLength(12);
  });

  it('labels the per-request counters by tenant: two tenants and a request without the header ("unknown") are separate series; histograms stay by model', async () => {
    const { cat } = setup();
    cat.observeRecord(record({ id: 'a1', tenant: 'team-a' }));
    cat.observeRecord(record({ id: 'a2', tenant: 'team-a', outcome: 'error' }));
    cat.observeRecord(record({ id: 'b1', tenant: 'team-b', energyJ: { gpu: 80, cpu: 15, dram: 5, total: 100 }, co2eGrams: 0.01, waterLiters: { onsite: 0, offsite: 0.0001, total: 0.0001 } }));
    cat.observeRecord(record({ id: 'n1', tenant: null, promptTokens: 7, completionTokens: 3 }));
    const { body } = await cat.render(undefined);
    expect(body).toContain('inferwatt_requests_total{model="llama",tenant="team-a",pool="default",outcome="ok"} 1');
    expect(body).toContain('inferwatt_requests_total{model="llama",tenant="team-a",pool="default",outcome="error"} 1');
    expect(body).toContain('inferwatt_requests_total{model="llama",tenant="team-a",pool="default",outcome="aborted"} 0');
    expect(body).toContain('inferwatt_requests_total{model="llama",tenant="team-b",pool="default",outcome="ok"} 1');
    expect(body).toContain('inferwatt_requests_total{model="llama",tenant="unknown",pool="default",outcome="ok"} 1');
    expect(body).toContain('inferwatt_tokens_total{model="llama",tenant="team-a",pool="default",type="completion"} 40');
    expect(body).toContain('inferwatt_tokens_total{model="llama",tenant="unknown",pool="default",type="prompt"} 7');
    expect(body).toContain('inferwatt_attributed_energy_joules_total{model="llama",tenant="team-a",pool="default"} 600');
    expect(body).toContain('inferwatt_attributed_energy_joules_total{model="llama",tenant="team-b",pool="default"} 100');
    expect(body).toContain('inferwatt_attributed_energy_joules_total{model="llama",tenant="unknown",pool="default"} 300');
    expect(body).toContain('inferwatt_co2e_grams_total{model="llama",tenant="team-b",pool="default"} 0.01');
    expect(body).toContain('inferwatt_water_liters_total{model="llama",tenant="team-b",pool="default"} 0.0001');
    // One histogram per model over every tenant: 4 requests, 300 + 300 + 100 + 300 J.
    expect(body).toContain('inferwatt_request_energy_joules_count{model="llama"} 4');
    expect(body).toContain('inferwatt_request_energy_joules_sum{model="llama"} 1000');
    expect(body).not.toMatch(/^inferwatt_request_(energy_joules|co2e_grams|water_liters)_\w+\{[^}]*tenant=/m);
  });

  it('bounds the tenant label: the (maxTenants+1)-th distinct tenant and later ones become "other"; a missing tenant stays "unknown"', async () => {
    const { cat } = setup(); // maxTenants 2
    for (const t of ['t1', 't2', 't3', 't4', 't1']) cat.observeRecord(record({ id: `r-${t}`, tenant: t }));
    cat.observeRecord(record({ id: 'none', tenant: null }));
    const { body } = await cat.render(undefined);
    const tenants = new Set([...body.matchAll(/inferwatt_attributed_energy_joules_total\{model="llama",tenant="([^"]+)"/g)].map((m) => m[1]));
    expect(tenants).toEqual(new Set(['t1', 't2', 'other', 'unknown']));
    expect(body).toContain('inferwatt_attributed_energy_joules_total{model="llama",tenant="t1",pool="default"} 600');
    expect(body).toContain('inferwatt_attributed_energy_joules_total{model="llama",tenant="other",pool="default"} 600');
    expect(body).toContain('inferwatt_requests_total{model="llama",tenant="other",pool="default",outcome="ok"} 2');
  });

  it('with a tenant allow-list, only listed tenants are labels; the rest is "other", a request without the header "unknown", a real tenant named "unknown" "other"', async () => {
    const cat = createMetricsCatalogue({
      clock: createFakeClock(1000), models: createLabelBounder({ max: 5 }), tenants: createLabelBounder({ max: 1, allowList: ['search', 'chat'] }),
      sources: { devices: () => [], sensors: () => [], unattributedJ: () => 0, inFlight: () => 0, factors: () => ({ region: 'FR', source: 's', year: null, gridGCo2ePerKWh: 1, pue: 1, wue: 0, ewif: 0 }) },
    });
    for (const t of ['search', 'chat', 'batch', 'unknown', null]) cat.observeRecord(record({ id: `r-${t}`, tenant: t }));
    const { body } = await cat.render(undefined);
    expect(body).toContain('inferwatt_requests_total{model="llama",tenant="search",pool="default",outcome="ok"} 1');
    expect(body).toContain('inferwatt_requests_total{model="llama",tenant="chat",pool="default",outcome="ok"} 1');
    expect(body).toContain('inferwatt_requests_total{model="llama",tenant="other",pool="default",outcome="ok"} 2');
    expect(body).toContain('inferwatt_requests_total{model="llama",tenant="unknown",pool="default",outcome="ok"} 1');
    expect(body).not.toContain('tenant="batch"');
  });

  it('bounds the model label: the first N models, then "other"', async () => {
    const { cat } = setup();
    for (let i = 0; i < 50; i++) cat.observeRecord(record({ id: `r${i}`, model: `m${i}` }));
    const { body } = await cat.render(undefined);
    const models = new Set([...body.matchAll(/inferwatt_requests_total\{model="([^"]+)"/g)].map((m) => m[1]));
    // 3 models × 1 tenant × 3 outcomes.
    expect(body.match(/^inferwatt_requests_total\{/gm)).toHaveLength(9);
    expect(models).toEqual(new Set(['m0', 'm1', 'other']));
  });

  it('labels the per-request counters by pool (the upstream); with several pools, allow-listed models have zero series in each', async () => {
    const cat = createMetricsCatalogue({
      clock: createFakeClock(1000), models: createLabelBounder({ max: 5, allowList: ['llama'] }), tenants: createLabelBounder({ max: 5 }),
      pools: ['a', 'b'],
      sources: { devices: () => [], sensors: () => [], unattributedJ: () => 0, inFlight: () => 0, factors: () => ({ region: 'FR', source: 's', year: null, gridGCo2ePerKWh: 1, pue: 1, wue: 0, ewif: 0 }) },
    });
    cat.observeRecord(record({ id: 'b1', pool: 'b' }));
    const { body } = await cat.render(undefined);
    expect(body).toContain('inferwatt_requests_total{model="llama",tenant="unknown",pool="a",outcome="ok"} 0');
    expect(body).toContain('inferwatt_requests_total{model="llama",tenant="unknown",pool="b",outcome="ok"} 1');
    expect(body).toContain('inferwatt_attributed_energy_joules_total{model="llama",tenant="unknown",pool="b"} 300');
    expect(body).not.toMatch(/^inferwatt_attributed_energy_joules_total\{[^}]*pool="a"/m);
  });

  it('states when its counters started (a report tells a restart from it) and the attribution settings', async () => {
    const clock = createFakeClock(1000, Date.UTC(2026, 0, 1, 12));
    const cat = createMetricsCatalogue({
      clock, models: createLabelBounder({ max: 5 }), tenants: createLabelBounder({ max: 5 }), attribution: { policy: 'tokens', idle: 'amortize' },
      sources: { devices: () => [], sensors: () => [], unattributedJ: () => 0, inFlight: () => 0, factors: () => ({ region: 'FR', source: 's', year: null, gridGCo2ePerKWh: 1, pue: 1, wue: 0, ewif: 0 }) },
    });
    clock.advance(5000);
    const { body } = await cat.render(undefined);
    // The time of creation, not of the scrape.
    expect(line(body, 'inferwatt_start_time_seconds ')).toBe(`inferwatt_start_time_seconds ${Date.UTC(2026, 0, 1, 12) / 1000}`);
    expect(line(body, 'inferwatt_attribution_info{')).toBe('inferwatt_attribution_info{policy="tokens",idle="amortize"} 1');
  });

  it('serves OpenMetrics with exemplars carrying the request id when asked, and plain text again after', async () => {
    const { cat } = setup();
    cat.observeRecord(record({ id: 'abc-123' }));
    const om = await cat.render('application/openmetrics-text; version=1.0.0,text/plain;q=0.5');
    expect(om.contentType).toMatch(/^application\/openmetrics-text/);
    expect(om.body).toMatch(/inferwatt_request_energy_joules_bucket\{le="[^"]+",model="llama"\} 1 # \{request_id="abc-123"\} 300 /);
    expect(om.body.trimEnd().endsWith('# EOF')).toBe(true);
    expect(om.body).toContain('inferwatt_requests_total{model="llama",tenant="unknown",pool="default",outcome="ok"} 1');
    const plain = await cat.render('text/plain');
    expect(plain.body).toContain('inferwatt_requests_total{model="llama",tenant="unknown",pool="default",outcome="ok"} 1');
    expect(plain.body).toContain('# TYPE inferwatt_requests_total counter');
    expect(plain.body).not.toContain('# {request_id=');
  });
});
