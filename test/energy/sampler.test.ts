import { describe, expect, it } from 'vitest';
import { createFakeClock, type FakeClock } from '../../src/core/clock.js';
import { createLogger, silentLogger } from '../../src/core/logger.js';
import { createSampler } from '../../src/energy/sampler.js';
import { createEnergyTimeline } from '../../src/energy/timeline.js';
import type { Sensor } from '../../src/sensors/types.js';
import { createFakeSensor, type FakeReadBehaviour, type FakeSensor } from '../helpers/fake-sensor.js';

interface Rig {
  clock: FakeClock;
  lines: string[];
  sensors: FakeSensor[];
  sampler: ReturnType<typeof createSampler>;
  timeline: ReturnType<typeof createEnergyTimeline>;
}

/** Sensors named after their SensorName (`nvidia-smi`, `rapl`, …), one gauge device each at 100 W. */
function rig(specs: Array<{ name: Sensor['name']; intervalMs: number; script?: (i: number) => FakeReadBehaviour }>, stopTimeoutMs?: number): Rig {
  const clock = createFakeClock(0);
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', write: (l) => lines.push(l), nowMs: () => clock.wallMs() });
  const sensors = specs.map((s) => createFakeSensor({
    clock, name: s.name, devices: [{ id: `${s.name}-dev`, powerW: () => 100 }], ...(s.script ? { script: s.script } : {}),
  }));
  const timeline = createEnergyTimeline({ devices: sensors.flatMap((s) => s.devices()) });
  const intervals = new Map(specs.map((s) => [s.name, s.intervalMs] as const));
  const sampler = createSampler({
    sensors, timeline, clock, logger, intervalMs: (s) => intervals.get(s.name)!, ...(stopTimeoutMs !== undefined ? { stopTimeoutMs } : {}),
  });
  return { clock, lines, sensors, sampler, timeline };
}

/** Lets pending promise callbacks run (a read that resolves without fake time passing). */
const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

describe('sampler cadence', () => {
  it('reads at start and then every interval: N ticks in N × interval, each sensor on its own cadence', async () => {
    const { clock, sensors, sampler } = rig([{ name: 'nvidia-smi', intervalMs: 100 }, { name: 'rapl', intervalMs: 250 }]);
    sampler.start();
    await flush(); // let the first reads (started synchronously at 0) settle before time moves
    await clock.advanceAsync(999);
    expect(sensors[0]!.startTimes).toEqual([0, 100, 200, 300, 400, 500, 600, 700, 800, 900]);
    expect(sensors[1]!.startTimes).toEqual([0, 250, 500, 750]);
    expect(sampler.stats('nvidia-smi')).toMatchObject({ ticks: 10, overruns: 0, errors: 0, readings: 10 });
    expect(sampler.stats('rapl')).toMatchObject({ ticks: 4, overruns: 0 });
    await clock.advanceAsync(9_001); // up to 10 s inclusive
    expect(sampler.stats('nvidia-smi').ticks).toBe(101);
    expect(sampler.stats('rapl').ticks).toBe(41);
    expect(sampler.stats()).toMatchObject({ ticks: 142, overruns: 0, readings: 142 });
    await sampler.stop();
  });

  it('appends the readings to the timeline (100 W for 10 s = 1000 J)', async () => {
    const { clock, sampler, timeline } = rig([{ name: 'nvidia-smi', intervalMs: 100 }]);
    sampler.start();
    await flush(); // let the first reads (started synchronously at 0) settle before time moves
    await clock.advanceAsync(10_000);
    await sampler.stop();
    expect(timeline.series('nvidia-smi-dev')!.pointCount()).toBe(101);
    expect(timeline.energyBetween('nvidia-smi-dev', 0, 10_000)).toBeCloseTo(1000, 9);
  });

  it('start() twice does not double the cadence', async () => {
    const { clock, sensors, sampler } = rig([{ name: 'rapl', intervalMs: 100 }]);
    sampler.start();
    await flush(); // let the first reads (started synchronously at 0) settle before time moves
    sampler.start();
    await flush(); // let the first reads (started synchronously at 0) settle before time moves
    await clock.advanceAsync(450);
    expect(sensors[0]!.startTimes).toEqual([0, 100, 200, 300, 400]);
    await sampler.stop();
  });

  it('an invalid interval falls back to 1000 ms with a warning instead of a busy loop', async () => {
    const { clock, sensors, sampler, lines } = rig([{ name: 'rapl', intervalMs: 0 }]);
    sampler.start();
    await flush(); // let the first reads (started synchronously at 0) settle before time moves
    await clock.advanceAsync(2500);
    expect(sensors[0]!.startTimes).toEqual([0, 1000, 2000]);
    expect(lines.some((l) => l.includes('invalid sampling interval'))).toBe(true);
    await sampler.stop();
  });
});

