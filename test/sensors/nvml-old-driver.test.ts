/**
 * An old driver: the stand-in libnvidia-ml.so.1 compiled with -DNO_ENERGY has no
 * nvmlDeviceGetTotalEnergyConsumption symbol at all (the counter came with Volta-era drivers).
 * The nvml sensor must bind the other symbols, fall back to integrated power and never crash.
 * (A separate file, hence a separate process: it loads a different library under the same soname.)
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createFakeClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { importKoffi, loadNvmlLibrary } from '../../src/sensors/nvml-binding.js';
import { isNvmlSensor, probeNvml } from '../../src/sensors/nvml.js';
import { buildFakeNvml, writeFakeNvmlConfig } from '../helpers/build-fake-nvml.js';

let libPath: string;
let configPath: string;

beforeAll(async () => {
  libPath = await buildFakeNvml('no-energy');
  const dir = resolve('.tmp', 'fake-nvml', `cfg-old-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  configPath = join(dir, 'nvml.conf');
  process.env.FAKE_NVML_CONFIG = configPath;
});

describe('nvml sensor: old driver without the energy symbol', () => {
  it('the binding reports the symbol absent instead of throwing', async () => {
    const loaded = loadNvmlLibrary(await importKoffi(), [libPath]);
    if (!loaded.ok) throw new Error(loaded.reason);
    expect(loaded.lib.has('nvmlDeviceGetTotalEnergyConsumption')).toBe(false);
    expect(loaded.lib.has('nvmlDeviceGetPowerUsage')).toBe(true);
    expect(loaded.lib.totalEnergyMj(0n, 'sync')).toEqual({ ok: false, rc: 'absent' });
  });

  it('falls back to integrated power for every GPU, with a note saying why', async () => {
    writeFakeNvmlConfig(configPath, {
      epoch: 1, count: 2, 'gpu0.power_mw': 287500, 'gpu1.power_mw': 61000, 'gpu0.name': 'Tesla P100-PCIE-16GB',
    });
    const clock = createFakeClock();
    const res = await probeNvml({ libPath, clock, logger: silentLogger });
    if (!res.ok) throw new Error(res.reason);
    const sensor = res.sensor;
    expect(isNvmlSensor(sensor)).toBe(true);
    expect(sensor.devices().map((d) => [d.id, d.method, d.name])).toEqual([
      ['gpu0', 'integrated', 'Tesla P100-PCIE-16GB'],
      ['gpu1', 'integrated', 'Fake GPU 1'],
    ]);
    expect(sensor.devices()[0]!.notes!.join(' ')).toMatch(/no energy counter/);
    expect(await sensor.read()).toEqual([
      { device: 'gpu0', tMs: 0, powerW: 287.5 },
      { device: 'gpu1', tMs: 0, powerW: 61 },
    ]);
    clock.advance(100);
    writeFakeNvmlConfig(configPath, { epoch: 1, count: 2, 'gpu0.power_mw': 300000, 'gpu1.power_mw': 61000 });
    expect((await sensor.read())[0]).toEqual({ device: 'gpu0', tMs: 100, powerW: 300 });
    expect(sensor.health()).toMatchObject({ up: true, errors: {} });
    await sensor.close();
  });
});
