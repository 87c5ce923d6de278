/**
 * The nvml sensor when the event loop is late: in async mode a reading is stamped when its call was
 * issued (the worker thread reads the counter at once), not when the busy loop noticed the answer.
 * Stamped at the answer, two readings would look a few ms apart, the plausibility check would drop the
 * delta, and that energy would be lost for good (seen in bench/agent-cost.mjs under load).
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFakeClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { probeNvml } from '../../src/sensors/nvml.js';
import type { Reading, Sensor } from '../../src/sensors/types.js';
import { buildFakeNvml, writeFakeNvmlConfig } from '../helpers/build-fake-nvml.js';

let sensor: Sensor | undefined;
afterAll(async () => { await sensor?.close(); });

let libPath: string;
beforeAll(async () => {
  libPath = await buildFakeNvml('modern');
  const dir = resolve('.tmp', 'fake-nvml', `late-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const cfg = join(dir, 'nvml.conf');
  // Every energy call adds 30 J (30,000 mJ); the limit is 700 W, so 30 J needs ≥ 21 ms between reads.
  writeFakeNvmlConfig(cfg, { epoch: 1, count: 1, 'gpu0.power_mw': 300000, 'gpu0.limit_mw': 700000, 'gpu0.energy_step_mj': 30000 });
  process.env.FAKE_NVML_CONFIG = cfg;
});

describe('nvml sensor under a late event loop', () => {
  it('keeps the energy of a reading whose answer was noticed late', async () => {
    const clock = createFakeClock();
    const res = await probeNvml({ libPath, clock, logger: silentLogger, callMode: 'async' });
    if (!res.ok) throw new Error(res.reason);
    sensor = res.sensor;
    const counters = (rs: readonly Reading[]) => rs.filter((r) => r.energyJ !== undefined).map((r) => r.energyJ);

    const r1 = counters(await sensor.read()); // t = 0: the baseline
    clock.advance(100);
    const pending = sensor.read(); // issued at t = 100 …
    clock.advance(300); // … while the loop is busy for 300 ms before it sees the answer
    const r2 = counters(await pending);
    const r3 = counters(await sensor.read()); // issued at t = 400, right after
    expect(r1).toHaveLength(1);
    expect(r2).toHaveLength(1);
    expect(r3).toHaveLength(1);
    // Each call after the first added 30 J; none was dropped as implausible.
    expect(r3[0]! - r1[0]!).toBeCloseTo(r2[0]! - r1[0]! + 30, 9);
    expect(r2[0]! - r1[0]!).toBeGreaterThanOrEqual(30);
    expect(sensor.health().errors.implausible ?? 0).toBe(0);
  });
});
