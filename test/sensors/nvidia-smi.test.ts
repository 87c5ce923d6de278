/**
 * The nvidia-smi sensor against every recorded capture, replayed by test/helpers/fake-nvidia-smi.mjs.
 * A fake clock stamps the readings (nobody advances it here, so the watchdog never fires); the child and its
 * pipes are real. Expected values are read from the fixture files, not restated.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createFakeClock, createSystemClock } from '../../src/core/clock.js';
import { createLogger, silentLogger } from '../../src/core/logger.js';
import { probeNvidiaSmi, type NvidiaSmiOptions } from '../../src/sensors/nvidia-smi.js';
import type { Reading, Sensor } from '../../src/sensors/types.js';

const FIX = resolve(__dirname, '../fixtures/nvidia-smi');
const FAKE = resolve(__dirname, '../helpers/fake-nvidia-smi.mjs');
const tmp = mkdtempSync(join(tmpdir(), 'inferwatt-nvsmi-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let wrappers = 0;
/** An executable `nvidia-smi` that runs the fake with this environment (the sensor spawns it by path). */
function fakeSmi(env: Record<string, string>): string {
  const file = join(tmp, `nvidia-smi-${++wrappers}`);
  const exports = Object.entries(env).map(([k, v]) => `export ${k}='${v}'`).join('\n');
  writeFileSync(file, `#!/bin/sh\n${exports}\nexec '${process.execPath}' '${FAKE}' "$@"\n`);
  chmodSync(file, 0o755);
  return file;
}

/** The capture's own values for one state: header names without units, rows of raw values. */
function captureTable(dir: string, state: 'idle' | 'load') {
  const lines = readFileSync(join(FIX, 'extracted', dir, `${state}__query-gpu.csv`), 'utf8').split('\n').filter((l) => l.trim());
  const names = lines[0]!.split(', ').map((h) => h.replace(/ \[[^\]]*\]$/, ''));
  const rows = lines.slice(1).map((l) => l.split(', '));
  const value = (row: string[], field: string) => row[names.indexOf(field)]!;
  const watts = (row: string[], field: string) => Number(value(row, field).replace(/ W$/, ''));
  return { rows, value, watts };
}

const sensors: Sensor[] = [];
async function probe(path: string, extra: Partial<NvidiaSmiOptions> = {}) {
  const result = await probeNvidiaSmi({ path, intervalMs: 20, clock: createFakeClock(), logger: silentLogger, ...extra });
  if (result.ok) sensors.push(result.sensor);
  return result;
}
afterAll(async () => { await Promise.all(sensors.map((s) => s.close())); });

/** Drains the sensor until every device has at least `n` readings (waiting on the child, not on time). */
async function readingsFor(sensor: Sensor, n = 2): Promise<Map<string, Reading[]>> {
  const byDevice = new Map<string, Reading[]>();
  await vi.waitFor(async () => {
    for (const r of await sensor.read()) byDevice.set(r.device, [...(byDevice.get(r.device) ?? []), r]);
    for (const d of sensor.devices()) expect(byDevice.get(d.id)?.length ?? 0).toBeGreaterThanOrEqual(n);
  }, { timeout: 10_000, interval: 10 });
  return byDevice;
}

const CAPTURES = readdirSync(join(FIX, 'extracted')).sort();

describe('nvidia-smi sensor replaying every recorded capture', () => {
  it('has captures to replay', () => {
    expect(CAPTURES.length).toBeGreaterThanOrEqual(6);
  });

  for (const dir of CAPTURES) {
    for (const state of ['idle', 'load'] as const) {
      it(`${dir} (${state}): each GPU's powerW equals the capture's power.draw.instant`, async () => {
        const cap = captureTable(dir, state);
        const result = await probe(fakeSmi({ FAKE_NVSMI_CAPTURE: join(FIX, 'extracted', dir), FAKE_NVSMI_STATE: state }));
        expect(result.ok).toBe(true);
        if (!result.ok) return;
        const sensor = result.sensor;
        expect(sensor.name).toBe('nvidia-smi');
        const devices = sensor.devices();
        expect(devices).toHaveLength(cap.rows.length);
        const readings = await readingsFor(sensor);
        for (const row of cap.rows) {
          const id = `gpu${cap.value(row, 'index')}`;
          const dev = devices.find((d) => d.id === id)!;
          expect(dev).toMatchObject({
            kind: 'gpu', method: 'integrated', sensor: 'nvidia-smi',
            name: cap.value(row, 'name'), uuid: cap.value(row, 'uuid'), driver: cap.value(row, 'driver_version'),
            powerLimitW: cap.watts(row, 'enforced.power.limit'),
          });
          for (const r of readings.get(id)!) expect(r.powerW).toBe(cap.watts(row, 'power.draw.instant'));
          const mig = cap.value(row, 'mig.mode.current') === 'Enabled';
          expect(dev.notes?.some((n) => n.startsWith('MIG')) ?? false).toBe(mig);
        }
        const h = sensor.health();
        expect(h.up).toBe(true);
        expect(h.errors).toEqual({});
        await sensor.close();
      });
    }
  }
});

