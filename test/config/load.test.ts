import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseArgv } from '../../src/config/argv.js';
import { DEFAULT_CONFIG_FILE, loadConfig } from '../../src/config/load.js';
import { DEFAULTS } from '../../src/config/schema.js';
import { ConfigError } from '../../src/core/errors.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'inferwatt-config-'));
const yamlFile = (text: string) => { const f = join(tmp(), 'c.yaml'); writeFileSync(f, text); return f; };

function problemsOf(fn: () => unknown): string[] {
  try { fn(); } catch (err) { if (err instanceof ConfigError) return [...err.problems]; throw err; }
  throw new Error('expected a ConfigError');
}

describe('config/default.yaml', () => {
  it('restates the built-in defaults exactly (every key documented there is the one in force)', () => {
    const doc = parse(readFileSync(DEFAULT_CONFIG_FILE, 'utf8'));
    expect(doc).toEqual(DEFAULTS);
  });

  it('documents every key with a comment', () => {
    const lines = readFileSync(DEFAULT_CONFIG_FILE, 'utf8').split('\n');
    const undocumented: string[] = [];
    lines.forEach((line, i) => {
      const m = /^(\s*)([A-Za-z][A-Za-z0-9]*):/.exec(line);
      if (!m) return;
      const prev = lines[i - 1] ?? '';
      const documented = line.includes('#') || /^\s*#/.test(prev) || /:\s*$/.test(line);
      if (!documented) undocumented.push(m[2]!);
    });
    expect(undocumented).toEqual([]);
  });
});

describe('loadConfig layers: defaults → default.yaml → --config → env → flags', () => {
  it('gives the defaults with no input, frozen', () => {
    const { config } = loadConfig({ defaultFile: null });
    expect(config).toEqual(DEFAULTS);
    expect(Object.isFrozen(config.proxy)).toBe(true);
  });

  it('a config file overrides defaults, env overrides the file, flags override env', () => {
    const file = yamlFile('metrics:\n  listen: 127.0.0.1:9001\nsensors:\n  gpuIntervalMs: 200\nimpacts:\n  region: DE\n');
    const { config } = loadConfig({
      defaultFile: DEFAULT_CONFIG_FILE,
      configFile: file,
      env: { INFERWATT_METRICS_LISTEN: '127.0.0.1:9002', INFERWATT_INTERVAL_MS: '50' },
      flags: { 'metrics-listen': '127.0.0.1:9003' },
    });
    expect(config.metrics.listen).toBe('127.0.0.1:9003'); // flag
    expect(config.sensors.gpuIntervalMs).toBe(50); // env over file
    expect(config.impacts.region).toBe('DE'); // file over default
    expect(config.proxy.listen).toBe('127.0.0.1:8790'); // default
  });

  it('INFERWATT_CONFIG names the file when --config is absent', () => {
    const file = yamlFile('attribution:\n  policy: tokens\n');
    const { config } = loadConfig({ defaultFile: null, env: { INFERWATT_CONFIG: file } });
    expect(config.attribution.policy).toBe('tokens');
  });

  it('parses list, bool and nullable flags', () => {
    const { config } = loadConfig({ defaultFile: null, flags: { sensors: 'rapl,estimate', 'gpu-cross-check': true, records: 'none', proxy: 'false' } });
    expect(config.sensors.enabled).toEqual(['rapl', 'estimate']);
    expect(config.sensors.gpuCrossCheck).toBe(true);
    expect(config.records.file).toBeNull();
    expect(config.proxy.enabled).toBe(false);
  });

  it('warns about unknown keys instead of failing', () => {
    const file = yamlFile('metrics:\n  listne: 1.2.3.4:5\nbogus: 1\n');
    const { warnings } = loadConfig({ defaultFile: null, configFile: file });
    expect(warnings.join('\n')).toMatch(/metrics\.listne/);
    expect(warnings.join('\n')).toMatch(/"bogus"/);
  });
});

describe('bad configuration lists every problem at once', () => {
  it('collects problems from the file, env and flags together', () => {
    const file = yamlFile('sensors:\n  gpuIntervalMs: -5\nattribution:\n  policy: random\n');
    const problems = problemsOf(() => loadConfig({
      defaultFile: null,
      configFile: file,
      env: { INFERWATT_CPU_INTERVAL_MS: 'fast' },
      flags: { listen: 'nowhere', sensors: 'rapl,gpu-magic', 'metrics-listen': '127.0.0.1:99999' },
    }));
    const text = problems.join('\n');
    expect(text).toMatch(/INFERWATT_CPU_INTERVAL_MS/);
    expect(text).toMatch(/sensors\.gpuIntervalMs/);
    expect(text).toMatch(/attribution\.policy/);
    expect(text).toMatch(/proxy\.listen \(--listen/);
    expect(text).toMatch(/sensors\.enabled/);
    // Only the env problem is caught before validation; the schema problems all come after it.
    expect(problems.length).toBeGreaterThanOrEqual(5);
  });

  it('reports an unreadable or malformed file', () => {
    expect(problemsOf(() => loadConfig({ defaultFile: null, configFile: '/nonexistent/inferwatt.yaml' })).join()).toMatch(/nonexistent/);
    expect(problemsOf(() => loadConfig({ defaultFile: null, configFile: yamlFile('a: [1, 2\n') })).join()).toMatch(/config file/);
    expect(problemsOf(() => loadConfig({ defaultFile: null, configFile: yamlFile('- 1\n- 2\n') })).join()).toMatch(/mapping/);
  });

  it('reads the tenant allow-list from a config file and rejects one that is not a list of strings', () => {
    const { config } = loadConfig({ defaultFile: null, configFile: yamlFile('metrics:\n  tenantAllowList: [team-search, team-chat]\n') });
    expect(config.metrics.tenantAllowList).toEqual(['team-search', 'team-chat']);
    expect(config.metrics.maxTenants).toBe(20);
    expect(problemsOf(() => loadConfig({ defaultFile: null, configFile: yamlFile('metrics:\n  tenantAllowList: team-search\n') })).join()).toMatch(/metrics\.tenantAllowList/);
  });

  it('rejects duplicate upstream names and bad upstream URLs', () => {
    const file = yamlFile('proxy:\n  upstreams:\n    - { name: a, url: http://127.0.0.1:1 }\n    - { name: a, url: http://127.0.0.1:2 }\n');
    expect(problemsOf(() => loadConfig({ defaultFile: null, configFile: file })).join()).toMatch(/the name "a" is used by two upstreams/);
    const bad = yamlFile('proxy:\n  upstreams:\n    - { name: a, url: ftp://x }\n');
    expect(problemsOf(() => loadConfig({ defaultFile: null, configFile: bad })).join()).toMatch(/proxy\.upstreams\.0\.url/);
  });
});

describe('parseArgv', () => {
  it('accepts --k v, --k=v, bare booleans and --no-x, and lists unknown flags', () => {
    const r = parseArgv(['--listen', '127.0.0.1:1', '--region=FR', '--gpu-cross-check', '--no-proxy', '--wat', 'x', '--upstream']);
    expect(r.flags).toEqual({ listen: '127.0.0.1:1', region: 'FR', 'gpu-cross-check': true, proxy: false });
    expect(r.problems).toEqual(['unknown flag --wat', '--upstream needs a value']);
    expect(r.positionals).toEqual(['x']);
  });
});
