import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { createSystemClock } from '../../src/core/clock.js';
import { createLabelBounder } from '../../src/exporter/label-bounder.js';
import { createMetricsCatalogue } from '../../src/exporter/metrics.js';
import { DASHBOARDS_DIR, DESIGN_METRICS, metricNamesIn, recordedNames, unknownMetric } from './promql-names.js';

/**
 * Structural checks of the Grafana dashboards. Grafana cannot run here; every panel query is also run
 * against a real Prometheus in test/prometheus/queries.test.ts (and, with the agent, integration.test.ts).
 */
interface Target { refId: string; expr?: string; datasource?: { type?: string; uid?: string }; exemplar?: boolean; format?: string }
interface Panel { id: number; type: string; title: string; description?: string; datasource?: { type?: string; uid?: string }; targets?: Target[]; gridPos: { x: number; y: number; w: number; h: number }; panels?: Panel[] }
interface Variable { name: string; type: string; query?: string | { query: string }; datasource?: { uid?: string }; definition?: string }
interface Dashboard { uid: string; title: string; schemaVersion: number; panels: Panel[]; templating: { list: Variable[] } }

const files = readdirSync(DASHBOARDS_DIR).filter((f) => f.endsWith('.json')).sort();
const load = (f: string) => JSON.parse(readFileSync(join(DASHBOARDS_DIR, f), 'utf8')) as Dashboard;
const flatPanels = (d: Dashboard): Panel[] => d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const DS_VAR = '${datasource}';

export function variableQuery(v: Variable): string | undefined {
  return typeof v.query === 'string' ? v.query : v.query?.query;
}

describe('Grafana dashboards', () => {
  it('there are an overview and a request dashboard', () => {
    expect(files).toEqual(['inferwatt-overview.json', 'inferwatt-requests.json']);
  });

  describe.each(files)('%s', (file) => {
    const d = load(file);
    const panels = flatPanels(d);
    const dataPanels = panels.filter((p) => p.type !== 'row');

    it('has a uid, a title and a Grafana 10/11 schema version', () => {
      expect(d.uid).toMatch(/^inferwatt-/);
      expect(d.title).toMatch(/^inferwatt \/ /);
      expect(d.schemaVersion).toBeGreaterThanOrEqual(36);
    });

    it('has a datasource variable of type prometheus and job, instance and model variables bound to it', () => {
      const vars = d.templating.list;
      const ds = vars.find((v) => v.name === 'datasource');
      expect(ds).toMatchObject({ type: 'datasource', query: 'prometheus' });
      for (const name of ['job', 'instance', 'model']) {
        const v = vars.find((x) => x.name === name);
        expect(v, name).toBeDefined();
        expect(v!.datasource?.uid, name).toBe(DS_VAR);
        expect(variableQuery(v!), name).toMatch(/^label_values\(/);
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

    it('every query filters by the job and instance variables, except constant threshold series', () => {
      for (const p of dataPanels) {
        for (const t of p.targets!) {
          if (/^inferwatt:[a-z0-9_]+:alert_threshold/.test(t.expr!)) continue;
          expect(t.expr, `${p.title} ${t.refId}`).toContain('job=~"$job"');
          expect(t.expr, `${p.title} ${t.refId}`).toContain('instance=~"$instance"');
        }
      }
    });

    it('every metric a query or variable uses is in the DESIGN §4 catalogue or a recording rule', () => {
      const recorded = recordedNames();
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

  it('together the dashboards show every metric of the catalogue', () => {
    const used = new Set(files.flatMap((f) => flatPanels(load(f)).flatMap((p) => (p.targets ?? []).flatMap((t) => metricNamesIn(t.expr ?? '')))));
    const base = (n: string) => n.replace(/_(bucket|sum|count)$/, '');
    const shown = new Set([...used].map((n) => (DESIGN_METRICS[n] ? n : base(n))));
    expect(Object.keys(DESIGN_METRICS).filter((m) => !shown.has(m))).toEqual([]);
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

  it('the catalogue the dashboards are checked against is the one src/exporter/metrics.ts registers', async () => {
    const catalogue = createMetricsCatalogue({
      clock: createSystemClock(),
      models: createLabelBounder({ max: 10 }),
      sources: {
        devices: () => [], sensors: () => [], unattributedJ: () => 0, inFlight: () => 0,
        factors: () => ({ region: 'FR', source: 'test', year: 2024, gridGCo2ePerKWh: 50, pue: 1.2, wue: 0.5, ewif: 2 }),
      },
    });
    const registered = Object.fromEntries((await catalogue.registry.getMetricsAsJSON()).map((m) => [m.name, String(m.type)]));
    expect(registered).toEqual(DESIGN_METRICS);
  });
});