describe('sampler overruns', () => {
  it('a read longer than the interval never overlaps itself; due ticks are counted as overruns and one delayed read follows', async () => {
    // Reads take 250 ms at a 100 ms cadence. Read 0 runs 0–250 (ticks due at 100 and 200 overrun), the
    // delayed read starts at 250 and re-anchors the cadence (350 and 450 overrun), then 500, 750, 1000.
    const { clock, sensors, sampler } = rig([
      { name: 'estimate', intervalMs: 100, script: () => ({ delayMs: 250 }) },
      { name: 'nvidia-smi', intervalMs: 100 },
    ]);
    sampler.start();
    await flush(); // let the first reads (started synchronously at 0) settle before time moves
    await clock.advanceAsync(999);
    const slow = sensors[0]!;
    expect(slow.maxConcurrent).toBe(1);
    expect(slow.startTimes).toEqual([0, 250, 500, 750]);
    expect(sampler.stats('estimate')).toMatchObject({ ticks: 4, overruns: 8, lastTickDurationMs: 250 });
    // The fast sensor is not held back by the slow one.
    expect(sensors[1]!.startTimes).toHaveLength(10);
    expect(sampler.stats('nvidia-smi').overruns).toBe(0);
    await clock.advanceAsync(1);
    expect(slow.startTimes).toEqual([0, 250, 500, 750, 1000]);
    // stop() waits for the read in flight (1000–1250), which needs fake time to pass.
    const stopping = sampler.stop();
    await clock.advanceAsync(250);
    await stopping;
    expect(slow.finished).toBe(5);
    expect(slow.maxConcurrent).toBe(1);
  });

  it('a hung sensor keeps counting overruns without a second read, and does not delay the others', async () => {
    const { clock, sensors, sampler } = rig([
      { name: 'rapl', intervalMs: 100, script: (i) => (i === 1 ? 'hang' : 'ok') },
      { name: 'nvidia-smi', intervalMs: 100 },
    ]);
    sampler.start();
    await flush(); // let the first reads (started synchronously at 0) settle before time moves
    await clock.advanceAsync(1050); // read 1 starts at 100 and hangs
    const hung = sensors[0]!;
    expect(hung.started).toBe(2);
    expect(hung.inFlight).toBe(1);
    expect(sampler.stats('rapl').overruns).toBe(9); // due at 200, 300, …, 1000
    expect(sensors[1]!.started).toBe(11);
    hung.release();
    await flush();
    // The delayed read starts as soon as the hung one ends, then the cadence resumes from there.
    expect(hung.startTimes).toEqual([0, 100, 1050]);
    await clock.advanceAsync(100);
    expect(hung.startTimes).toEqual([0, 100, 1050, 1150]);
    expect(hung.maxConcurrent).toBe(1);
    await sampler.stop();
  });

  it('a due tick that finds a manual tick() still running is an overrun too', async () => {
    const { clock, sensors, sampler } = rig([{ name: 'rapl', intervalMs: 100, script: (i) => (i === 1 ? { delayMs: 150 } : 'ok') }]);
    sampler.start();
    await flush(); // let the first reads (started synchronously at 0) settle before time moves
    await clock.advanceAsync(50);
    const manual = sampler.tick(); // read 1 at 50, takes 150 ms: the tick due at 100 overruns
    await clock.advanceAsync(150);
    await manual;
    expect(sampler.stats('rapl').overruns).toBe(1);
    expect(sensors[0]!.startTimes).toEqual([0, 50, 200]);
    expect(sensors[0]!.maxConcurrent).toBe(1);
    await sampler.stop();
  });
});

