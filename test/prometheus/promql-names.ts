import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/**
 * The metric catalogue (docs/design.md) as the dashboards and rules may use it, plus what PromQL
 * derives from it (histogram series) and Prometheus itself provides (`up`). Kept here as data;
 * test/prometheus/dashboards.test.ts checks that it equals what
 * src/exporter/metrics.ts registers, so a drift between the exporter and the dashboards fails.
 */
export const BASE_METRICS: Readonly<Record<string, 'gauge' | 'counter' | 'histogram'>> = {
  inferwatt_device_power_watts: 'gauge',
  inferwatt_device_energy_joules_total: 'counter',
  inferwatt_device_info: 'gauge',
  inferwatt_requests_total: 'counter',
  inferwatt_request_energy_joules: 'histogram',
  inferwatt_request_co2e_grams: 'histogram',
  inferwatt_request_water_liters: 'histogram',
  inferwatt_tokens_total: 'counter',
  inferwatt_attributed_energy_joules_total: 'counter',
  inferwatt_unattributed_energy_joules_total: 'counter',
  inferwatt_co2e_grams_total: 'counter',
  inferwatt_water_liters_total: 'counter',
  inferwatt_in_flight_requests: 'gauge',
  inferwatt_grid_intensity_grams_per_kwh: 'gauge',
  inferwatt_factor_info: 'gauge',
  inferwatt_sensor_up: 'gauge',
  inferwatt_sensor_errors_total: 'counter',
  inferwatt_sensor_last_sample_timestamp_seconds: 'gauge',
  inferwatt_upstream_errors_total: 'counter',
  // Beyond the original table (issue 13): records that could not be appended to the records file.
  inferwatt_records_write_errors_total: 'counter',
};

/**
 * Metrics beyond that table that the exporter always registers: the proxy's view of its upstreams (a TCP
 * probe: reachable or not) and of its clients (connections closed at once past proxy.maxConnections).
 */
export const PROXY_METRICS: Readonly<Record<string, 'gauge' | 'counter' | 'histogram'>> = {
  inferwatt_upstream_up: 'gauge',
  inferwatt_proxy_connections_dropped_total: 'counter',
};

/**
 * Metrics beyond the base catalogue that the exporter registers only in a mode: in cross-check mode
 * (`--gpu-cross-check`, issue 7) each GPU's energy over the span both the NVML counter and nvidia-smi
 * cover, by method. Dashboards and rules may use them; dashboards.test.ts checks the exporter
 * registers exactly these when given the cross-check source.
 */
export const MODE_METRICS: Readonly<Record<string, 'gauge' | 'counter' | 'histogram'>> = {
  inferwatt_gpu_cross_check_energy_joules: 'gauge',
};

/** Metrics only the `learned` attribution policy registers (src/exporter/token-cost-metrics.ts). */
export const LEARNED_METRICS: Readonly<Record<string, 'gauge' | 'counter' | 'histogram'>> = {
  inferwatt_token_energy_joules: 'gauge',
  inferwatt_pool_baseline_power_watts: 'gauge',
  inferwatt_token_costs_ready: 'gauge',
};

/**
 * The agent's metrics about itself (src/exporter/self-metrics.ts): the ledger's and the proxy's own
 * counts, registered whenever the catalogue is given their sources (the agent always does).
 */
export const SELF_METRICS: Readonly<Record<string, 'gauge' | 'counter' | 'histogram'>> = {
  inferwatt_ledger_late_events_total: 'counter',
  inferwatt_ledger_forced_splits_total: 'counter',
  inferwatt_ledger_lag_finalised_total: 'counter',
  inferwatt_ledger_uncovered_pieces_total: 'counter',
  inferwatt_ledger_unknown_pool_requests_total: 'counter',
  inferwatt_ledger_ignored_calls_total: 'counter',
  inferwatt_ledger_held_segments: 'gauge',
  inferwatt_ledger_pending_records: 'gauge',
  inferwatt_proxy_tap_failures_total: 'counter',
  inferwatt_proxy_tracker_failures_total: 'counter',
};

