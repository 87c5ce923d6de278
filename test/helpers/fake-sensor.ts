/**
 * A scriptable Sensor for tests: each device is a gauge (power as a function of time) or a counter
 * (cumulative energy as a function of time), evaluated at the fake clock's time when a read completes.
 * A script decides, read by read, whether it succeeds, returns nothing, throws, hangs or takes time, and
 * the sensor records how many reads ran at once (the sampler must never overlap them).
 */
import type { Clock } from '../../src/core/clock.js';
import { createHealthTracker } from '../../src/sensors/health.js';
import type { DeviceInfo, DeviceKind, EnergyMethod, Reading, Sensor, SensorName } from '../../src/sensors/types.js';

export interface FakeDeviceSpec {
  readonly id: string;
  readonly kind?: DeviceKind;
  readonly method?: EnergyMethod;
  /** Gauge device: instantaneous power in W at monotonic time tMs. */
  readonly powerW?: (tMs: number) => number;
  /** Counter device: cumulative energy in J at monotonic time tMs. */
  readonly energyJ?: (tMs: number) => number;
}

/**
 * What one read does: `ok` returns a reading per device; `empty` returns none; `throw` rejects and
 * `throw-sync` throws before returning a promise (both break the Sensor contract on purpose);
 * `hang` never settles until `release()`; `{ delayMs }` completes after that much fake-clock time.
 */
export type FakeReadBehaviour = 'ok' | 'empty' | 'throw' | 'throw-sync' | 'hang' | { readonly delayMs: number };

export interface FakeSensorOptions {
  readonly clock: Clock;
  readonly devices: readonly FakeDeviceSpec[];
  readonly name?: SensorName;
  /** Behaviour of read number `index` (0-based); `ok` by default. */
  readonly script?: (index: number) => FakeReadBehaviour;
}

export interface FakeSensor extends Sensor {
  /** Reads started. */
  readonly started: number;
  /** Reads settled (resolved or rejected). */
  readonly finished: number;
  /** Largest number of reads that were running at the same time. */
  readonly maxConcurrent: number;
  readonly inFlight: number;
  /** Fake-clock times at which reads started. */
  readonly startTimes: readonly number[];
  readonly closed: boolean;
  /** Lets every hung read complete now (with readings stamped at the current time). */
  release(): void;
}

export function createFakeSensor(opts: FakeSensorOptions): FakeSensor {
  const { clock } = opts;
  const health = createHealthTracker();
  const infos: DeviceInfo[] = opts.devices.map((d) => ({
    id: d.id,
    kind: d.kind ?? 'gpu',
    method: d.method ?? (d.energyJ ? 'counter' : 'integrated'),
    sensor: opts.name ?? 'simulated',
    name: `fake ${d.id}`,
  }));
  let started = 0;
  let finished = 0;
  let inFlight = 0;
  let maxConcurrent = 0;
  let closed = false;
  const startTimes: number[] = [];
  const hung: Array<() => void> = [];

  const sample = (): Reading[] => {
    const t = clock.nowMs();
    const out: Reading[] = [];
    for (const d of opts.devices) {
      if (d.energyJ) out.push({ device: d.id, tMs: t, energyJ: d.energyJ(t) });
      else if (d.powerW) out.push({ device: d.id, tMs: t, powerW: d.powerW(t) });
    }
    health.ok(t);
    return out;
  };

  const sensor: FakeSensor = {
    name: opts.name ?? 'simulated',
    devices: () => infos,
    health: () => health.snapshot(),
    async close() {
      closed = true;
    },
    read(): Promise<readonly Reading[]> {
      const index = started++;
      startTimes.push(clock.nowMs());
      const behaviour = opts.script?.(index) ?? 'ok';
      if (behaviour === 'throw-sync') {
        finished++;
        throw new Error(`fake sensor: read ${index} threw synchronously`);
      }
      inFlight++;
      maxConcurrent = Math.max(maxConcurrent, inFlight);
      const settle = () => {
        inFlight--;
        finished++;
      };
      return (async () => {
        try {
          if (behaviour === 'hang') await new Promise<void>((resolve) => hung.push(resolve));
          else if (typeof behaviour === 'object') await new Promise<void>((resolve) => clock.setTimer(resolve, behaviour.delayMs));
          if (behaviour === 'throw') throw new Error(`fake sensor: read ${index} failed`);
          if (behaviour === 'empty') return [];
          return sample();
        } finally {
          settle();
        }
      })();
    },
    get started() { return started; },
    get finished() { return finished; },
    get maxConcurrent() { return maxConcurrent; },
    get inFlight() { return inFlight; },
    get startTimes() { return startTimes; },
    get closed() { return closed; },
    release() {
      for (const resolve of hung.splice(0)) resolve();
    },
  };
  return sensor;
}
