import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type Agent } from '../../src/agent.js';
import { silentLogger } from '../../src/core/logger.js';
import { buildFakeNvml, writeFakeNvmlConfig } from '../helpers/build-fake-nvml.js';

/**
 * `--gpu-cross-check`: the NVML counter (stand-in libnvidia-ml, counting 625.68 W) feeds the timeline,
 * nvidia-smi (fake, replaying the H100 capture at 625.68 W) runs beside it off the books, and /metrics
 * shows both energies over the same span so an operator can see what sampling loses.
 */
const FAKE_SMI = join(__dirname, '..', 'helpers', 'fake-nvidia-smi.mjs');
const H100 = join(__dirname, '..', 'fixtures', 'nvidia-smi', 'extracted', 'linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01');

let agent: Agent;

beforeAll(async () => {
  const lib = await buildFakeNvml('modern');
  const cfg = join(mkdtempSync(join(tmpdir(), 'inferwatt-xc-')), 'nvml.cfg');
  writeFakeNvmlConfig(cfg, { epoch: 1, count: 1, 'gpu0.name': 'NVIDIA H100 80GB HBM3', 'gpu0.power_mw': 625680, 'gpu0.limit_mw': 700000, 'gpu0.energy_per_ms': 625.68 });
  process.env.FAKE_NVML_CONFIG = cfg;
  process.env.FAKE_NVSMI_CAPTURE = H100;
  agent = await startAgent([
    '--sensors', 'nvml', '--gpu-cross-check', '--nvml-lib', lib, '--nvidia-smi', FAKE_SMI, '--interval-ms', '50',
    '--proxy=false', '--metrics-listen', '127.0.0.1:0', '--region', 'DE',
  ], { env: {}, logger: silentLogger });
});

afterAll(async () => { await agent?.stop(); });

describe('--gpu-cross-check', () => {
  it('measures the GPU by the NVML counter and exports nvidia-smi\'s integration beside it', async () => {
    expect(agent.discovery.sensors.map((s) => s.name)).toEqual(['nvml']);
    expect(agent.discovery.crossCheck?.name).toBe('nvidia-smi');
    let body = '';
    const both = () => /inferwatt_gpu_cross_check_energy_joules\{device="gpu0",method="integrated"\} ([\d.e+]+)/.exec(body);
    for (let i = 0; i < 200; i++) {
      body = await (await fetch(`${agent.metricsUrl}/metrics`)).text();
      const m = both();
      if (m && Number(m[1]) > 300) break; // about half a second of overlap
      await new Promise((r) => setTimeout(r, 50));
    }
    const counter = Number(/inferwatt_gpu_cross_check_energy_joules\{device="gpu0",method="counter"\} ([\d.e+]+)/.exec(body)?.[1]);
    const integrated = Number(both()?.[1]);
    expect(integrated).toBeGreaterThan(300);
    // Both see 625.68 W over the same span: they agree to within a sample interval's worth at each end.
    expect(Math.abs(counter - integrated) / counter).toBeLessThan(0.1);
    expect(body).toMatch(/^inferwatt_device_energy_joules_total\{device="gpu0",kind="gpu",method="counter"\} /m);
    const sensors = await (await fetch(`${agent.metricsUrl}/api/sensors`)).json() as { active: { name: string; deviceStatus?: unknown[] }[]; crossCheck?: { name: string } };
    expect(sensors.crossCheck?.name).toBe('nvidia-smi');
    expect(sensors.active[0]?.deviceStatus?.length).toBe(1);
  });
});