describe('sampler robustness', () => {
  it('a sensor whose read() throws (async or sync) is counted and logged rate-limited; it and the others go on', async () => {
    const { clock, sensors, sampler, lines } = rig([
      { name: 'rapl', intervalMs: 100, script: (i) => (i % 2 === 0 ? 'throw' : 'ok') },
      { name: 'estimate', intervalMs: 100, script: (i) => (i % 2 === 0 ? 'throw-sync' : 'ok') },
      { name: 'nvidia-smi', intervalMs: 100 },
    ]);
    sampler.start();
    await flush(); // let the first reads (started synchronously at 0) settle before time moves
    await clock.advanceAsync(999);
    expect(sampler.stats('rapl')).toMatchObject({ ticks: 10, errors: 5, readings: 5 });
    expect(sampler.stats('estimate')).toMatchObject({ ticks: 10, errors: 5, readings: 5 });
    expect(sampler.stats('nvidia-smi')).toMatchObject({ ticks: 10, errors: 0, readings: 10 });
    expect(sampler.stats().errors).toBe(10);
    expect(lines.filter((l) => l.includes('read() threw') && l.includes('rapl'))).toHaveLength(1);
    expect(lines.filter((l) => l.includes('read() threw') && l.includes('estimate'))).toHaveLength(1);
    expect(sensors.every((s) => s.maxConcurrent <= 1)).toBe(true);
    await sampler.stop();
  });

  it('a sensor returning something other than an array is counted as an error', async () => {
    const clock = createFakeClock(0);
    const bad: Sensor = {
      name: 'simulated',
      devices: () => [],
      read: async () => null as unknown as [],
      health: () => ({ up: true, errors: {} }),
      close: async () => {},
    };
    const sampler = createSampler({ sensors: [bad], timeline: createEnergyTimeline({ devices: [] }), clock, logger: silentLogger, intervalMs: () => 100 });
    sampler.start();
    await flush(); // let the first reads (started synchronously at 0) settle before time moves
    await clock.advanceAsync(150);
    expect(sampler.stats('simulated')).toMatchObject({ ticks: 2, errors: 2, readings: 0 });
    await sampler.stop();
  });

  it('onSample listeners run after reads that yielded readings; a throwing listener is caught and logged once', async () => {
    const { clock, sampler, lines } = rig([{ name: 'rapl', intervalMs: 100, script: (i) => (i === 2 ? 'empty' : 'ok') }]);
    const calls: number[] = [];
    sampler.onSample(() => {
      throw new Error('listener bug');
    });
    const off = sampler.onSample(() => calls.push(clock.nowMs()));
    sampler.start();
    await flush(); // let the first reads (started synchronously at 0) settle before time moves
    await clock.advanceAsync(350);
    expect(calls).toEqual([0, 100, 300]); // read 2 (at 200) returned nothing
    expect(lines.filter((l) => l.includes('onSample listener threw'))).toHaveLength(1);
    off();
    await clock.advanceAsync(100);
    expect(calls).toHaveLength(3);
    await sampler.stop();
  });

  it('tick() reads every sensor once now', async () => {
    const { sensors, sampler, timeline } = rig([{ name: 'rapl', intervalMs: 100 }, { name: 'nvidia-smi', intervalMs: 100 }]);
    await sampler.tick();
    expect(sensors.map((s) => s.started)).toEqual([1, 1]);
    expect(timeline.coveredUntilMs()).toBe(0);
  });

  it('stats() for an unknown sensor is all zero', () => {
    const { sampler } = rig([{ name: 'rapl', intervalMs: 100 }]);
    expect(sampler.stats('nvml')).toEqual({ ticks: 0, overruns: 0, lastTickDurationMs: undefined, errors: 0, readings: 0 });
  });
});

describe('sampler stop', () => {
  it('stop() stops scheduling and waits for the read in flight', async () => {
    const { clock, sensors, sampler, timeline } = rig([{ name: 'rapl', intervalMs: 100, script: (i) => (i === 1 ? { delayMs: 300 } : 'ok') }]);
    sampler.start();
    await flush(); // let the first reads (started synchronously at 0) settle before time moves
    await clock.advanceAsync(150); // read 1 runs 100–400
    let stopped = false;
    const stopping = sampler.stop().then(() => { stopped = true; });
    await flush();
    expect(stopped).toBe(false);
    await clock.advanceAsync(249);
    expect(stopped).toBe(false);
    await clock.advanceAsync(1);
    await stopping;
    expect(stopped).toBe(true);
    expect(sensors[0]!.finished).toBe(2);
    expect(timeline.series('rapl-dev')!.coveredUntilMs()).toBe(400); // the last read was appended
    await clock.advanceAsync(1000);
    expect(sensors[0]!.started).toBe(2); // nothing scheduled after stop
    expect(clock.pendingTimers()).toBe(0);
  });

  it('stop() gives up on a hung read after stopTimeoutMs, with a warning', async () => {
    const { clock, sampler, lines } = rig([{ name: 'rapl', intervalMs: 100, script: () => 'hang' }], 1000);
    sampler.start();
    await flush(); // let the first reads (started synchronously at 0) settle before time moves
    let stopped = false;
    const stopping = sampler.stop().then(() => { stopped = true; });
    await clock.advanceAsync(999);
    expect(stopped).toBe(false);
    await clock.advanceAsync(1);
    await stopping;
    expect(stopped).toBe(true);
    expect(lines.some((l) => l.includes('stopped without waiting') && l.includes('rapl'))).toBe(true);
  });

  it('stop() with nothing in flight returns at once, and start() again resumes', async () => {
    const { clock, sensors, sampler } = rig([{ name: 'rapl', intervalMs: 100 }]);
    sampler.start();
    await flush(); // let the first reads (started synchronously at 0) settle before time moves
    await clock.advanceAsync(150);
    await sampler.stop();
    await clock.advanceAsync(500);
    expect(sensors[0]!.started).toBe(2);
    sampler.start();
    await flush(); // let the first reads (started synchronously at 0) settle before time moves
    await clock.advanceAsync(100);
    expect(sensors[0]!.startTimes).toEqual([0, 100, 650, 750]);
    await sampler.stop();
  });
});
