import { afterEach, describe, expect, it, vi } from 'vitest';
import { createFakeClock } from '../../src/core/clock.js';
import { createSimulatedSensor, probeSimulated, saturation, type SimulatedSensorOptions } from '../../src/sensors/simulated.js';
import type { Reading } from '../../src/sensors/types.js';

afterEach(() => vi.restoreAllMocks());

const energyOf = (rs: readonly Reading[], device: string) => rs.find((r) => r.device === device)!.energyJ!;

/** Runs a schedule of steps: advance the clock by dtMs, set the load to n, read. Returns every read's readings. */
async function run(opts: Omit<SimulatedSensorOptions, 'clock' | 'load'>, schedule: readonly [number, number][]) {
  const clock = createFakeClock();
  let load = 0;
  const s = createSimulatedSensor({ ...opts, clock, load: () => load });
  const out: (readonly Reading[])[] = [];
  for (const [dtMs, n] of schedule) {
    clock.advance(dtMs);
    load = n;
    out.push(await s.read());
  }
  return { s, out };
}

describe('simulated sensor', () => {
  it('has the devices sim-gpu0..N-1 and sim-cpu, method simulated', () => {
    const s = createSimulatedSensor({ clock: createFakeClock(), load: () => 0, gpus: 3 });
    expect(s.name).toBe('simulated');
    expect(s.devices().map((d) => [d.id, d.kind, d.method, d.sensor])).toEqual([
      ['sim-gpu0', 'gpu', 'simulated', 'simulated'], ['sim-gpu1', 'gpu', 'simulated', 'simulated'],
      ['sim-gpu2', 'gpu', 'simulated', 'simulated'], ['sim-cpu', 'cpu', 'simulated', 'simulated'],
    ]);
    expect(createSimulatedSensor({ clock: createFakeClock(), load: () => 0 }).devices().map((d) => d.id)).toEqual(['sim-gpu0', 'sim-cpu']);
  });

  it('is deterministic: same options and schedule give identical readings, and Math.random is never used', async () => {
    vi.spyOn(Math, 'random').mockImplementation(() => { throw new Error('Math.random used'); });
    const schedule: [number, number][] = [[0, 2], [137, 5], [1000, 0], [2500, 12], [333, 1], [4000, 3]];
    const a = await run({ gpus: 2 }, schedule);
    const b = await run({ gpus: 2 }, schedule);
    expect(a.out).toEqual(b.out);
    const c = await run({ gpus: 2, seed: 99 }, schedule);
    expect(c.out).not.toEqual(a.out); // the seed moves the wobble
  });

  it('counter energy is the exact integral: wobble-free it is power × time; with wobble, 1000 small reads give the same energy as one (a discretised integral would not)', async () => {
    const opts = { gpus: 1, gpuIdleW: 70, gpuMaxW: 630, saturateAt: 8, wobble: 0.05, seed: 7 };
    const schedule: [number, number][] = [[0, 3], [900, 3], [2300, 9], [700, 0], [5000, 6], [1234, 6]];
    const { s, out } = await run(opts, schedule);
    expect(s.devices()[0]!.id).toBe('sim-gpu0');
    // Reconstruct the wobble-free energy: with wobble 0 the integral is exactly base power × dt.
    const flat = await run({ ...opts, wobble: 0 }, schedule);
    let expected = 0;
    let load = 0;
    for (let k = 0; k < schedule.length; k++) {
      const [dtMs, n] = schedule[k]!;
      if (k > 0) expected += (70 + 560 * saturation(load, 8)) * dtMs / 1000;
      load = n;
      expect(energyOf(flat.out[k]!, 'sim-gpu0')).toBeCloseTo(expected, 9);
    }
    // With wobble, |w| ≤ 5 %: the energy stays within ±5 % of the flat one, and it differs from it.
    const wob = energyOf(out.at(-1)!, 'sim-gpu0');
    expect(Math.abs(wob / expected - 1)).toBeLessThanOrEqual(0.05);
    expect(wob).not.toBeCloseTo(expected, 3);
    // Exactness with wobble: split one interval into many small reads; the total must be identical.
    const coarse = await run(opts, [[0, 4], [10_000, 4]]);
    const fine = await run(opts, [[0, 4], ...Array.from({ length: 1000 }, () => [10, 4] as [number, number])]);
    const eCoarse = energyOf(coarse.out.at(-1)!, 'sim-cpu');
    const eFine = energyOf(fine.out.at(-1)!, 'sim-cpu');
    expect(Math.abs(eFine / eCoarse - 1)).toBeLessThan(1e-9);
  });

  it('is monotone in load and saturates: more in-flight requests never use less energy over the same time', async () => {
    const energies: number[] = [];
    for (let n = 0; n <= 16; n++) {
      const { out } = await run({ gpus: 1, saturateAt: 8 }, [[0, n], [60_000, n]]);
      energies.push(energyOf(out.at(-1)!, 'sim-gpu0'));
    }
    for (let n = 1; n <= 16; n++) {
      if (n <= 8) expect(energies[n]!).toBeGreaterThan(energies[n - 1]!);
      else expect(energies[n]!).toBeCloseTo(energies[n - 1]!, 9); // saturated
    }
    // Idle and saturated ends match the configured powers within the wobble (2 %).
    expect(energies[0]! / 60).toBeGreaterThan(70 * 0.98);
    expect(energies[0]! / 60).toBeLessThan(70 * 1.02);
    expect(energies[16]! / 60).toBeGreaterThan(630 * 0.98);
    expect(energies[16]! / 60).toBeLessThan(630 * 1.02);
    // Concave: the first request adds more power than the eighth.
    expect(energies[1]! - energies[0]!).toBeGreaterThan(energies[8]! - energies[7]!);
  });

  it('the first read is the baseline (0 J); counters never go down; bad load values are counted, not thrown', async () => {
    const clock = createFakeClock();
    const loads: unknown[] = [2, -1, Number.NaN, 'throw', 3];
    let i = 0;
    const s = createSimulatedSensor({
      clock, load: () => { const v = loads[Math.min(i++, loads.length - 1)]; if (v === 'throw') throw new Error('boom'); return v as number; },
    });
    const first = await s.read();
    expect(first.every((r) => r.energyJ === 0 && r.tMs === 0)).toBe(true);
    let prev = 0;
    for (let k = 0; k < 5; k++) {
      clock.advance(500);
      const e = energyOf(await s.read(), 'sim-gpu0');
      expect(e).toBeGreaterThan(prev);
      prev = e;
    }
    expect(s.health().errors).toEqual({ parse: 2, read_failed: 1 });
    // A read at the same instant adds nothing.
    expect(energyOf(await s.read(), 'sim-gpu0')).toBe(prev);
  });

  it('probeSimulated returns the sensor, or the reason for bad options', async () => {
    const ok = await probeSimulated({ clock: createFakeClock(), load: () => 0, gpus: 2 });
    expect(ok.ok && ok.sensor.devices().length).toBe(3);
    const bad = await probeSimulated({ clock: createFakeClock(), load: () => 0, gpus: -1, gpuIdleW: 500, gpuMaxW: 100 });
    expect(bad).toEqual({ ok: false, name: 'simulated', reason: expect.stringMatching(/gpus must be .*; need 0 ≤ gpuIdleW ≤ gpuMaxW/) });
    expect(() => createSimulatedSensor({ clock: createFakeClock(), load: () => 0, saturateAt: 0 })).toThrow(/saturateAt/);
  });
});
