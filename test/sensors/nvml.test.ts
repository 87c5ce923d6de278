/**
 * The nvml sensor against a stand-in libnvidia-ml.so.1 (test/native/fake-nvml.c), built with gcc once
 * per source version. The fake re-reads its control file at each call, so each test writes the GPUs it
 * wants (with a fresh `epoch`, which resets the fake's counters) and rewrites it to change them mid-run.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createFakeClock, type FakeClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { importKoffi } from '../../src/sensors/nvml-binding.js';
import { isNvmlSensor, probeNvml, type NvmlProbeOptions, type NvmlSensor } from '../../src/sensors/nvml.js';
import { discoverSensors } from '../../src/sensors/discovery.js';
import type { Reading } from '../../src/sensors/types.js';
import { buildFakeNvml, writeFakeNvmlConfig, type FakeNvmlConfig } from '../helpers/build-fake-nvml.js';

let libPath: string;
let configPath: string;
let epoch = 0;
let shutdownCalls: () => number;
let powerCalls: () => number;
let initCalls: () => number;
let initialized: () => number;
const open: NvmlSensor[] = [];

beforeAll(async () => {
  libPath = await buildFakeNvml('modern');
  const dir = resolve('.tmp', 'fake-nvml', `cfg-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  configPath = join(dir, 'nvml.conf');
  writeFakeNvmlConfig(configPath, { epoch: 0 });
  process.env.FAKE_NVML_CONFIG = configPath; // Node's env writes go to the C environment the fake reads
  // The same path dlopen()ed twice is one library: these hooks see the sensor's calls.
  const koffi = (await importKoffi()) as unknown as {
    load(p: string): { func(n: string, r: string, a: string[]): () => number };
  };
  const fake = koffi.load(libPath);
  const shutdownFn = fake.func('fake_nvml_shutdown_calls', 'long', []);
  const powerFn = fake.func('fake_nvml_power_calls', 'long', []);
  shutdownCalls = () => Number(shutdownFn());
  const initCallsFn = fake.func('fake_nvml_init_calls', 'long', []);
  const initializedFn = fake.func('fake_nvml_initialized', 'long', []);
  initCalls = () => Number(initCallsFn());
  initialized = () => Number(initializedFn());
  powerCalls = () => Number(powerFn());
});

afterEach(async () => {
  while (open.length) await open.pop()!.close();
});

/** Writes the GPUs for this test; keys as in fake-nvml.c. */
function setGpus(config: FakeNvmlConfig, keepEpoch = false): void {
  if (!keepEpoch) epoch++;
  writeFakeNvmlConfig(configPath, { epoch, ...config });
}

async function probe(extra: Partial<NvmlProbeOptions> = {}): Promise<{ sensor: NvmlSensor; clock: FakeClock }> {
  const clock = createFakeClock();
  const res = await probeNvml({ libPath, clock, logger: silentLogger, ...extra });
  if (!res.ok) throw new Error(`probe failed: ${res.reason}`);
  if (!isNvmlSensor(res.sensor)) throw new Error('not an nvml sensor');
  open.push(res.sensor);
  return { sensor: res.sensor, clock };
}

/** Reads n times, 100 ms apart on the fake clock; returns every reading. */
async function readTimes(sensor: NvmlSensor, clock: FakeClock, n: number): Promise<Reading[]> {
  const all: Reading[] = [];
  for (let i = 0; i < n; i++) {
    if (i > 0) clock.advance(100);
    all.push(...(await sensor.read()));
  }
  return all;
}

const last = (readings: readonly Reading[], device: string) => readings.filter((r) => r.device === device).at(-1);

