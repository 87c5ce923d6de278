import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { createSystemClock } from '../../src/core/clock.js';
import { createLabelBounder } from '../../src/exporter/label-bounder.js';
import { createMetricsCatalogue } from '../../src/exporter/metrics.js';
import { DASHBOARDS_DIR, BASE_METRICS, FLEET_DASHBOARD, LEARNED_METRICS, MODE_METRICS, PROXY_METRICS, REPORT_METRICS, SELF_METRICS, fleetRecordedNames, metricNamesIn, recordedNames, unknownMetric } from './promql-names.js';

/**
 * Structural checks of the Grafana dashboards. Grafana cannot run here; every panel query is also run
 * against a real Prometheus in test/prometheus/queries.test.ts (and, with the agent, integration.test.ts).
 */
interface Target { refId: string; expr?: string; legendFormat?: string; datasource?: { type?: string; uid?: string }; exemplar?: boolean; format?: string }
interface Panel { id: number; type: string; title: string; description?: string; datasource?: { type?: string; uid?: string }; targets?: Target[]; gridPos: { x: number; y: number; w: number; h: number }; panels?: Panel[] }
interface Variable { name: string; type: string; query?: string | { query: string }; datasource?: { uid?: string }; definition?: string; includeAll?: boolean; allValue?: string }
interface Dashboard { uid: string; title: string; schemaVersion: number; panels: Panel[]; templating: { list: Variable[] } }

const files = readdirSync(DASHBOARDS_DIR).filter((f) => f.endsWith('.json')).sort();
const load = (f: string) => JSON.parse(readFileSync(join(DASHBOARDS_DIR, f), 'utf8')) as Dashboard;
const flatPanels = (d: Dashboard): Panel[] => d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const DS_VAR = '${datasource}';

export function variableQuery(v: Variable): string | undefined {
  return typeof v.query === 'string' ? v.query : v.query?.query;
}

