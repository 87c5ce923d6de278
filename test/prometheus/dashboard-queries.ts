import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import type { PrometheusHandle } from '../helpers/prometheus.js';
import { DASHBOARDS_DIR, FLEET_RULES_FILE, RULES_DIR, fleetRecordedNames, loadRules, recordedNames, ruleFiles, type RuleFile } from './promql-names.js';

/**
 * What "every panel shows data" means when run against a real Prometheus: each dashboard query, with
 * Grafana's variables replaced as Grafana would for "All" and a short time range, returns at least one
 * series; each recording rule's series exists; each variable's label_values finds values.
 * Shared by queries.test.ts (synthetic exposition from the real catalogue) and integration.test.ts
 * (the real agent).
 */
export interface DashboardQuery { where: string; expr: string }

/** Grafana's substitutions for "All" selections and a test-sized time range. */
export function substituteGrafanaVariables(expr: string, rangeS = 60): string {
  return expr
    .replace(/\$\{?__rate_interval\}?/g, '15s')
    .replace(/\$\{?__interval\}?/g, '5s')
    .replace(/\$\{?__range\}?/g, `${rangeS}s`)
    .replace(/\$\{?(job|instance|model|tenant|cluster)\}?/g, '.*');
}

interface Panel { title: string; type: string; targets?: { refId: string; expr?: string }[]; panels?: Panel[] }
interface Variable { name: string; query?: string | { query: string } }

export function dashboardQueries(): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  for (const f of readdirSync(DASHBOARDS_DIR).filter((x) => x.endsWith('.json')).sort()) {
    const d = JSON.parse(readFileSync(join(DASHBOARDS_DIR, f), 'utf8')) as { panels: Panel[]; templating: { list: Variable[] } };
    for (const p of d.panels.flatMap((x) => [x, ...(x.panels ?? [])])) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ where: `${f} "${p.title}" ${t.refId}`, expr: substituteGrafanaVariables(t.expr) });
    }
  }
  return out;
}

/** label_values(selector, label) of every dashboard variable. */
export function dashboardVariableQueries(): { where: string; selector: string; label: string }[] {
  const out: { where: string; selector: string; label: string }[] = [];
  for (const f of readdirSync(DASHBOARDS_DIR).filter((x) => x.endsWith('.json')).sort()) {
    const d = JSON.parse(readFileSync(join(DASHBOARDS_DIR, f), 'utf8')) as { templating: { list: Variable[] } };
    for (const v of d.templating.list) {
      const q = typeof v.query === 'string' ? v.query : v.query?.query;
      const m = q ? /^label_values\((.*),\s*(\w+)\)$/.exec(q) : null;
      if (m) out.push({ where: `${f} variable ${v.name}`, selector: substituteGrafanaVariables(m[1]!), label: m[2]! });
    }
  }
  return out;
}

/** Every query that returned no series, with where it comes from; [] when all have data. */
export async function emptyDashboardQueries(prom: PrometheusHandle): Promise<string[]> {
  const empty: string[] = [];
  for (const q of dashboardQueries()) {
    const res = await prom.query(q.expr).catch((err: unknown) => `error: ${String(err)}`);
    if (typeof res === 'string') empty.push(`${q.where}: ${res}`);
    else if (res.length === 0) empty.push(`${q.where}: no data for ${q.expr}`);
  }
  for (const v of dashboardVariableQueries()) {
    const res = await prom.query(v.selector).catch(() => []);
    if (!res.some((s) => s.metric[v.label])) empty.push(`${v.where}: no ${v.label} values in ${v.selector}`);
  }
  return empty;
}

/**
 * Recording rules loaded in `prom` whose series is absent, and the rules of this repository's
 * inferwatt-*.rules.yml and fleet.yml files that were not loaded at all. (The per-model threshold
 * overrides exist only where an operator adds them, so they are in neither list.)
 */
export async function emptyRecordingRules(prom: PrometheusHandle): Promise<string[]> {
  const loaded = (await prom.rules()).flatMap((g) => g.rules.filter((r) => r.type === 'recording').map((r) => r.name));
  const expected = [...recordedNames(), ...fleetRecordedNames()];
  const problems = expected.filter((n) => !loaded.includes(n)).map((n) => `${n}: not loaded`);
  for (const name of new Set(loaded)) {
    const res = await prom.query(name).catch(() => []);
    if (res.length === 0) problems.push(`${name}: no data`);
  }
  return problems;
}

/** The tests' Prometheus evaluates every second (test/helpers/prometheus.ts). */
const TEST_EVALUATION_INTERVAL = '1s';

/**
 * Rule files for a test Prometheus: the real recording and alert rules, and the thresholds file with
 * the per-query CO2e threshold edited to `co2eThresholdGrams` exactly as docs/dashboards.md tells an
 * operator to, and InferwattRequestCO2eHigh's `for` shortened to `forDuration` so that a test need
 * not wait 15 minutes (its `for` is covered by the promtool unit tests).
 *
 * Plus the fleet rules (fleet.yml), so that the fleet dashboard's queries run against them too, as in
 * the compose Prometheus that loads all four files. Their group's 1m `interval` is shortened to the
 * test's evaluation interval, so that the first evaluation with data comes within seconds, not up to
 * a minute (Prometheus offsets a group's first evaluation anywhere in its interval); the expressions
 * are the file's own, and their values are checked by promtool in config/prometheus/tests/fleet_test.yml.
 */
export async function testRuleFiles(co2eThresholdGrams: number, forDuration = '0s'): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'inferwatt-rules-'));
  const thresholds = loadRules(join(RULES_DIR, 'inferwatt-thresholds.rules.yml'));
  let edited = 0;
  for (const g of thresholds.groups) {
    for (const r of g.rules) if (r.record === 'inferwatt:request_co2e_grams:alert_threshold') { r.expr = `vector(${co2eThresholdGrams})`; edited++; }
  }
  if (edited !== 1) throw new Error('inferwatt:request_co2e_grams:alert_threshold not found once in the thresholds file');
  const alerts = parse(readFileSync(join(RULES_DIR, 'inferwatt-alerts.rules.yml'), 'utf8')) as RuleFile;
  for (const g of alerts.groups) for (const r of g.rules) if (r.alert === 'InferwattRequestCO2eHigh') r.for = forDuration;
  const fleet = loadRules(FLEET_RULES_FILE);
  for (const g of fleet.groups) g.interval = TEST_EVALUATION_INTERVAL;
  const thresholdsFile = join(dir, 'inferwatt-thresholds.rules.yml');
  const alertsFile = join(dir, 'inferwatt-alerts.rules.yml');
  const fleetFile = join(dir, 'fleet.yml');
  await writeFile(thresholdsFile, stringify(thresholds));
  await writeFile(alertsFile, stringify(alerts));
  await writeFile(fleetFile, stringify(fleet));
  // Every other rule file as it is, so that what is checked is what the example config loads.
  const perJob = ruleFiles().map((f) => (f.endsWith('/inferwatt-thresholds.rules.yml') ? thresholdsFile : f.endsWith('/inferwatt-alerts.rules.yml') ? alertsFile : f));
  return [...perJob, fleetFile];
}