describe('nvml sensor: several GPUs with energy counters', () => {
  it('lists every GPU as gpu<index> with name, UUID, driver, limit and the counter method', async () => {
    setGpus({
      count: 3, driver: '550.54.15',
      'gpu0.name': 'NVIDIA H100 80GB HBM3', 'gpu0.uuid': 'GPU-aaaa', 'gpu0.limit_mw': 700000,
      'gpu1.name': 'NVIDIA H100 80GB HBM3', 'gpu1.uuid': 'GPU-bbbb',
      'gpu2.name': 'NVIDIA A100-SXM4-80GB', 'gpu2.uuid': 'GPU-cccc',
    });
    const { sensor } = await probe();
    const devices = sensor.devices();
    expect(devices.map((d) => d.id)).toEqual(['gpu0', 'gpu1', 'gpu2']);
    expect(devices[0]).toMatchObject({
      kind: 'gpu', method: 'counter', sensor: 'nvml', name: 'NVIDIA H100 80GB HBM3', uuid: 'GPU-aaaa', driver: '550.54.15', powerLimitW: 700,
    });
    expect(devices[2]!.name).toBe('NVIDIA A100-SXM4-80GB');
    expect(devices[0]!.notes!.join(' ')).toMatch(/interpolated .*power from nvmlDeviceGetPowerUsage is reported alongside/);
    expect(sensor.driverVersion).toBe('550.54.15');
    expect(sensor.libraryPath).toBe(libPath);
  });

  it('energy equals the counter\'s steps in joules, per GPU, with power alongside', async () => {
    setGpus({
      count: 3,
      'gpu0.energy_mj': 123456789, 'gpu0.energy_step_mj': 30000, 'gpu0.power_mw': 300000,
      'gpu1.energy_step_mj': 45000, 'gpu1.power_mw': 450000,
      'gpu2.energy_step_mj': 5000, 'gpu2.power_mw': 50000,
    });
    const { sensor, clock } = await probe();
    const first = await sensor.read();
    expect(first.map((r) => [r.device, r.energyJ])).toEqual([['gpu0', 0], ['gpu1', 0], ['gpu2', 0]]);
    clock.advance(100);
    const readings = [...first, ...(await readTimes(sensor, clock, 10))];
    clock.advance(100);
    readings.push(...(await sensor.read()));
    // 11 reads after the baseline: 11 counter steps each.
    expect(last(readings, 'gpu0')).toMatchObject({ energyJ: 11 * 30, powerW: 300 });
    expect(last(readings, 'gpu1')).toMatchObject({ energyJ: 11 * 45, powerW: 450 });
    expect(last(readings, 'gpu2')).toMatchObject({ energyJ: 11 * 5, powerW: 50 });
    // Cumulative energy never goes down, and readings carry the fake clock's time.
    const gpu0 = readings.filter((r) => r.device === 'gpu0');
    for (let i = 1; i < gpu0.length; i++) expect(gpu0[i]!.energyJ!).toBeGreaterThanOrEqual(gpu0[i - 1]!.energyJ!);
    expect(gpu0.at(-1)!.tMs).toBe(1100);
    expect(sensor.health()).toMatchObject({ up: true, lastSampleMs: 1100, errors: {} });
  });

  it('sync call mode gives the same readings as the default async mode', async () => {
    setGpus({ count: 2, 'gpu0.energy_step_mj': 2000, 'gpu1.energy_step_mj': 7000 });
    const { sensor, clock } = await probe({ callMode: 'sync' });
    const readings = await readTimes(sensor, clock, 4);
    expect(last(readings, 'gpu0')!.energyJ).toBe(6);
    expect(last(readings, 'gpu1')!.energyJ).toBe(21);
  });

  it('a counter that has not moved while the GPU draws power is skipped (not 0 W), at most 3 times', async () => {
    setGpus({ count: 1, 'gpu0.energy_step_mj': 0, 'gpu0.power_mw': 200000 });
    const { sensor, clock } = await probe();
    expect(await sensor.read()).toHaveLength(1); // baseline
    const counts: number[] = [];
    for (let i = 0; i < 5; i++) { clock.advance(100); counts.push((await sensor.read()).length); }
    expect(counts).toEqual([0, 0, 0, 1, 0]);
  });
});

