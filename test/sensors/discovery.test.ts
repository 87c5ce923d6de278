/**
 * Sensor discovery with sensors named explicitly: a device must be measured by one sensor only, or its
 * energy is counted twice (pools take every device of the host).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createFakeClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { discoverSensors, type DiscoveryOptions } from '../../src/sensors/discovery.js';
import type { Sensor } from '../../src/sensors/types.js';
import { RECORDED_POWERCAP_ROOT } from '../helpers/powercap-tree.js';

const open: Sensor[] = [];
afterEach(async () => {
  while (open.length) await open.pop()!.close();
});

const options = (enabled: DiscoveryOptions['enabled']): DiscoveryOptions => ({
  enabled, gpuIntervalMs: 100, nvidiaSmi: '/nonexistent/nvidia-smi', nvmlLib: '/nonexistent/libnvidia-ml.so.1',
  gpuCrossCheck: false, powercapRoot: RECORDED_POWERCAP_ROOT, estimateGpuWithoutPower: true, cpuTdpW: 100,
  simulatedGpus: 0, clock: createFakeClock(), logger: silentLogger,
});

describe('discovery: --sensors rapl,estimate', () => {
  it('uses RAPL for the CPU and keeps the estimate as its fallback, never both (the CPU would count twice)', async () => {
    const d = await discoverSensors(options(['rapl', 'estimate']));
    open.push(...d.sensors);
    expect(d.sensors.map((s) => s.name)).toEqual(['rapl']);
    const cpuDevices = d.sensors.flatMap((s) => s.devices()).filter((x) => x.kind === 'cpu');
    expect(cpuDevices.map((x) => x.id)).toEqual(['package-0']);
    expect(d.skipped.find((s) => s.name === 'estimate')?.reason).toMatch(/already measured by RAPL/);
  });

  it('falls back to the estimate when RAPL cannot be read', async () => {
    const d = await discoverSensors({ ...options(['rapl', 'estimate']), powercapRoot: '/nonexistent/powercap' });
    open.push(...d.sensors);
    expect(d.sensors.map((s) => s.name)).toEqual(['estimate']);
    expect(d.skipped.map((s) => s.name)).toEqual(['rapl']);
  });
});
