import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startAgent } from '../../src/agent.js';
import { ConfigError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';

const configFile = (yaml: string) => { const f = join(mkdtempSync(join(tmpdir(), 'inferwatt-pools-')), 'c.yaml'); writeFileSync(f, yaml); return f; };
const base = ['--sensors', 'simulated', '--simulated-gpus', '2', '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'];

async function problems(yaml: string): Promise<string[]> {
  try {
    const a = await startAgent([...base, '--config', configFile(yaml)], { env: {}, logger: silentLogger });
    await a.stop();
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

describe('pools of several upstreams', () => {
  it('refuses devices that would be counted in two pools (from the configuration alone, before discovery)', async () => {
    const p = await problems([
      'proxy:',
      '  upstreams:',
      '    - { name: a, url: "http://127.0.0.1:1", pathPrefix: /a, devices: [sim-gpu0, sim-cpu] }',
      '    - { name: b, url: "http://127.0.0.1:2", pathPrefix: /b, devices: [sim-gpu1, sim-cpu, gpu7] }',
    ].join('\n'));
    expect(p).toEqual(['proxy.upstreams: device "sim-cpu" is in the pools of both "a" and "b"; a device\'s energy can go to one pool only']);
  });

  it('refuses devices this host does not have, every one of them at once (after discovery)', async () => {
    const p = await problems([
      'proxy:',
      '  upstreams:',
      '    - { name: a, url: "http://127.0.0.1:1", pathPrefix: /a, devices: [sim-gpu0, gpu6] }',
      '    - { name: b, url: "http://127.0.0.1:2", pathPrefix: /b, devices: [sim-gpu1, gpu7] }',
    ].join('\n'));
    expect(p).toHaveLength(2);
    expect(p[0]).toMatch(/^proxy\.upstreams\[a\]\.devices: no device "gpu6" on this host \(found: sim-gpu0, sim-gpu1, sim-cpu;/);
    expect(p[1]).toMatch(/^proxy\.upstreams\[b\]\.devices: no device "gpu7"/);
  });

  it('refuses two upstreams that both default to every device', async () => {
    const p = await problems('proxy:\n  upstreams:\n    - { name: a, url: "http://127.0.0.1:1", pathPrefix: /a }\n    - { name: b, url: "http://127.0.0.1:2", pathPrefix: /b }\n');
    expect(p).toEqual([
      'proxy.upstreams: "a" lists no devices, so its pool is every device of the host and overlaps the pool of "b"; give each upstream its own devices',
      'proxy.upstreams: "b" lists no devices, so its pool is every device of the host and overlaps the pool of "a"; give each upstream its own devices',
    ]);
  });

  it('accepts disjoint pools', async () => {
    const p = await problems('proxy:\n  upstreams:\n    - { name: a, url: "http://127.0.0.1:1", pathPrefix: /a, devices: [sim-gpu0, sim-cpu] }\n    - { name: b, url: "http://127.0.0.1:2", pathPrefix: /b, devices: [sim-gpu1] }\n');
    expect(p).toEqual([]);
  });
});
