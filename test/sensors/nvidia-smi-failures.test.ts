/**
 * The nvidia-smi child misbehaving: it dies (restarted with exponential back-off), goes silent (the
 * watchdog kills and replaces it), prints garbage (counted, sampling goes on), or cannot run at all
 * (probe fails with a reason). close() leaves no child behind. Back-off and watchdog run on a fake clock
 * that the tests advance; only the child itself is real.
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createFakeClock, type FakeClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { probeNvidiaSmi, type NvidiaSmiOptions } from '../../src/sensors/nvidia-smi.js';
import type { Reading, Sensor } from '../../src/sensors/types.js';

const FIX = resolve(__dirname, '../fixtures/nvidia-smi');
const FAKE = resolve(__dirname, '../helpers/fake-nvidia-smi.mjs');
const H100 = join(FIX, 'extracted', 'linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01');
const H100_LOAD_INSTANT_W = 625.68; // power.draw.instant in H100's load__query-gpu.csv
const tmp = mkdtempSync(join(tmpdir(), 'inferwatt-nvsmi-fail-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
/** A fake nvidia-smi with this environment; its processes record their pids under the returned pidDir. */
function fakeSmi(env: Record<string, string>): { path: string; pidDir: string } {
  const pidDir = join(tmp, `pids-${++n}`);
  mkdirSync(pidDir);
  const path = join(tmp, `nvidia-smi-${n}`);
  const all = { FAKE_NVSMI_CAPTURE: H100, FAKE_NVSMI_PIDDIR: pidDir, ...env };
  const exports = Object.entries(all).map(([k, v]) => `export ${k}='${v}'`).join('\n');
  writeFileSync(path, `#!/bin/sh\n${exports}\nexec '${process.execPath}' '${FAKE}' "$@"\n`);
  chmodSync(path, 0o755);
  return { path, pidDir };
}

const pids = (pidDir: string, kind: 'loop' | 'once') =>
  readdirSync(pidDir).filter((f) => f.endsWith(`.${kind}`)).map((f) => Number(f.split('.')[0]));
const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

const opened: Sensor[] = [];
afterAll(async () => { await Promise.all(opened.map((s) => s.close())); });

async function start(path: string, clock: FakeClock, extra: Partial<NvidiaSmiOptions> = {}): Promise<Sensor> {
  const r = await probeNvidiaSmi({
    path, intervalMs: 20, clock, logger: silentLogger, restartBackoffMs: { initialMs: 100, maxMs: 400 }, ...extra,
  });
  if (!r.ok) throw new Error(r.reason);
  opened.push(r.sensor);
  return r.sensor;
}

async function waitForReadings(sensor: Sensor, min = 1): Promise<Reading[]> {
  const got: Reading[] = [];
  await vi.waitFor(async () => {
    got.push(...(await sensor.read()));
    expect(got.length).toBeGreaterThanOrEqual(min);
  }, { timeout: 10_000, interval: 10 });
  return got;
}

describe('nvidia-smi child that dies', () => {
  it('is restarted after a back-off that doubles on each failure, and sampling resumes', async () => {
    const clock = createFakeClock();
    const fake = fakeSmi({ FAKE_NVSMI_MODE: 'die-after:2' });
    const sensor = await start(fake.path, clock);

    await waitForReadings(sensor, 2);
    await vi.waitFor(() => expect(sensor.health().errors['exited']).toBe(1), { timeout: 10_000, interval: 10 });
    expect(sensor.health().up).toBe(false);
    expect(sensor.health().message).toMatch(/exited with status 1/);
    await sensor.read();

    // First back-off: 100 ms on the injected clock.
    clock.advance(99);
    expect(sensor.health().errors['restart']).toBeUndefined();
    clock.advance(1);
    expect(sensor.health().errors['restart']).toBe(1);
    const after = await waitForReadings(sensor, 1);
    expect(after[0]!.powerW).toBe(H100_LOAD_INSTANT_W);
    // Stamped on arrival with the injected clock, which now reads 100 ms.
    expect(after[0]!.tMs).toBe(100);
    expect(sensor.health()).toMatchObject({ up: true, lastSampleMs: 100 });

    // It dies again: the next delay is 200 ms.
    await vi.waitFor(() => expect(sensor.health().errors['exited']).toBe(2), { timeout: 10_000, interval: 10 });
    await sensor.read();
    clock.advance(100);
    expect(sensor.health().errors['restart']).toBe(1);
    clock.advance(100);
    expect(sensor.health().errors['restart']).toBe(2);
    await vi.waitFor(() => expect(pids(fake.pidDir, 'loop')).toHaveLength(3), { timeout: 10_000, interval: 10 });
    await waitForReadings(sensor, 1);

    // Never one process per sample: the only loop children are the first and the two restarts.
    expect(pids(fake.pidDir, 'loop')).toHaveLength(3);
    await sensor.close();
  });
});

