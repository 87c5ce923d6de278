import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { requireBinary } from '../helpers/prometheus.js';
import { allRules, loadRules, metricNamesIn, recordedNames, RULE_TESTS_DIR, RULES_DIR, unknownMetric } from '../prometheus/promql-names.js';

/**
 * config/prometheus/rules/fleet.yml (docs/fleet.md) under the real promtool, like the per-job rules in
 * test/prometheus/rules.test.ts: it checks, its unit tests (config/prometheus/tests/fleet_test.yml,
 * hand-computed) pass, it uses only catalogue metrics and its own records, and none of its record
 * names clashes with the per-job rules it can be loaded beside.
 */
const FLEET = join(RULES_DIR, 'fleet.yml');
const FLEET_TEST = join(RULE_TESTS_DIR, 'fleet_test.yml');
const promtool = (args: string[]) => {
  const r = spawnSync(requireBinary('promtool'), args, { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
};
const fleetRules = loadRules(FLEET).groups.flatMap((g) => g.rules);

describe('fleet recording rules', () => {
  it('promtool check rules passes', () => {
    const { code, out } = promtool(['check', 'rules', FLEET]);
    expect(out).toMatch(/SUCCESS: \d+ rules found/);
    expect(code, out).toBe(0);
  });

  it('promtool test rules passes the hand-computed unit tests (two clusters, a restart, an idle fleet)', () => {
    const { code, out } = promtool(['test', 'rules', FLEET_TEST]);
    expect(out).not.toMatch(/FAILED/);
    expect(code, out).toBe(0);
  });

  it('every fleet record has a unit test, and the rules cover J per query and tCO2e per day', () => {
    const tested = namesInExprTests(FLEET_TEST);
    const records = fleetRules.map((r) => r.record!);
    // A building block (a per-cluster sum) counts as tested when a tested record is computed from it.
    const usedByTested = (rec: string) => fleetRules.some((r) => tested.has(r.record!) && metricNamesIn(r.expr).includes(rec));
    expect(records.filter((r) => !tested.has(r) && !usedByTested(r))).toEqual([]);
    expect(records).toEqual(expect.arrayContaining([
      'fleet_model:inferwatt_energy_per_request_joules:ratio_rate1h',
      'fleet:inferwatt_energy_per_request_all_in_joules:ratio_rate1h',
      'fleet:inferwatt_co2e_tonnes_per_day:rate1h',
    ]));
  });

  it('uses only catalogue metrics and its own records; record names follow level:metric:operations and do not clash with the per-job rules', () => {
    const own = new Set(fleetRules.map((r) => r.record!));
    const problems = fleetRules.flatMap((r) => metricNamesIn(r.expr).flatMap((n) => { const why = unknownMetric(n, own); return why ? [`${r.record}: ${why}`] : []; }));
    expect(problems).toEqual([]);
    for (const r of fleetRules) {
      expect(r.alert).toBeUndefined();
      expect(r.record).toMatch(/^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$/);
    }
    const perJob = recordedNames();
    expect([...own].filter((n) => perJob.has(n))).toEqual([]);
    expect(allRules().length).toBeGreaterThan(0);
  });
});

/** Series names that the promql_expr_test expressions of a promtool test file query. */
function namesInExprTests(file: string): Set<string> {
  const doc = loadRules(file) as unknown as { tests: { promql_expr_test?: { expr: string }[] }[] };
  return new Set(doc.tests.flatMap((t) => (t.promql_expr_test ?? []).flatMap((e) => metricNamesIn(e.expr))));
}
