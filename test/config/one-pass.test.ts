/**
 * Bad configuration is reported in one pass (issue 13, item 3): schema errors, cross-field problems of the
 * upstreams (names, prefixes, overlapping pools), the region and the live zone together, with the warnings
 * about unknown keys printed even when the run fails; exit status 2.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/core/errors.js';

const yamlFile = (text: string) => { const f = join(mkdtempSync(join(tmpdir(), 'inferwatt-onepass-')), 'c.yaml'); writeFileSync(f, text); return f; };

async function cli(argv: string[]) {
  let out = '';
  let err = '';
  const code = await main(argv, { stdout: (s) => { out += s; }, stderr: (s) => { err += s; }, env: {} });
  return { code, out, err };
}

function problemsOf(fn: () => unknown): ConfigError {
  try { fn(); } catch (err) { if (err instanceof ConfigError) return err; throw err; }
  throw new Error('expected a ConfigError');
}

// 19 values of the wrong type or out of range, one per line marked #n.
const NINETEEN = [
  'log:',
  '  level: loud                 #1',
  '  format: xml                 #2',
  'proxy:',
  '  enabled: maybe              #3',
  '  listen: nope                #4',
  '  upstream: not-a-url         #5',
  '  maxParseBodyBytes: -1       #6',
  '  tenantHeader: ""            #7',
  '  upstreamTimeoutMs: 0        #8',
  '  upstreams:',
  '    - { name: a, url: "http://127.0.0.1:1", pathPrefix: /a, devices: [sim-gpu0, sim-cpu] }',
  '    - { name: a, url: "http://127.0.0.1:2", pathPrefix: /a/, devices: [sim-cpu] }',
  'metrics:',
  '  listen: 127.0.0.1:99999     #9',
  '  maxModels: 0                #10',
  '  maxTenants: lots            #11',
  '  extraKey: 1',
  'sensors:',
  '  enabled: [gpu-magic]        #12',
  '  gpuIntervalMs: 1            #13',
  '  cpuIntervalMs: fast         #14',
  '  cpuTdpW: -3                 #15',
  '  simulatedGpus: 1.5          #16',
  'attribution:',
  '  policy: vibes               #17',
  '  idle: sometimes             #18',
  'records:',
  '  keep: 0                     #19',
  'impacts:',
  '  region: NOWHERE',
].join('\n') + '\n';

describe('a configuration file with every kind of problem', () => {
  it('loadConfig lists the 19 type errors, the duplicate name and prefix, the overlapping pools and the unknown region at once, and keeps the warnings', () => {
    const e = problemsOf(() => loadConfig({ defaultFile: null, configFile: yamlFile(NINETEEN) }));
    const text = e.problems.join('\n');
    for (const key of ['log.level', 'log.format', 'proxy.enabled', 'proxy.listen', 'proxy.upstream', 'proxy.maxParseBodyBytes', 'proxy.tenantHeader',
      'proxy.upstreamTimeoutMs', 'metrics.listen', 'metrics.maxModels', 'metrics.maxTenants', 'sensors.enabled', 'sensors.gpuIntervalMs',
      'sensors.cpuIntervalMs', 'sensors.cpuTdpW', 'sensors.simulatedGpus', 'attribution.policy', 'attribution.idle', 'records.keep']) {
      expect(e.problems.filter((p) => p.startsWith(`${key} `) || p.startsWith(`${key}:`)), key).toHaveLength(1);
    }
    expect(text).toMatch(/the name "a" is used by two upstreams/);
    expect(text).toMatch(/pathPrefix "\/a" is used by both "a" and "a"/);
    expect(text).toMatch(/device "sim-cpu" is in the pools of both "a" and "a"/);
    expect(text).toMatch(/impacts\.region \(--region, INFERWATT_REGION\): region "NOWHERE" is not in the factor tables/);
    expect(e.problems).toHaveLength(23);
    expect(e.warnings.join('\n')).toMatch(/unknown key "metrics\.extraKey" ignored/);
  });

  it('`inferwatt run --config FILE` prints all of it in one run, warnings included, and exits 2 before anything starts', async () => {
    const r = await cli(['run', '--config', yamlFile(NINETEEN)]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/invalid configuration \(23 problems\)/);
    expect(r.err).toMatch(/NOWHERE/);
    expect(r.err).toMatch(/used by two upstreams/);
    expect(r.err).toMatch(/warning: .*unknown key "metrics\.extraKey" ignored/);
    expect(r.out).toBe('');
  });

  it('--region NOWHERE --log-level loud reports both', async () => {
    const r = await cli(['run', '--region', 'NOWHERE', '--log-level', 'loud']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/invalid configuration \(2 problems\)/);
    expect(r.err).toMatch(/log\.level \(--log-level, INFERWATT_LOG_LEVEL\)/);
    expect(r.err).toMatch(/region "NOWHERE" is not in the factor tables/);
  });

  it('an unknown region and a live provider that cannot serve it are reported with the other problems', () => {
    const e = problemsOf(() => loadConfig({ defaultFile: null, flags: { region: 'aws:eu-wset-1', 'interval-ms': '5' }, configFile: yamlFile('impacts:\n  live:\n    provider: gb-carbon-intensity\n') }));
    expect(e.problems.join('\n')).toMatch(/did you mean aws:eu-west-1/);
    expect(e.problems.join('\n')).toMatch(/sensors\.gpuIntervalMs/);
    const live = problemsOf(() => loadConfig({ defaultFile: null, flags: { region: 'FR', 'log-level': 'loud' }, configFile: yamlFile('impacts:\n  live:\n    provider: gb-carbon-intensity\n') }));
    expect(live.problems.join('\n')).toMatch(/gb-carbon-intensity covers Great Britain only/);
    expect(live.problems.join('\n')).toMatch(/log\.level/);
  });
});

describe('the records file, checked with the rest', () => {
  it('a directory named as the records file is reported with the other problems, and nothing is created', () => {
    const dir = mkdtempSync(join(tmpdir(), 'inferwatt-onepass-records-'));
    const e = problemsOf(() => loadConfig({ defaultFile: null, flags: { records: dir, 'log-level': 'loud' } }));
    expect(e.problems).toHaveLength(2);
    expect(e.problems[1]).toBe(`records.file (--records, INFERWATT_RECORDS): cannot open "${dir}" to append records: it is a directory`);
    const under = join(dir, 'a-file');
    writeFileSync(under, '');
    expect(problemsOf(() => loadConfig({ defaultFile: null, flags: { records: join(under, 'records.jsonl') } })).problems)
      .toEqual([`records.file (--records, INFERWATT_RECORDS): cannot open "${join(under, 'records.jsonl')}" to append records: a parent in the path is not a directory`]);
    const fresh = join(dir, 'new', 'records.jsonl');
    expect(loadConfig({ defaultFile: null, flags: { records: fresh } }).config.records.file).toBe(fresh);
    expect(existsSync(join(dir, 'new'))).toBe(false); // validation creates nothing; the agent creates the parents
  });
});

describe('upstreams: cross-field checks', () => {
  it('two upstreams with the same pathPrefix are an error (one would never receive traffic)', () => {
    const e = problemsOf(() => loadConfig({ defaultFile: null, configFile: yamlFile([
      'proxy:',
      '  upstreams:',
      '    - { name: a, url: "http://127.0.0.1:1", pathPrefix: /v1, devices: [gpu0] }',
      '    - { name: b, url: "http://127.0.0.1:2", pathPrefix: /v1, devices: [gpu1] }',
    ].join('\n')) }));
    expect(e.problems).toEqual(['proxy.upstreams: pathPrefix "/v1" is used by both "a" and "b"; each upstream needs its own (the second would never receive a request)']);
  });

  it('two upstreams without a prefix are the same error: only the first would be the default', () => {
    const e = problemsOf(() => loadConfig({ defaultFile: null, configFile: yamlFile([
      'proxy:',
      '  upstreams:',
      '    - { name: a, url: "http://127.0.0.1:1", devices: [gpu0] }',
      '    - { name: b, url: "http://127.0.0.1:2", devices: [gpu1] }',
    ].join('\n')) }));
    expect(e.problems.join('\n')).toMatch(/"a" and "b" both have no pathPrefix/);
  });

  it('an upstream without a devices list takes every device, so beside another upstream its pool overlaps', () => {
    const e = problemsOf(() => loadConfig({ defaultFile: null, configFile: yamlFile([
      'proxy:',
      '  upstreams:',
      '    - { name: a, url: "http://127.0.0.1:1", pathPrefix: /a }',
      '    - { name: b, url: "http://127.0.0.1:2", pathPrefix: /b, devices: [gpu1] }',
    ].join('\n')) }));
    expect(e.problems.join('\n')).toMatch(/"a" lists no devices, so its pool is every device of the host and overlaps the pool of "b"/);
  });
});

describe('messages', () => {
  it('--listen nope is reported once, with the proxy port as the example', () => {
    const e = problemsOf(() => loadConfig({ defaultFile: null, flags: { listen: 'nope', 'metrics-listen': 'nope' } }));
    expect(e.problems).toEqual([
      'proxy.listen (--listen, INFERWATT_LISTEN): "nope" must be HOST:PORT, e.g. 127.0.0.1:8790',
      'metrics.listen (--metrics-listen, INFERWATT_METRICS_LISTEN): "nope" must be HOST:PORT, e.g. 127.0.0.1:9477',
    ]);
    expect(problemsOf(() => loadConfig({ defaultFile: null, flags: { listen: '127.0.0.1:70000' } })).problems)
      .toEqual(['proxy.listen (--listen, INFERWATT_LISTEN): port 70000 is beyond 65535']);
  });

  it('--sensors foo names the valid sensors', () => {
    const e = problemsOf(() => loadConfig({ defaultFile: null, flags: { sensors: 'rapl,foo' } }));
    expect(e.problems).toEqual(['sensors.enabled (--sensors, INFERWATT_SENSORS): "foo" is not a sensor; use auto, or a list of nvml, nvidia-smi, rapl, estimate, simulated']);
  });

  it('a YAML syntax error shows its message, where it is, and the line', () => {
    const file = yamlFile('proxy:\n  listen: [1, 2\nlog: {}\n');
    const e = problemsOf(() => loadConfig({ defaultFile: null, configFile: file }));
    expect(e.problems).toHaveLength(1);
    const p = e.problems[0]!;
    expect(p).toMatch(new RegExp(`^config file ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}, line 3, column 1: Flow sequence in block collection must be sufficiently indented and end with a \\]\n`));
    expect(p).toMatch(/\n {4}log: \{\}\n {4}\^$/);
  });
});
