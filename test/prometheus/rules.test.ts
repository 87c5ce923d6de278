import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { requireBinary } from '../helpers/prometheus.js';
import {
  REPO_ROOT, RULE_TESTS_DIR, allRules, metricNamesIn, recordedNames, ruleFiles, unknownMetric,
} from './promql-names.js';

/**
 * The Prometheus rules, checked by the real promtool (Debian's package; scripts/install-prometheus.sh
 * installs it and .ci/run runs that first). No promtool is a failure, never a skip.
 */
function promtool(args: string[]): { code: number | null; out: string } {
  const bin = requireBinary('promtool');
  const r = spawnSync(bin, args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
}

const FIXTURE_RULES = join(RULE_TESTS_DIR, 'fixtures');
const unitTestFiles = readdirSync(RULE_TESTS_DIR).filter((f) => /\.test\.ya?ml$/.test(f)).sort().map((f) => join(RULE_TESTS_DIR, f));

interface AlertRuleTest { eval_time: string; alertname: string; exp_alerts?: unknown[] }
interface UnitTestFile { tests: { name: string; alert_rule_test?: AlertRuleTest[] }[] }

describe('Prometheus rules', () => {
  it('promtool is installed (scripts/install-prometheus.sh)', () => {
    expect(requireBinary('promtool')).toMatch(/promtool$/);
  });

  it.each([...ruleFiles(), ...ruleFiles(FIXTURE_RULES)].map((f) => [f.slice(REPO_ROOT.length)]))(
    'promtool check rules %s passes', (rel) => {
      const { code, out } = promtool(['check', 'rules', join(REPO_ROOT, rel)]);
      expect(out).toMatch(/SUCCESS/);
      expect(code, out).toBe(0);
    });

  it('promtool test rules passes every unit test file', { timeout: 180_000 }, () => {
    expect(unitTestFiles.length).toBeGreaterThan(0);
    const { code, out } = promtool(['test', 'rules', ...unitTestFiles]);
    expect(out).not.toMatch(/FAILED/);
    expect(code, out).toBe(0);
  });

  it('the example prometheus.yml is valid and loads every rule file', () => {
    const { code, out } = promtool(['check', 'config', 'config/prometheus/prometheus.yml']);
    expect(code, out).toBe(0);
    for (const f of ruleFiles()) expect(out).toContain(f.slice(join(REPO_ROOT, 'config/prometheus/').length));
  });

  it('every alert has a firing and a not-firing promtool unit test', () => {
    const alerts = allRules().flatMap((r) => (r.alert ? [r.alert] : []));
    expect(alerts.length).toBeGreaterThanOrEqual(6);
    const firing = new Set<string>();
    const quiet = new Set<string>();
    for (const f of unitTestFiles) {
      const doc = parse(readFileSync(f, 'utf8')) as UnitTestFile;
      for (const t of doc.tests) {
        for (const a of t.alert_rule_test ?? []) (a.exp_alerts?.length ? firing : quiet).add(a.alertname);
      }
    }
    expect(alerts.filter((a) => !firing.has(a)), 'alerts without a firing test').toEqual([]);
    expect(alerts.filter((a) => !quiet.has(a)), 'alerts without a not-firing test').toEqual([]);
  });

  it('every alert has a severity, a summary, a description, a runbook and a runbook_url that exists in docs/runbooks.md', () => {
    const runbooks = readFileSync(join(REPO_ROOT, 'docs', 'runbooks.md'), 'utf8');
    // GitHub's anchors: headings lower-cased, punctuation dropped, spaces to hyphens.
    const anchors = new Set([...runbooks.matchAll(/^#+\s+(.+)$/gm)].map((m) => m[1]!.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')));
    for (const r of allRules().filter((x) => x.alert)) {
      expect(r.labels?.severity, r.alert).toMatch(/^(critical|warning|info)$/);
      for (const k of ['summary', 'description', 'runbook', 'runbook_url']) expect(r.annotations?.[k], `${r.alert}.${k}`).toBeTruthy();
      const anchor = /#(.+)$/.exec(r.annotations!.runbook_url!)?.[1];
      expect(anchor && anchors.has(anchor), `${r.alert}: runbook_url anchor #${anchor} not a heading of docs/runbooks.md`).toBe(true);
    }
  });

  it('rules use only catalogue metrics and recorded series, and record names follow level:metric:operations', () => {
    // The per-model CO2e threshold is recorded only where an operator adds an override; its shape is
    // the one in tests/fixtures/per-model-threshold.rules.yml.
    const recorded = new Set([...recordedNames(), ...recordedNames(FIXTURE_RULES)]);
    const problems: string[] = [];
    for (const r of allRules()) {
      for (const name of metricNamesIn(r.expr)) {
        const why = unknownMetric(name, recorded);
        if (why) problems.push(`${r.record ?? r.alert}: ${why}`);
      }
      if (r.record) expect(r.record).toMatch(/^[a-z_]*:[a-z0-9_]+:[a-z0-9_]+$/);
    }
    expect(problems).toEqual([]);
  });

  it('the name check itself catches an unknown metric and a non-histogram _bucket', () => {
    const recorded = recordedNames();
    expect(metricNamesIn('sum by (model) (rate(inferwatt_requets_total{model=~"$model"}[5m]))')).toEqual(['inferwatt_requets_total']);
    expect(unknownMetric('inferwatt_requets_total', recorded)).toMatch(/neither/);
    expect(unknownMetric('inferwatt_tokens_total_bucket', recorded)).toMatch(/not a histogram/);
    expect(unknownMetric('inferwatt_request_co2e_grams_bucket', recorded)).toBeUndefined();
    expect(unknownMetric('job_model:inferwatt_request_co2e_grams:p95_rate5m', recorded)).toBeUndefined();
  });
});