describe('nvidia-smi sensor: fields an older driver lacks', () => {
  it('falls back to power.draw when the driver rejects power.draw.instant (field list of an older --help-query-gpu)', async () => {
    const dir = 'linux-x86_64__nvidia-geforce-rtx-2080-super__595.71.05';
    const cap = captureTable(dir, 'load');
    const lines: string[] = [];
    const result = await probe(
      fakeSmi({ FAKE_NVSMI_CAPTURE: join(FIX, 'extracted', dir), FAKE_NVSMI_HELP: join(FIX, 'help-query-gpu.txt') }),
      { logger: createLogger({ level: 'info', write: (l) => lines.push(l) }) },
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const [dev] = result.sensor.devices();
    expect(dev!.notes?.join(' ')).toMatch(/power\.draw: a 1 s average/);
    const readings = await readingsFor(result.sensor);
    for (const r of readings.get('gpu0')!) expect(r.powerW).toBe(cap.watts(cap.rows[0]!, 'power.draw'));
    expect(lines.join('\n')).toMatch(/power\.draw\.instant not supported/);
    await result.sensor.close();
  });

  it('reads several GPUs of a driver 384 host (XML capture openpai sample) with power.draw only', async () => {
    const result = await probe(fakeSmi({ FAKE_NVSMI_XML: join(FIX, 'xml/openpai-nvidia_smi_sample.xml') }));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.sensor.devices().map((d) => [d.id, d.name, d.driver, d.powerLimitW])).toEqual([
      ['gpu0', 'GeForce GTX 1070', '384.66', 180],
      ['gpu1', 'GeForce GTX 1070', '384.66', 180],
    ]);
    const readings = await readingsFor(result.sensor);
    expect(readings.get('gpu0')![0]!.powerW).toBe(119.47);
    expect(readings.get('gpu1')![0]!.powerW).toBe(139.3);
    await result.sensor.close();
  });

  it('keeps four out-of-order GPUs apart by index (XML capture openpai out_of_order)', async () => {
    const result = await probe(fakeSmi({ FAKE_NVSMI_XML: join(FIX, 'xml/openpai-nvidia_smi_out_of_order.xml') }));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const readings = await readingsFor(result.sensor);
    expect([0, 1, 2, 3].map((i) => readings.get(`gpu${i}`)![0]!.powerW)).toEqual([135.72, 139.71, 32.27, 34.44]);
    expect(result.sensor.devices()[3]!.uuid).toBe('GPU-3341aba2-f01d-2c1f-7dd4-e389779faec2');
    await result.sensor.close();
  });

  it('replicates one capture row as 8 GPUs (FAKE_NVSMI_GPUS) with distinct ids and uuids', async () => {
    const dir = 'linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01';
    const cap = captureTable(dir, 'load');
    const result = await probe(fakeSmi({ FAKE_NVSMI_CAPTURE: join(FIX, 'extracted', dir), FAKE_NVSMI_GPUS: '8' }));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const devs = result.sensor.devices();
    expect(devs.map((d) => d.id)).toEqual(['gpu0', 'gpu1', 'gpu2', 'gpu3', 'gpu4', 'gpu5', 'gpu6', 'gpu7']);
    expect(new Set(devs.map((d) => d.uuid)).size).toBe(8);
    const readings = await readingsFor(result.sensor);
    for (const d of devs) expect(readings.get(d.id)![0]!.powerW).toBe(cap.watts(cap.rows[0]!, 'power.draw.instant'));
    await result.sensor.close();
  });
});