describe('nvidia-smi child that goes silent', () => {
  it('is killed by the watchdog after silentAfterMs and replaced', async () => {
    const clock = createFakeClock();
    const fake = fakeSmi({ FAKE_NVSMI_MODE: 'silent-after:2' });
    const sensor = await start(fake.path, clock, { silentAfterMs: 1_000 });
    await waitForReadings(sensor, 2);
    const [first] = pids(fake.pidDir, 'loop');
    expect(alive(first!)).toBe(true);

    clock.advance(999);
    expect(sensor.health().errors['silent']).toBeUndefined();
    clock.advance(1);
    expect(sensor.health().errors['silent']).toBe(1);
    expect(sensor.health().up).toBe(false);
    await vi.waitFor(() => expect(alive(first!)).toBe(false), { timeout: 10_000, interval: 10 });
    await sensor.read();

    clock.advance(100); // back-off
    expect(sensor.health().errors['restart']).toBe(1);
    const again = await waitForReadings(sensor, 1);
    expect(again[0]!.powerW).toBe(H100_LOAD_INSTANT_W);
    expect(pids(fake.pidDir, 'loop')).toHaveLength(2);
    // The kill was the watchdog's doing, not counted as a crash.
    expect(sensor.health().errors['exited']).toBeUndefined();
    await sensor.close();
  });

  it('defaults silentAfterMs to max(5 s, 10 × interval)', async () => {
    const clock = createFakeClock();
    const fake = fakeSmi({ FAKE_NVSMI_MODE: 'silent-after:1' });
    const sensor = await start(fake.path, clock);
    await waitForReadings(sensor, 1);
    clock.advance(4_999);
    expect(sensor.health().errors['silent']).toBeUndefined();
    clock.advance(1);
    expect(sensor.health().errors['silent']).toBe(1);
    await sensor.close();
  });
});

describe('nvidia-smi child that prints garbage', () => {
  it('counts garbage lines as parse errors and keeps the good samples', async () => {
    const clock = createFakeClock();
    const sensor = await start(fakeSmi({ FAKE_NVSMI_MODE: 'garbage' }).path, clock);
    const got = await waitForReadings(sensor, 4);
    await vi.waitFor(() => expect(sensor.health().errors['parse'] ?? 0).toBeGreaterThanOrEqual(1), { timeout: 10_000, interval: 10 });
    expect(got.every((r) => r.powerW === H100_LOAD_INSTANT_W)).toBe(true);
    expect(sensor.health().up).toBe(true);
    await sensor.close();
  });
});

describe('nvidia-smi that cannot run', () => {
  it('fails the probe with the driver message when the driver is not loaded', async () => {
    const r = await probeNvidiaSmi({ path: fakeSmi({ FAKE_NVSMI_MODE: 'no-driver' }).path, intervalMs: 20, clock: createFakeClock(), logger: silentLogger });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/exited with status 9: NVIDIA-SMI has failed because it couldn't communicate/);
  });

  it('fails the probe with a reason naming the fix when the binary does not exist', async () => {
    const r = await probeNvidiaSmi({ path: join(tmp, 'no-such-nvidia-smi'), intervalMs: 20, clock: createFakeClock(), logger: silentLogger });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/not found .*--nvidia-smi PATH/);
  });

  it('fails the probe when the start-up query hangs past probeTimeoutMs', async () => {
    const clock = createFakeClock();
    const hang = join(tmp, 'hanging-nvidia-smi');
    writeFileSync(hang, '#!/bin/sh\nexec sleep 30\n');
    chmodSync(hang, 0o755);
    const pending = probeNvidiaSmi({ path: hang, intervalMs: 20, clock, logger: silentLogger, probeTimeoutMs: 500 });
    await vi.waitFor(() => expect(clock.pendingTimers()).toBe(1), { timeout: 5_000, interval: 5 });
    clock.advance(500);
    const r = await pending;
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/did not answer within 500 ms/);
  });
});

describe('close()', () => {
  it('kills the child, leaves no process and no timer behind, and is idempotent', async () => {
    const clock = createFakeClock();
    const fake = fakeSmi({});
    const sensor = await start(fake.path, clock);
    await waitForReadings(sensor, 3);
    const loops = pids(fake.pidDir, 'loop');
    expect(loops).toHaveLength(1);
    expect(alive(loops[0]!)).toBe(true);

    await Promise.all([sensor.close(), sensor.close()]);
    await sensor.close();
    for (const pid of [...loops, ...pids(fake.pidDir, 'once')]) expect(alive(pid)).toBe(false);
    expect(clock.pendingTimers()).toBe(0);
    expect(sensor.health().up).toBe(false);
    // Nothing is restarted after close, however far time goes.
    clock.advance(120_000);
    expect(pids(fake.pidDir, 'loop')).toHaveLength(1);
  });
});

describe('a GPU that fell off the bus', () => {
  it('is left out at start-up, its lines are counted as gpu_lost, and the other GPUs go on', async () => {
    const clock = createFakeClock();
    const sensor = await start(fakeSmi({ FAKE_NVSMI_GPUS: '2', FAKE_NVSMI_MODE: 'lost-gpu:1' }).path, clock);
    expect(sensor.devices().map((d) => d.id)).toEqual(['gpu0']);
    const got = await waitForReadings(sensor, 3);
    expect(got.every((r) => r.device === 'gpu0' && r.powerW === H100_LOAD_INSTANT_W)).toBe(true);
    await vi.waitFor(() => expect(sensor.health().errors['gpu_lost'] ?? 0).toBeGreaterThanOrEqual(1), { timeout: 10_000, interval: 10 });
    expect(sensor.health().errors['parse']).toBeUndefined();
    await sensor.close();
  });
});
