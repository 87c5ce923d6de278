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
  it('refuses devices that would be counted in two pools, and unknown devices', async () => {
    const p = await problems([
      'proxy:',
      '  upstreams:',
      '    - { name: a, url: "http://127.0.0.1:1", pathPrefix: /a, devices: [sim-gpu0, sim-cpu] }',
      '    - { name: b, url: "http://127.0.0.1:2", pathPrefix: /b, devices: [sim-gpu1, sim-cpu, gpu7] }',
    ].join('\n'));
    expect(p.join('\n')).toMatch(/"sim-cpu" is in the pools of both "a" and "b"/);
    expect(p.join('\n')).toMatch(/no device "gpu7"/);
  });

  it('refuses two upstreams that both default to every device', async () => {
    const p = await problems('proxy:\n  upstreams:\n    - { name: a, url: "http://127.0.0.1:1", pathPrefix: /a }\n    - { name: b, url: "http://127.0.0.1:2", pathPrefix: /b }\n');
    expect(p.some((x) => /"sim-gpu0" is in the pools of both "a" and "b"/.test(x))).toBe(true);
  });

  it('accepts disjoint pools', async () => {
    const p = await problems('proxy:\n  upstreams:\n    - { name: a, url: "http://127.0.0.1:1", pathPrefix: /a, devices: [sim-gpu0, sim-cpu] }\n    - { name: b, url: "http://127.0.0.1:2", pathPrefix: /b, devices: [sim-gpu1] }\n');
    expect(p).toEqual([]);
  });
});