describe('nvml sensor: MIG', () => {
  it('reads the physical GPU through its parent handle and says so in the device notes', async () => {
    // NVML's nvmlDeviceGetHandleByIndex_v2 enumerates physical GPUs only; MIG instances have their own
    // handles (nvmlDeviceGetMigDeviceHandleByIndex), and energy/power exist for the parent GPU.
    setGpus({ count: 2, 'gpu0.mig': 1, 'gpu0.energy_step_mj': 10000, 'gpu1.energy_step_mj': 10000 });
    const { sensor, clock } = await probe();
    const [gpu0, gpu1] = sensor.devices();
    expect(gpu0!.notes!.some((n) => /MIG enabled: .*whole physical GPU/.test(n))).toBe(true);
    expect(gpu1!.notes!.some((n) => /MIG/.test(n))).toBe(false);
    const readings = await readTimes(sensor, clock, 3);
    expect(last(readings, 'gpu0')!.energyJ).toBe(20);
  });
});

describe('nvml sensor: power not available', () => {
  it('counter without power: counter readings with no powerW, and no error counted', async () => {
    setGpus({ count: 1, 'gpu0.energy_step_mj': 1000, 'gpu0.rc.nvmlDeviceGetPowerUsage': 3 });
    const { sensor, clock } = await probe();
    const readings = await readTimes(sensor, clock, 3);
    expect(readings.at(-1)).toEqual({ device: 'gpu0', tMs: 200, energyJ: 2 });
    expect(sensor.health().errors).toEqual({});
  });

  it('neither counter nor power but utilization and a limit: estimated from utilization × limit', async () => {
    setGpus({
      count: 1, 'gpu0.util_gpu': 25, 'gpu0.limit_mw': 300000,
      'gpu0.rc.nvmlDeviceGetTotalEnergyConsumption': 3, 'gpu0.rc.nvmlDeviceGetPowerUsage': 3,
    });
    const { sensor } = await probe();
    expect(sensor.devices()[0]).toMatchObject({ method: 'estimated' });
    expect(sensor.devices()[0]!.notes!.join(' ')).toMatch(/estimated from utilization/);
    expect(await sensor.read()).toEqual([{ device: 'gpu0', tMs: 0, powerW: 75 }]);
  });

  it('sensors.estimateGpuWithoutPower false: such a GPU is left out, not estimated (the key reaches nvml through discovery)', async () => {
    setGpus({
      count: 2, 'gpu0.util_gpu': 25, 'gpu0.limit_mw': 300000, 'gpu1.energy_step_mj': 1000,
      'gpu0.rc.nvmlDeviceGetTotalEnergyConsumption': 3, 'gpu0.rc.nvmlDeviceGetPowerUsage': 3,
    });
    const d = await discoverSensors({
      enabled: ['nvml'], gpuIntervalMs: 100, nvidiaSmi: 'nvidia-smi', nvmlLib: libPath, gpuCrossCheck: false,
      powercapRoot: '/nonexistent', estimateGpuWithoutPower: false, cpuTdpW: null, simulatedGpus: 0,
      clock: createFakeClock(), logger: silentLogger,
    });
    const sensor = d.sensors[0]!;
    if (!isNvmlSensor(sensor)) throw new Error('not an nvml sensor');
    open.push(sensor);
    expect(sensor.devices().map((x) => x.id)).toEqual(['gpu1']);
    expect(sensor.deviceStatus()[0]).toMatchObject({ id: 'gpu0', state: 'skipped' });
    expect(sensor.deviceStatus()[0]!.message).toMatch(/estimateGpuWithoutPower/);
  });

  it('a GPU with nothing readable is left out with a reason; the others are kept', async () => {
    setGpus({
      count: 2, 'gpu1.energy_step_mj': 1000,
      'gpu0.rc.nvmlDeviceGetTotalEnergyConsumption': 3, 'gpu0.rc.nvmlDeviceGetPowerUsage': 3, 'gpu0.rc.nvmlDeviceGetEnforcedPowerLimit': 3,
    });
    const { sensor } = await probe();
    expect(sensor.devices().map((d) => d.id)).toEqual(['gpu1']);
    const status = sensor.deviceStatus();
    expect(status[0]).toMatchObject({ id: 'gpu0', state: 'skipped', errors: { not_supported: 1 } });
    expect(status[0]!.message).toMatch(/Not Supported \(3\)/);
  });

  it('no GPU readable at all: the probe fails and says why', async () => {
    setGpus({ count: 1, 'gpu0.rc.nvmlDeviceGetTotalEnergyConsumption': 3, 'gpu0.rc.nvmlDeviceGetPowerUsage': 3, 'gpu0.rc.nvmlDeviceGetUtilizationRates': 3 });
    const before = shutdownCalls();
    const res = await probeNvml({ libPath, clock: createFakeClock(), logger: silentLogger });
    expect(res).toMatchObject({ ok: false, name: 'nvml' });
    expect(!res.ok && res.reason).toMatch(/no GPU readable through NVML \(gpu0: .*Not Supported/);
    expect(shutdownCalls()).toBe(before + 1); // initialised, so shut down again
  });
});

describe('nvml sensor: permission denied', () => {
  it('counts permission errors per device mid-run while the other GPUs go on', async () => {
    const gpus = { count: 2, 'gpu0.energy_step_mj': 1000, 'gpu1.energy_step_mj': 1000 };
    setGpus(gpus);
    const { sensor, clock } = await probe();
    await readTimes(sensor, clock, 2);
    setGpus({ ...gpus, 'gpu1.rc.nvmlDeviceGetTotalEnergyConsumption': 4 }, true);
    clock.advance(100);
    const during = [...(await sensor.read())];
    clock.advance(100);
    during.push(...(await sensor.read()));
    expect(during.map((r) => r.device)).toEqual(['gpu0', 'gpu0']);
    const gpu1 = sensor.deviceStatus().find((s) => s.id === 'gpu1')!;
    expect(gpu1).toMatchObject({ state: 'failing', errors: { permission: 2 } });
    expect(gpu1.message).toMatch(/Insufficient Permissions \(4\)/);
    expect(sensor.health()).toMatchObject({ up: true, errors: { permission: 2 } });
    // Permission back: the counter carries on from its last good value (the refused calls did not step it).
    setGpus(gpus, true);
    clock.advance(100);
    const after = await sensor.read();
    expect(last(after, 'gpu1')!.energyJ).toBe(2);
    expect(sensor.deviceStatus()[1]!.state).toBe('ok');
  });

  it('a counter unreadable at start-up (permission) falls back to integrated power, noting why', async () => {
    setGpus({ count: 1, 'gpu0.power_mw': 123000, 'gpu0.rc.nvmlDeviceGetTotalEnergyConsumption': 4 });
    const { sensor } = await probe();
    expect(sensor.devices()[0]).toMatchObject({ method: 'integrated' });
    expect(sensor.devices()[0]!.notes!.join(' ')).toMatch(/energy counter unreadable: Insufficient Permissions/);
    expect(await sensor.read()).toEqual([{ device: 'gpu0', tMs: 0, powerW: 123 }]);
  });

  it('every GPU failing marks the sensor down', async () => {
    const gpus = { count: 1, 'gpu0.energy_step_mj': 1000 };
    setGpus(gpus);
    const { sensor, clock } = await probe();
    await readTimes(sensor, clock, 2);
    setGpus({ ...gpus, 'gpu0.rc.nvmlDeviceGetTotalEnergyConsumption': 4 }, true);
    clock.advance(100);
    expect(await sensor.read()).toEqual([]);
    expect(sensor.health()).toMatchObject({ up: false, errors: { permission: 1 } });
    expect(sensor.health().message).toMatch(/gpu0: .*Insufficient Permissions/);
  });
});

describe('nvml sensor: other errors', () => {
  it('an unknown error (999) on an integrated GPU is counted read_failed, and the GPU recovers', async () => {
    const gpus = { count: 1, 'gpu0.power_mw': 90000, 'gpu0.rc.nvmlDeviceGetTotalEnergyConsumption': 3 };
    setGpus(gpus);
    const { sensor, clock } = await probe();
    expect(sensor.devices()[0]!.method).toBe('integrated');
    setGpus({ ...gpus, 'gpu0.rc.nvmlDeviceGetPowerUsage': 999 }, true);
    expect(await sensor.read()).toEqual([]);
    expect(sensor.deviceStatus()[0]).toMatchObject({ state: 'failing', errors: { read_failed: 1 }, message: 'nvmlDeviceGetPowerUsage: Unknown Error (999)' });
    expect(sensor.health().up).toBe(false);
    setGpus(gpus, true);
    clock.advance(100);
    expect(await sensor.read()).toEqual([{ device: 'gpu0', tMs: 100, powerW: 90 }]);
    expect(sensor.health()).toMatchObject({ up: true, errors: { read_failed: 1 } });
  });
});

describe('nvml sensor: GPU lost mid-run', () => {
  it('stops reading the lost GPU, counts it once, and the others go on', async () => {
    const gpus = { count: 2, 'gpu0.energy_step_mj': 1000, 'gpu1.energy_step_mj': 2000 };
    setGpus(gpus);
    const { sensor, clock } = await probe();
    await readTimes(sensor, clock, 2);
    setGpus({ ...gpus, 'gpu1.lost': 1 }, true);
    const after: Reading[] = [];
    for (let i = 0; i < 3; i++) { clock.advance(100); after.push(...(await sensor.read())); }
    expect(after.map((r) => r.device)).toEqual(['gpu0', 'gpu0', 'gpu0']);
    expect(last(after, 'gpu0')!.energyJ).toBe(4);
    expect(sensor.deviceStatus()).toMatchObject([
      { id: 'gpu0', state: 'ok', errors: {} },
      { id: 'gpu1', state: 'lost', errors: { gpu_lost: 1 } },
    ]);
    expect(sensor.health()).toMatchObject({ up: true, errors: { gpu_lost: 1 } });

    setGpus({ ...gpus, 'gpu0.lost': 1, 'gpu1.lost': 1 }, true);
    clock.advance(100);
    expect(await sensor.read()).toEqual([]);
    expect(sensor.health()).toMatchObject({ up: false, errors: { gpu_lost: 2 } });
    expect(sensor.health().message).toMatch(/every GPU is lost/);
  });

  it('a GPU already lost at start-up is left out', async () => {
    setGpus({ count: 2, 'gpu0.lost': 1, 'gpu1.energy_step_mj': 1000 });
    const { sensor } = await probe();
    expect(sensor.devices().map((d) => d.id)).toEqual(['gpu1']);
    expect(sensor.deviceStatus()[0]).toMatchObject({ id: 'gpu0', state: 'skipped', errors: { gpu_lost: 1 } });
  });
});

describe('nvml sensor: counter reset', () => {
  it('drops the delta across a reset (the counter went down), counts it, and keeps accumulating', async () => {
    const gpus = { count: 1, 'gpu0.energy_mj': 900000000, 'gpu0.energy_step_mj': 1000, 'gpu0.power_mw': 100000 };
    setGpus(gpus);
    const { sensor, clock } = await probe();
    const before = await readTimes(sensor, clock, 4);
    expect(last(before, 'gpu0')!.energyJ).toBe(3);
    // Driver reload: the counter restarts near zero.
    setGpus({ ...gpus, 'gpu0.energy_mj': 0, 'gpu0.reset': 1 }, true);
    clock.advance(100);
    expect(await sensor.read()).toEqual([]);
    expect(sensor.health().errors).toEqual({ reset: 1 });
    expect(sensor.deviceStatus()[0]).toMatchObject({ state: 'ok', errors: { reset: 1 } });
    const after = await readTimes(sensor, clock, 3);
    // The first post-reset read (the fake's first step) is the new baseline; each later read adds 1 J.
    expect(after.map((r) => r.energyJ)).toEqual([4, 5, 6]);
    expect(sensor.health().up).toBe(true);
  });

  it('an implausible jump (more than twice the power limit) is dropped and counted', async () => {
    const gpus = { count: 1, 'gpu0.energy_step_mj': 1000, 'gpu0.limit_mw': 400000 };
    setGpus(gpus);
    const { sensor, clock } = await probe();
    await readTimes(sensor, clock, 2);
    // 100 ms later the counter claims 1 MJ more: 10 MW.
    setGpus({ ...gpus, 'gpu0.energy_mj': 1_000_000_000 }, true);
    clock.advance(100);
    expect(await sensor.read()).toEqual([]);
    expect(sensor.health().errors).toEqual({ implausible: 1 });
    clock.advance(100);
    expect((await sensor.read())[0]!.energyJ).toBe(2);
  });
});

describe('nvml sensor: preferCounter false', () => {
  it('reads power as a gauge even where the counter exists (cross-check mode)', async () => {
    setGpus({ count: 1, 'gpu0.energy_step_mj': 1000, 'gpu0.power_mw': 250500 });
    const { sensor } = await probe({ preferCounter: false });
    expect(sensor.devices()[0]).toMatchObject({ method: 'integrated' });
    expect(await sensor.read()).toEqual([{ device: 'gpu0', tMs: 0, powerW: 250.5 }]);
  });
});

describe('nvml sensor: a wedged driver call', () => {
  it('skips a GPU whose call does not answer in time, counts it silent, and resumes when it answers', async () => {
    const gpus = { count: 2, 'gpu0.energy_step_mj': 1000, 'gpu1.energy_step_mj': 1000 };
    setGpus(gpus);
    const { sensor, clock } = await probe({ readTimeoutMs: 50 });
    await readTimes(sensor, clock, 2);
    setGpus({ ...gpus, 'gpu1.hang_ms': 300 }, true);
    clock.advance(100);
    const powerBefore = powerCalls();
    const pending = sensor.read();
    // gpu0 answers at once (its power call returns); gpu1's call sleeps on a koffi worker thread while
    // the event loop goes on. Only then does the fake clock reach the read timeout.
    await vi.waitFor(() => expect(powerCalls()).toBe(powerBefore + 1));
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    await clock.advanceAsync(50);
    expect(sensor.deviceStatus()[1]!.state).toBe('stuck');
    const during = await pending;
    expect(during.map((r) => r.device)).toEqual(['gpu0']);
    expect(sensor.deviceStatus()[1]).toMatchObject({ errors: { silent: 1 } });
    setGpus(gpus, true);
    // While its call is in flight, gpu1 is not called again.
    await vi.waitFor(() => expect(sensor.deviceStatus()[1]!.state).toBe('ok'), { timeout: 5000 });
    clock.advance(100);
    const after = await sensor.read();
    expect(after.map((r) => r.device)).toEqual(['gpu0', 'gpu1']);
    // The counter is cumulative: the late answer was discarded, yet no energy is lost.
    expect(last(after, 'gpu1')!.energyJ).toBeGreaterThanOrEqual(2);
  });
});

describe('nvml sensor: an estimated GPU whose driver hangs', () => {
  it('reads utilization off the event loop: a hung call delays neither timers nor requests, and is skipped as silent', async () => {
    const gpu = { count: 1, 'gpu0.util_gpu': 50, 'gpu0.limit_mw': 300000, 'gpu0.rc.nvmlDeviceGetTotalEnergyConsumption': 3, 'gpu0.rc.nvmlDeviceGetPowerUsage': 3 };
    setGpus(gpu);
    const { sensor, clock } = await probe({ readTimeoutMs: 50 });
    expect(sensor.devices()[0]).toMatchObject({ method: 'estimated' });
    setGpus({ ...gpu, 'gpu0.hang_ms': 400 }, true);
    const t0 = performance.now();
    const pending = sensor.read();
    await new Promise((r) => setImmediate(r));
    expect(performance.now() - t0).toBeLessThan(200); // the event loop was not held for the 400 ms call
    await clock.advanceAsync(50);
    expect(await pending).toEqual([]);
    expect(sensor.deviceStatus()[0]).toMatchObject({ errors: { silent: 1 } });
    setGpus(gpu, true);
    await vi.waitFor(() => expect(sensor.deviceStatus()[0]!.state).toBe('ok'), { timeout: 5000 });
    clock.advance(100);
    expect(await sensor.read()).toEqual([{ device: 'gpu0', tMs: 150, powerW: 150 }]); // 50 % × 300 W, read through the worker
  });
});

describe('nvml sensor: library and driver problems', () => {
  it('library not found at --nvml-lib: the probe fails naming the path', async () => {
    const res = await probeNvml({ libPath: '/nonexistent/libnvidia-ml.so.1', clock: createFakeClock(), logger: silentLogger });
    expect(res).toMatchObject({ ok: false, name: 'nvml' });
    expect(!res.ok && res.reason).toMatch(/\/nonexistent\/libnvidia-ml\.so\.1: .*(No such file|cannot open)/);
  });

  it('library in none of the standard locations: every place tried is listed', async () => {
    const res = await probeNvml({ searchPaths: ['/nope/a/libnvidia-ml.so.1', '/nope/b/libnvidia-ml.so.1'], clock: createFakeClock(), logger: silentLogger });
    expect(!res.ok && res.reason).toMatch(/not found .* in \/nope\/a, \/nope\/b; --nvml-lib PATH/);
  });

  it('the standard search finds the library in a later location', async () => {
    setGpus({ count: 1, 'gpu0.energy_step_mj': 1000 });
    const { sensor } = await probe({ libPath: undefined, searchPaths: ['/nope/libnvidia-ml.so.1', libPath] });
    expect(sensor.libraryPath).toBe(libPath);
  });

  it('koffi missing (optional dependency): the probe fails with that reason', async () => {
    const res = await probeNvml({
      libPath, clock: createFakeClock(), logger: silentLogger,
      loadFfi: () => Promise.reject(new Error("Cannot find package 'koffi'")),
    });
    expect(res).toEqual({ ok: false, name: 'nvml', reason: "FFI library koffi cannot load (optional dependency): Cannot find package 'koffi'" });
  });

  it('a library that is not NVML: the probe fails', async () => {
    const res = await probeNvml({ libPath: 'libc.so.6', clock: createFakeClock(), logger: silentLogger });
    expect(!res.ok && res.reason).toMatch(/no nvmlInit_v2: not an NVML library/);
  });

  it('driver not loaded: nvmlInit_v2 fails with NVML\'s own message', async () => {
    setGpus({ init_rc: 9 });
    const res = await probeNvml({ libPath, clock: createFakeClock(), logger: silentLogger });
    expect(!res.ok && res.reason).toBe('nvmlInit_v2 failed: Driver Not Loaded (9)');
  });

  it('a wedged driver at start-up: nvmlInit_v2 not answering fails the probe, and a late init is undone', async () => {
    setGpus({ count: 1, init_hang_ms: 300 });
    const clock = createFakeClock();
    const initsBefore = initCalls();
    const liveBefore = initialized();
    const pending = probeNvml({ libPath, clock, logger: silentLogger, initTimeoutMs: 1000 });
    await vi.waitFor(() => expect(clock.pendingTimers()).toBe(1));
    await clock.advanceAsync(1000);
    const res = await pending;
    expect(!res.ok && res.reason).toBe('nvmlInit_v2 did not answer within 1000 ms (a wedged driver?)');
    // The hung call returns later (here after 300 ms): that initialisation is shut down again.
    await vi.waitFor(() => {
      expect(initCalls()).toBe(initsBefore + 1);
      expect(initialized()).toBe(liveBefore);
    }, { timeout: 5000 });
  });

  it('no GPU: the probe fails', async () => {
    setGpus({ count: 0 });
    const res = await probeNvml({ libPath, clock: createFakeClock(), logger: silentLogger });
    expect(!res.ok && res.reason).toBe('NVML lists no GPU');
  });
});

describe('nvml sensor: close', () => {
  it('calls nvmlShutdown exactly once, however often it is closed, and reads nothing after', async () => {
    setGpus({ count: 1, 'gpu0.energy_step_mj': 1000 });
    const { sensor } = await probe();
    await sensor.read();
    const before = shutdownCalls();
    await Promise.all([sensor.close(), sensor.close()]);
    await sensor.close();
    expect(shutdownCalls()).toBe(before + 1);
    expect(initialized()).toBe(0); // every probe in this file shut down what it initialised
    expect(await sensor.read()).toEqual([]);
    expect(sensor.health().up).toBe(false);
  });
});