describe('nvidia-smi sensor: a GPU that reports no power', () => {
  const h100 = join(FIX, 'extracted', 'linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01');

  it('estimates utilization.gpu × power limit, marked estimated, when the power fields print [N/A]', async () => {
    const cap = captureTable('linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01', 'load');
    const result = await probe(fakeSmi({ FAKE_NVSMI_CAPTURE: h100, FAKE_NVSMI_ABSENT: 'power.draw.instant,power.draw' }));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const [dev] = result.sensor.devices();
    expect(dev!.method).toBe('estimated');
    expect(dev!.notes?.join(' ')).toMatch(/estimated from utilization\.gpu × power limit/);
    const util = Number(cap.value(cap.rows[0]!, 'utilization.gpu').replace(/ %$/, ''));
    const readings = await readingsFor(result.sensor);
    for (const r of readings.get('gpu0')!) expect(r.powerW).toBeCloseTo((util / 100) * cap.watts(cap.rows[0]!, 'enforced.power.limit'), 9);
    await result.sensor.close();
  });

  it('takes the power limit from the inventory when the query has none either', async () => {
    const dir = 'linux-x86_64__nvidia-geforce-rtx-4080-super__595.71.05';
    const cap = captureTable(dir, 'load');
    const row = cap.rows[0]!;
    const result = await probe(
      fakeSmi({ FAKE_NVSMI_CAPTURE: join(FIX, 'extracted', dir), FAKE_NVSMI_ABSENT: 'power.draw.instant,power.draw,enforced.power.limit,power.limit' }),
      { inventory: [{ index: 0, name: 'inventory name', uuid: cap.value(row, 'uuid'), powerLimitW: 320, migEnabled: false, vgpu: false }] },
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.sensor.devices()[0]).toMatchObject({ method: 'estimated', powerLimitW: 320, name: cap.value(row, 'name') });
    const readings = await readingsFor(result.sensor);
    const util = Number(cap.value(row, 'utilization.gpu').replace(/ %$/, ''));
    expect(readings.get('gpu0')![0]!.powerW).toBeCloseTo((util / 100) * 320, 9);
    await result.sensor.close();
  });

  it('leaves the GPU out with a warning when estimation is disabled (and fails the probe: no GPU left)', async () => {
    const lines: string[] = [];
    const result = await probe(fakeSmi({ FAKE_NVSMI_CAPTURE: h100, FAKE_NVSMI_ABSENT: 'power.draw.instant,power.draw' }), {
      estimateWhenNoPower: false, logger: createLogger({ level: 'warn', write: (l) => lines.push(l) }),
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.reason).toMatch(/no GPU reports power/);
    expect(lines.join('\n')).toMatch(/gpu0 .* reports no power draw .*left out/);
  });

  it('leaves a MIG GPU out when its power is [N/A]: MIG hides utilization.gpu, so nothing to estimate from', async () => {
    const mig = join(FIX, 'extracted', 'linux-x86_64__nvidia-h100-mig__590.48.01');
    const lines: string[] = [];
    const result = await probe(fakeSmi({ FAKE_NVSMI_CAPTURE: mig, FAKE_NVSMI_ABSENT: 'power.draw.instant,power.draw' }), {
      logger: createLogger({ level: 'warn', write: (l) => lines.push(l) }),
    });
    expect(result.ok).toBe(false);
    expect(lines.join('\n')).toMatch(/no utilization\.gpu either/);
  });

  it('leaves the vGPU of a real capture out (xml/telegraf-tesla_p4: power and limit N/A), never reporting 0 W', async () => {
    const lines: string[] = [];
    const result = await probe(fakeSmi({ FAKE_NVSMI_XML: join(FIX, 'xml/telegraf-tesla_p4.xml') }), {
      logger: createLogger({ level: 'warn', write: (l) => lines.push(l) }),
      inventory: [{ index: 0, name: 'GRID P4-1Q', uuid: 'GPU-1b1ea7c7-1c4b-ed49-1c72-26c65f2dd207', migEnabled: false, vgpu: true }],
    });
    expect(result.ok).toBe(false);
    expect(lines.join('\n')).toMatch(/gpu0 \(GRID P4-1Q\) reports no power draw \(no power limit either\); left out.*vgpu=true/);
  });
});

describe('nvidia-smi rows that queue up while the event loop is busy', () => {
  it('rows of one GPU that arrive in one chunk get distinct, increasing times, ending at arrival (none is lost as out of order)', async () => {
    const clock = createSystemClock();
    const dir = join(FIX, 'extracted', 'linux-x86_64__nvidia-h200-mig__590.48.01');
    const result = await probe(fakeSmi({ FAKE_NVSMI_CAPTURE: dir, FAKE_NVSMI_GPUS: '2' }), { clock });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    await readingsFor(result.sensor, 1);
    // Block the event loop: the child keeps printing every 20 ms into the pipe.
    const until = Date.now() + 400;
    while (Date.now() < until) { /* busy */ }
    const arrived = clock.nowMs();
    const readings = await readingsFor(result.sensor, 5);
    for (const id of ['gpu0', 'gpu1']) {
      const ts = readings.get(id)!.map((r) => r.tMs);
      for (let i = 1; i < ts.length; i++) expect(ts[i]!).toBeGreaterThan(ts[i - 1]!);
      // Spaced by the interval back from their arrival, not bunched at it.
      const queued = ts.filter((t) => t >= arrived);
      expect(queued.length).toBeLessThan(ts.length);
    }
    await result.sensor.close();
  });
});

describe('nvidia-smi sensor on the system clock (end to end)', () => {
  it('stamps each device\'s readings in increasing monotonic time, one long-lived child', async () => {
    const clock = createSystemClock();
    const t0 = clock.nowMs();
    const dir = join(FIX, 'extracted', 'linux-x86_64__nvidia-h200-mig__590.48.01');
    const result = await probe(fakeSmi({ FAKE_NVSMI_CAPTURE: dir, FAKE_NVSMI_GPUS: '2' }), { clock });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const readings = await readingsFor(result.sensor, 4);
    for (const id of ['gpu0', 'gpu1']) {
      const ts = readings.get(id)!.map((r) => r.tMs);
      expect(ts[0]!).toBeGreaterThan(t0);
      for (let i = 1; i < ts.length; i++) expect(ts[i]!).toBeGreaterThan(ts[i - 1]!);
    }
    await result.sensor.close();
  });
});