describe('Grafana dashboards', () => {
  it('there are an overview and a request dashboard for one job, and a fleet dashboard for the global layer', () => {
    expect(files).toEqual([FLEET_DASHBOARD, 'inferwatt-overview.json', 'inferwatt-requests.json']);
  });

  describe.each(files)('%s', (file) => {
    const d = load(file);
    const panels = flatPanels(d);
    const dataPanels = panels.filter((p) => p.type !== 'row');
    const isFleet = file === FLEET_DASHBOARD;
    // The fleet dashboard reads the fleet records, which keep `cluster` and `model` only (docs/fleet.md);
    // the per-job ones also select the tenant of the per-request counters.
    const scopeVars = isFleet ? ['cluster', 'model'] : ['job', 'instance', 'model', 'tenant'];

    it('has a uid, a title and a Grafana 10/11 schema version', () => {
      expect(d.uid).toMatch(/^inferwatt-/);
      expect(d.title).toMatch(/^inferwatt \/ /);
      expect(d.schemaVersion).toBeGreaterThanOrEqual(36);
    });

    it(`has a datasource variable of type prometheus and ${scopeVars.join(', ')} variables bound to it, "All" matching any value`, () => {
      const vars = d.templating.list;
      const ds = vars.find((v) => v.name === 'datasource');
      expect(ds).toMatchObject({ type: 'datasource', query: 'prometheus' });
      expect(vars.map((v) => v.name)).toEqual(['datasource', ...scopeVars]);
      for (const name of scopeVars) {
        const v = vars.find((x) => x.name === name);
        expect(v, name).toBeDefined();
        expect(v!.datasource?.uid, name).toBe(DS_VAR);
        expect(variableQuery(v!), name).toMatch(/^label_values\(/);
        // ".*" also matches an absent label: one Prometheus scraping every agent has no `cluster`.
        expect(v, name).toMatchObject({ includeAll: true, allValue: '.*' });
      }
    });

    it('panel ids are unique and panels fit the 24-column grid without overlapping', () => {
      const ids = panels.map((p) => p.id);
      expect(new Set(ids).size).toBe(ids.length);
      const cells = new Set<string>();
      for (const p of panels) {
        expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
        for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
          for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
            const k = `${x},${y}`;
            expect(cells.has(k), `${p.title} overlaps at ${k}`).toBe(false);
            cells.add(k);
          }
        }
      }
    });

    it('every panel and every target is bound to the datasource variable, and every target has an expr', () => {
      expect(dataPanels.length).toBeGreaterThan(0);
      for (const p of dataPanels) {
        expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: DS_VAR });
        expect(p.description, `${p.title} has no description`).toBeTruthy();
        expect(p.targets?.length, `${p.title} has no target`).toBeGreaterThan(0);
        const refIds = p.targets!.map((t) => t.refId);
        expect(new Set(refIds).size, p.title).toBe(refIds.length);
        for (const t of p.targets!) {
          expect(t.datasource, `${p.title} ${t.refId}`).toEqual({ type: 'prometheus', uid: DS_VAR });
          expect(t.expr?.trim(), `${p.title} ${t.refId}`).toBeTruthy();
        }
      }
    });

    // Registered per dashboard kind rather than skipped: no test reports as skipped.
    if (!isFleet) it('every query filters by the job and instance variables, except constant threshold series', () => {
      for (const p of dataPanels) {
        for (const t of p.targets!) {
          if (/^inferwatt:[a-z0-9_]+:alert_threshold/.test(t.expr!)) continue;
          expect(t.expr, `${p.title} ${t.refId}`).toContain('job=~"$job"');
          expect(t.expr, `${p.title} ${t.refId}`).toContain('instance=~"$instance"');
        }
      }
    });

    if (!isFleet) it('the per-request counters follow the tenant variable wherever they follow the model variable; the histograms (labelled by model only) never do, and their panels say they are not per tenant', () => {
      const counters = ['inferwatt_requests_total', 'inferwatt_tokens_total', 'inferwatt_attributed_energy_joules_total', 'inferwatt_co2e_grams_total', 'inferwatt_water_liters_total'];
      const problems: string[] = [];
      let filtered = 0;
      for (const p of dataPanels) {
        let histogram = false;
        for (const t of p.targets!) {
          for (const m of t.expr!.matchAll(/(inferwatt_[a-z0-9_]+)\{([^}]*)\}/g)) {
            const [, name, sel] = m as unknown as [string, string, string];
            if (counters.includes(name) && sel.includes('model=~"$model"')) {
              filtered++;
              if (!sel.includes('tenant=~"$tenant"')) problems.push(`${p.title} ${t.refId}: ${name} by $model but not by $tenant`);
            }
            if (/^inferwatt_request_(energy_joules|co2e_grams|water_liters)_(bucket|sum|count)$/.test(name)) {
              histogram = true;
              if (sel.includes('tenant')) problems.push(`${p.title} ${t.refId}: ${name} has no tenant label`);
            }
          }
        }
        if (histogram && !/not per tenant/i.test(p.description ?? '')) problems.push(`${p.title}: reads a histogram, its description does not say it is not per tenant`);
      }
      expect(filtered).toBeGreaterThan(5);
      expect(problems).toEqual([]);
    });

    if (isFleet) it('every per-cluster series is filtered by the cluster variable, except the fleet totals of the first row; per-model panels by the model variable', () => {
      const byClusterRowY = panels.find((p) => p.type === 'row' && p.title === 'By cluster')!.gridPos.y;
      expect(byClusterRowY).toBeGreaterThan(0);
      const problems: string[] = [];
      let fleetWide = 0;
      for (const p of dataPanels) {
        for (const t of p.targets!) {
          const where = `${p.title} ${t.refId}`;
          const expr = t.expr!;
          const perCluster = /cluster=~"\$cluster"|by \(cluster|\{\{cluster\}\}/.test(`${expr} ${t.legendFormat ?? ''}`);
          if (!perCluster) {
            // A fleet total: allowed only in the first row, which says it ignores the selection.
            fleetWide++;
            if (p.gridPos.y > byClusterRowY) problems.push(`${where}: a fleet total below the "By cluster" row`);
            continue;
          }
          for (const name of metricNamesIn(expr)) {
            if (/^fleet(_model)?:/.test(name)) continue;
            const esc = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
            for (const m of expr.matchAll(new RegExp(`(?<![\\w:])${esc}(?![\\w:])(\\{[^}]*\\})?`, 'g'))) {
              if (!m[1]?.includes('cluster=~"$cluster"')) problems.push(`${where}: ${name} is not filtered by $cluster`);
            }
          }
          if ((t.legendFormat ?? '').includes('{{model}}') && !expr.includes('model=~"$model"')) problems.push(`${where}: per model but not filtered by $model`);
        }
      }
      expect(fleetWide).toBeGreaterThan(0);
      expect(problems).toEqual([]);
    });

    it('every metric a query or variable uses is in the metric catalogue or a recording rule of its layer (per-job rules; fleet: fleet.yml)', () => {
      // The per-job dashboards run on a cluster Prometheus, which need not load fleet.yml; the fleet
      // dashboard runs where fleet.yml runs, which need not hold the per-job records.
      const recorded = isFleet ? fleetRecordedNames() : recordedNames();
      const problems: string[] = [];
      const exprs = [
        ...dataPanels.flatMap((p) => p.targets!.map((t) => [`${p.title} ${t.refId}`, t.expr!] as const)),
        ...d.templating.list.flatMap((v) => {
          const q = variableQuery(v);
          const m = q && /^label_values\((.*),\s*\w+\)$/.exec(q);
          return m ? [[`variable ${v.name}`, m[1]!] as const] : [];
        }),
      ];
      let seen = 0;
      for (const [where, expr] of exprs) {
        for (const name of metricNamesIn(expr)) {
          seen++;
          const why = unknownMetric(name, recorded);
          if (why) problems.push(`${where}: ${why}`);
        }
      }
      expect(seen).toBeGreaterThan(exprs.length - 1);
      expect(problems).toEqual([]);
    });
  });

  it('the fleet dashboard shows every fleet record: J per query (attributed, all in), tCO2e, MWh and queries per day, per cluster and in total', () => {
    const d = load(FLEET_DASHBOARD);
    const targets = flatPanels(d).flatMap((p) => p.targets ?? []);
    const used = new Set(targets.flatMap((t) => metricNamesIn(t.expr ?? '')));
    expect([...fleetRecordedNames()].filter((n) => !used.has(n))).toEqual([]);
    // The per-cluster table has one column per figure, each from its own query.
    const table = flatPanels(d).find((p) => p.title === 'Clusters')! as Panel & { transformations: { id: string; options: { renameByName?: Record<string, string> } }[] };
    const renamed = table.transformations.find((x) => x.id === 'organize')!.options.renameByName!;
    expect(Object.values(renamed).sort()).toEqual(['Cluster', 'J per query, all in', 'J per query, attributed', 'MWh per day', 'Queries per day', 'tCO2e per day'].sort());
    for (const t of table.targets!) expect(renamed[`Value #${t.refId}`], t.refId).toBeDefined();
    expect(table.targets!.map((t) => t.refId)).toEqual(['A', 'B', 'C', 'D', 'E']);
  });

  it('the per-job dashboards use no fleet record (the per-host example Prometheus does not load fleet.yml)', () => {
    const fleet = fleetRecordedNames();
    const used = files.filter((f) => f !== FLEET_DASHBOARD).flatMap((f) => flatPanels(load(f)).flatMap((p) => (p.targets ?? []).flatMap((t) => metricNamesIn(t.expr ?? ''))));
    expect(used.filter((n) => fleet.has(n))).toEqual([]);
    expect(used.length).toBeGreaterThan(0);
  });

  it('together the dashboards show every metric of the catalogue', () => {
    const used = new Set(files.flatMap((f) => flatPanels(load(f)).flatMap((p) => (p.targets ?? []).flatMap((t) => metricNamesIn(t.expr ?? '')))));
    const base = (n: string) => n.replace(/_(bucket|sum|count)$/, '');
    const shown = new Set([...used].map((n) => (BASE_METRICS[n] || PROXY_METRICS[n] || MODE_METRICS[n] || SELF_METRICS[n] ? n : base(n))));
    expect([...Object.keys(BASE_METRICS), ...Object.keys(PROXY_METRICS), ...Object.keys(MODE_METRICS), ...Object.keys(SELF_METRICS)].filter((m) => !shown.has(m))).toEqual([]);
  });

  it('the overview has an "Energy and CO2e by tenant" panel and a per-tenant summary, grouped by tenant', () => {
    const panels = flatPanels(load('inferwatt-overview.json'));
    const byTenant = panels.find((p) => p.title === 'Energy and CO2e by tenant')!;
    expect(byTenant.targets!.map((t) => t.expr)).toEqual([
      expect.stringMatching(/^sum by \(tenant\) \(rate\(inferwatt_attributed_energy_joules_total\{/),
      expect.stringMatching(/^sum by \(tenant\) \(rate\(inferwatt_co2e_grams_total\{/),
    ]);
    const table = panels.find((p) => p.title === 'Per-tenant summary')!;
    for (const t of table.targets!) expect(t.expr, t.refId).toMatch(/^sum by \(tenant\)/);
  });

  it('the request dashboard asks for exemplars on the per-request histograms', () => {
    const d = load('inferwatt-requests.json');
    const withExemplars = flatPanels(d).flatMap((p) => (p.targets ?? []).filter((t) => t.exemplar).map((t) => t.expr!));
    for (const h of ['inferwatt_request_energy_joules_bucket', 'inferwatt_request_co2e_grams_bucket', 'inferwatt_request_water_liters_bucket']) {
      expect(withExemplars.some((e) => e.includes(h)), h).toBe(true);
    }
  });

  it('the provisioned data source links exemplars by request_id to the agent\'s /api/requests/:id', () => {
    const ds = parse(readFileSync(join(DASHBOARDS_DIR, 'provisioning', 'datasources', 'inferwatt.yaml'), 'utf8')) as {
      datasources: { type: string; jsonData: { exemplarTraceIdDestinations: { name: string; url: string }[] } }[];
    };
    expect(ds.datasources[0]!.type).toBe('prometheus');
    expect(ds.datasources[0]!.jsonData.exemplarTraceIdDestinations).toEqual([
      expect.objectContaining({ name: 'request_id', url: expect.stringMatching(/\/api\/requests\/\$\$\{__value\.raw\}$/) }),
    ]);
    const prov = parse(readFileSync(join(DASHBOARDS_DIR, 'provisioning', 'dashboards', 'inferwatt.yaml'), 'utf8')) as { providers: { type: string; options: { path: string } }[] };
    expect(prov.providers[0]).toMatchObject({ type: 'file', options: { path: expect.any(String) } });
  });

  it('the catalogue the dashboards are checked against is the one src/exporter/metrics.ts registers (with the two gauges of the report), plus the cross-check gauge only in cross-check mode and the self-metrics when given the ledger and proxy', async () => {
    const registered = async (crossCheck: boolean, self = false, learned = false) => {
      const catalogue = createMetricsCatalogue({
        clock: createSystemClock(),
        models: createLabelBounder({ max: 10 }),
        tenants: createLabelBounder({ max: 10 }),
        attribution: { policy: 'time', idle: 'unattributed' },
        sources: {
          devices: () => [], sensors: () => [], unattributedJ: () => 0, inFlight: () => 0,
          factors: () => ({ region: 'FR', source: 'test', year: 2024, gridGCo2ePerKWh: 50, pue: 1.2, wue: 0.5, ewif: 2 }),
          ...(crossCheck ? { crossCheck: () => [] } : {}),
          ...(learned ? { tokenCosts: () => [] } : {}),
          ...(self ? {
            ledger: () => ({ lateEvents: 0, forcedSplits: 0, lagFinalised: 0, uncoveredPieces: 0, unknownPool: 0, ignoredCalls: 0, heldSegments: 0, pendingWindows: 0 }),
            proxy: () => ({ tapFailures: 0, trackerFailures: 0 }),
          } : {}),
        },
      });
      return Object.fromEntries((await catalogue.registry.getMetricsAsJSON()).map((m) => [m.name, String(m.type)]));
    };
    expect(await registered(false)).toEqual({ ...BASE_METRICS, ...PROXY_METRICS, ...REPORT_METRICS });
    expect(await registered(true)).toEqual({ ...BASE_METRICS, ...PROXY_METRICS, ...REPORT_METRICS, ...MODE_METRICS });
    expect(await registered(false, true)).toEqual({ ...BASE_METRICS, ...PROXY_METRICS, ...REPORT_METRICS, ...SELF_METRICS });
    expect(await registered(false, false, true)).toEqual({ ...BASE_METRICS, ...PROXY_METRICS, ...REPORT_METRICS, ...LEARNED_METRICS });
  });

  it('the overview has a collapsed "GPU energy cross-check" row: relative difference per GPU with the alert threshold either way, and the ratio now', () => {
    const d = load('inferwatt-overview.json');
    const row = d.panels.find((p) => p.type === 'row' && p.title === 'GPU energy cross-check')! as Panel & { collapsed?: boolean };
    expect(row.collapsed).toBe(true);
    const [series, table] = row.panels!;
    const integrated = 'inferwatt_gpu_cross_check_energy_joules{job=~"$job", instance=~"$instance", method="integrated"}';
    const counter = 'inferwatt_gpu_cross_check_energy_joules{job=~"$job", instance=~"$instance", method="counter"}';
    // The counter is the reference (denominator); the gauge's values, not increase(): see the recording rule.
    expect(series!.targets!.map((t) => t.expr)).toEqual([
      `(${integrated} - ignoring (method) ${counter}) / ignoring (method) (${counter} > 0)`,
      'inferwatt:gpu_energy_methods_difference:alert_threshold_ratio',
      'inferwatt:gpu_energy_methods_difference:alert_threshold_ratio * -1',
    ]);
    expect(table!.targets!.at(-1)!.expr).toBe(`${integrated} / ignoring (method) (${counter} > 0)`);
    for (const p of [series!, table!]) {
      expect(p.description, p.title).toMatch(/--gpu-cross-check/);
      expect(p.description, p.title).toMatch(/reference/i);
    }
  });
});
