import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimLlmServer, type SimLlmServer } from '../../src/demo/sim-llm-server.js';
import { buildFakeNvml, writeFakeNvmlConfig } from '../helpers/build-fake-nvml.js';
import { buildBundleOutsideRepo, cleanEnv, REPO_ROOT, startBundledAgent, waitForStatus } from './bundle-helpers.js';

/**
 * The production bundle (scripts/build-bundle.mjs), which the container image and a bare GPU machine
 * run: built into a directory outside the repository and run from there with a clean environment, so
 * nothing can leak in from the checkout's node_modules or config/.
 */
let bundle: ReturnType<typeof buildBundleOutsideRepo>;
let upstream: SimLlmServer;

beforeAll(async () => {
  bundle = buildBundleOutsideRepo();
  upstream = await startSimLlmServer({ host: '127.0.0.1', port: 0, speedup: 20 });
}, 120_000);
afterAll(async () => {
  await upstream?.close();
  bundle?.remove();
});

const run = (args: string[], env: NodeJS.ProcessEnv = cleanEnv()) =>
  spawnSync(process.execPath, [bundle.launcher, ...args], { cwd: bundle.dir, env, encoding: 'utf8', timeout: 30_000 });

describe('production bundle', () => {
  it('lays out the launcher, the bundle, package.json, config/ and only the run-time externals', () => {
    expect(readdirSync(bundle.dir).sort()).toEqual(['LICENSE', 'config', 'inferwatt.mjs', 'lib', 'node_modules', 'package.json']);
    expect(existsSync(join(bundle.dir, 'lib', 'inferwatt', 'cli.mjs'))).toBe(true);
    expect(existsSync(join(bundle.dir, 'config', 'default.yaml'))).toBe(true);
    expect(existsSync(join(bundle.dir, 'config', 'factors', 'world.csv'))).toBe(true);
    const modules = readdirSync(join(bundle.dir, 'node_modules')).sort();
    // express, prom-client, zod, yaml and systeminformation are inside the bundle, not beside it.
    for (const bundled of ['express', 'prom-client', 'zod', 'yaml', 'systeminformation']) expect(modules).not.toContain(bundled);
    expect(modules).toEqual(expect.arrayContaining(['koffi', 'node-nvidia-smi', 'xml2js']));
    // The xml2js that ships is the overridden one (CVE-2023-0842 is fixed in 0.5.0).
    const xml2js = JSON.parse(readFileSync(join(bundle.dir, 'node_modules', 'xml2js', 'package.json'), 'utf8')) as { version: string };
    expect(Number(xml2js.version.split('.')[1])).toBeGreaterThanOrEqual(5);
    const pkg = JSON.parse(readFileSync(join(bundle.dir, 'package.json'), 'utf8')) as { version: string; type: string; dependencies?: unknown };
    const rootPkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(pkg).toMatchObject({ version: rootPkg.version, type: 'module' });
  });

  it('finds its own package.json and factor tables when run from outside the repository', () => {
    const version = run(['version']);
    expect(version.status, version.stderr).toBe(0);
    const rootPkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(version.stdout.trim()).toBe(rootPkg.version);

    const factors = run(['factors', 'FR', '--json']);
    expect(factors.status, factors.stderr).toBe(0);
    // The France row of config/factors (grid-countries.csv), not the world-average fallback.
    expect(JSON.parse(factors.stdout)).toMatchObject({ region: 'FR', resolution: 'region', gridGCo2ePerKWh: expect.any(Number) });

    // A config error still exits 2 with the problem listed (config/default.yaml was layered and parsed).
    const bad = run(['run', '--interval-ms', 'often']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--interval-ms: "often" is not a whole number/);
  });

  it('runs the agent: /healthz, /readyz, a request through the proxy with its record and /metrics, then SIGTERM exits 0', async () => {
    const agent = await startBundledAgent(bundle.launcher, [
      '--sensors', 'simulated', '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0',
      '--upstream', upstream.url, '--region', 'FR', '--log-format', 'text',
    ], { cwd: mkdtempSync(join(tmpdir(), 'inferwatt-cwd-')) });
    try {
      const health = await fetch(`${agent.metricsUrl}/healthz`);
      expect(health.status).toBe(200);
      await waitForStatus(`${agent.metricsUrl}/readyz`, 200);

      const res = await fetch(`${agent.proxyUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'llama-3.1-8b-instruct', messages: [{ role: 'user', content: 'how much energy does this take?' }], max_tokens: 8 }),
      });
      expect(res.status).toBe(200);
      const id = res.headers.get('x-inferwatt-request-id');
      expect(id).toMatch(/\S+/);
      await res.text();

      const record = await waitForStatus(`${agent.metricsUrl}/api/requests/${id}`, 200);
      const body = (await record.json()) as { model: string; energyJ: { total: number }; factors: { region: string } };
      expect(body.model).toBe('llama-3.1-8b-instruct');
      expect(body.energyJ.total).toBeGreaterThan(0);
      expect(body.factors.region).toBe('FR');

      const metrics = await (await fetch(`${agent.metricsUrl}/metrics`)).text();
      expect(metrics).toMatch(/^inferwatt_device_power_watts\{device="sim-gpu0",kind="gpu",method="simulated"\} [\d.]+$/m);
      expect(metrics).toMatch(/^inferwatt_requests_total\{model="llama-3.1-8b-instruct",tenant="unknown",pool="default",outcome="ok"\} 1$/m);
      expect(metrics).toMatch(/^inferwatt_sensor_up\{sensor="simulated"\} 1$/m);
    } finally {
      agent.child.kill('SIGTERM');
    }
    expect(await agent.exited).toBe(0);
    expect(agent.output()).toMatch(/SIGTERM received, finishing records and stopping/);
  }, 60_000);

  it('loads koffi from its own node_modules: the nvml sensor reads a stand-in libnvidia-ml through the bundle', async () => {
    const lib = await buildFakeNvml('modern');
    const cfg = join(mkdtempSync(join(tmpdir(), 'inferwatt-nvml-')), 'fake-nvml.conf');
    writeFakeNvmlConfig(cfg, { epoch: 1, count: 1, 'gpu0.name': 'NVIDIA H100 80GB HBM3', 'gpu0.power_mw': 312000, 'gpu0.limit_mw': 700000, 'gpu0.energy_per_ms': 312 });
    const r = run(['sensors', '--sensors', 'nvml', '--nvml-lib', lib, '--json', '--seconds', '0.5'], cleanEnv({ FAKE_NVML_CONFIG: cfg }));
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { active: { name: string; devices: string[] }[]; readings: { device: string; method: string; meanPowerW: number | null }[] };
    expect(out.active.map((s) => s.name)).toEqual(['nvml']);
    const gpu = out.readings.find((x) => x.method === 'counter');
    expect(gpu, r.stdout).toBeDefined();
    // 312 mJ per ms of the fake's monotonic clock is 312 W.
    expect(gpu!.meanPowerW).toBeGreaterThan(250);
    expect(gpu!.meanPowerW).toBeLessThan(380);
  }, 60_000);

  it('loads node-nvidia-smi from its own node_modules: the GPU inventory (nvidia-smi -q -x) of a recorded A100 works through the bundle', () => {
    // An executable named nvidia-smi on PATH that replays real captures (test/helpers/fake-nvidia-smi.mjs).
    const bin = mkdtempSync(join(tmpdir(), 'inferwatt-smi-'));
    const xml = join(REPO_ROOT, 'test', 'fixtures', 'nvidia-smi', 'xml', 'telegraf-a100-sxm4-v12.xml');
    const fake = join(REPO_ROOT, 'test', 'helpers', 'fake-nvidia-smi.mjs');
    writeFileSync(join(bin, 'nvidia-smi'), `#!/bin/sh\nexport FAKE_NVSMI_XML='${xml}'\nexec '${process.execPath}' '${fake}' "$@"\n`);
    chmodSync(join(bin, 'nvidia-smi'), 0o755);
    const r = run(['sensors', '--sensors', 'nvidia-smi', '--seconds', '0.5'], cleanEnv({ PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` }));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/nvidia-smi\s+up\s+devices: gpu0/);
    // The inventory goes through require('node-nvidia-smi') (src/sensors/gpu-inventory.ts); had it
    // failed to load, this warning would name it.
    expect(r.stderr).not.toMatch(/GPU inventory unavailable/);
    expect(r.stdout).toMatch(/A100/);
  }, 60_000);
});