/**
 * Metrics beyond the base catalogue that `inferwatt report` reads (docs/report.md): when each agent's
 * counters started (restarts are told apart from it even where a restarted counter has passed its old
 * value) and the attribution settings the figures came from.
 */
export const REPORT_METRICS: Readonly<Record<string, 'gauge' | 'counter' | 'histogram'>> = {
  inferwatt_start_time_seconds: 'gauge',
  inferwatt_attribution_info: 'gauge',
};

/** Series Prometheus makes itself for every target. */
const PROMETHEUS_BUILTINS = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);

const KEYWORDS = new Set([
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless',
  'inf', 'nan', 'atan2', 'start', 'end',
]);

/**
 * Metric names an expression selects. Good enough for our own expressions, not a PromQL parser:
 * strings, label matchers `{...}`, ranges `[...]` and grouping label lists are removed first, then
 * every identifier not followed by `(` (a function call) and not a keyword is a metric name.
 */
export function metricNamesIn(expr: string): string[] {
  let s = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  s = s.replace(/\{[^}]*\}/g, ' ');
  s = s.replace(/\[[^\]]*\]/g, ' ');
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  s = s.replace(/\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/g, ' ');
  const names = new Set<string>();
  for (const m of s.matchAll(/(?<![\w.])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/g)) {
    const [, name, call] = m;
    if (call || !name || KEYWORDS.has(name.toLowerCase())) continue;
    // Exponent of a number such as 1e-9 is not a name.
    if (/^e\d*$/i.test(name)) continue;
    names.add(name);
  }
  return [...names];
}

/** Why `name` is not a known series, or undefined if it is. */
export function unknownMetric(name: string, recorded: ReadonlySet<string>): string | undefined {
  if (recorded.has(name) || PROMETHEUS_BUILTINS.has(name) || BASE_METRICS[name] || PROXY_METRICS[name] || MODE_METRICS[name] || SELF_METRICS[name] || REPORT_METRICS[name] || LEARNED_METRICS[name]) return undefined;
  const hist = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (hist && BASE_METRICS[hist[1]!] === 'histogram') return undefined;
  if (hist && BASE_METRICS[hist[1]!]) return `${name}: ${hist[1]} is a ${BASE_METRICS[hist[1]!]}, not a histogram`;
  return `${name}: neither in the metric catalogue nor a recording rule`;
}

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const RULES_DIR = join(REPO_ROOT, 'config', 'prometheus', 'rules');
export const RULE_TESTS_DIR = join(REPO_ROOT, 'config', 'prometheus', 'tests');
export const DASHBOARDS_DIR = join(REPO_ROOT, 'dashboards');

export interface RuleFileRule { record?: string; alert?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }
export interface RuleFile { groups: { name: string; interval?: string; rules: RuleFileRule[] }[] }

/** Every `*.rules.yml` file of config/prometheus/rules (what the example prometheus.yml loads). */
export function ruleFiles(dir = RULES_DIR): string[] {
  return readdirSync(dir).filter((f) => /\.rules\.ya?ml$/.test(f)).sort().map((f) => join(dir, f));
}

export function loadRules(file: string): RuleFile {
  return parse(readFileSync(file, 'utf8')) as RuleFile;
}

export function allRules(dir = RULES_DIR): RuleFileRule[] {
  return ruleFiles(dir).flatMap((f) => loadRules(f).groups.flatMap((g) => g.rules));
}

export function recordedNames(dir = RULES_DIR): Set<string> {
  return new Set(allRules(dir).flatMap((r) => (r.record ? [r.record] : [])));
}

/**
 * The fleet recording rules (docs/fleet.md): for the Prometheus, Thanos or Mimir ruler that sees every
 * cluster, so not among the per-job `*.rules.yml` that the per-host example loads.
 */
export const FLEET_RULES_FILE = join(RULES_DIR, 'fleet.yml');

export function fleetRecordedNames(file = FLEET_RULES_FILE): Set<string> {
  return new Set(loadRules(file).groups.flatMap((g) => g.rules.flatMap((r) => (r.record ? [r.record] : []))));
}

/** The fleet dashboard (dashboards/inferwatt-fleet.json) reads the fleet records, not the per-job ones. */
export const FLEET_DASHBOARD = 'inferwatt-fleet.json';
