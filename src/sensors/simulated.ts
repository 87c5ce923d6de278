import type { Clock } from '../core/clock.js';
import { InferwattError, errorMessage } from '../core/errors.js';
import { createHealthTracker } from './health.js';
import type { DeviceInfo, ProbeResult, Reading, Sensor } from './types.js';

/**
 * A deterministic, load-dependent power source for the demo and for tests (docs/sensors.md). Selected only on
 * purpose (`--sensors simulated`), never as a silent fallback on a real host.
 *
 * Power of each device at load n (e.g. in-flight requests) and monotonic time t:
 *   P(n, t) = (idle + (max − idle) × s(n)) × (1 + w(t)),  s(n) = 1 − (1 − min(n / saturateAt, 1))²
 * s rises steeply with the first requests and flattens, reaching 1 at `saturateAt` (batching makes an
 * inference GPU's power concave in concurrency); so P is non-decreasing in n at every t.
 * w(t) is a small wobble, a fixed sum of two sines whose phases come from `seed` and the device index
 * (no Math.random): |w| ≤ wobble.
 *
 * Readings are energy counters, integrated inside the sensor in closed form (exact, no discretisation):
 * the load sampled at one read is held until the next (zero-order hold), so the energy added at read k is
 * ∫ P(n_{k−1}, t) dt over (t_{k−1}, t_k]. A request that starts between two reads shows up from the next read.
 *
 * Defaults are from the recorded captures: GPU 70 W idle and 630 W under load (NVIDIA H100 80GB HBM3,
 * test/fixtures/nvidia-smi …h100-80gb-hbm3…: power.draw 69.85 W idle, 631.95 W load); CPU 40 W idle and
 * 170 W at full load (AMD Threadripper 1950X load-vs-RAPL profile: 42.7 W idle, 172 W peak package power).
 * saturateAt 8 in-flight requests is a demo choice, not a measurement.
 */
export interface SimulatedSensorOptions {
  clock: Clock;
  /** Current load, e.g. in-flight requests; negative or non-finite values are treated as 0 and counted. */
  load: () => number;
  gpus?: number;
  gpuIdleW?: number;
  gpuMaxW?: number;
  cpuIdleW?: number;
  cpuMaxW?: number;
  saturateAt?: number;
  /** Relative wobble amplitude, default 0.02; 0 for none. */
  wobble?: number;
  /** Seed of the wobble phases, default 1. */
  seed?: number;
}

export const SIMULATED_DEFAULTS = {
  gpus: 1, gpuIdleW: 70, gpuMaxW: 630, cpuIdleW: 40, cpuMaxW: 170, saturateAt: 8, wobble: 0.02, seed: 1,
} as const;

/** Periods of the two wobble sines, ms; incommensurate so the pattern does not visibly repeat. */
const WOBBLE_PERIODS_MS = [7300, 1900] as const;
const WOBBLE_WEIGHTS = [0.6, 0.4] as const;

/** Fraction of the idle→max range used at load n: concave, 0 at n = 0, 1 from n = saturateAt. */
export function saturation(n: number, saturateAt: number): number {
  const x = Math.min(Math.max(n, 0) / saturateAt, 1);
  return 1 - (1 - x) * (1 - x);
}

/** A small deterministic integer hash → [0, 1) (mulberry32 step), for the wobble phases. */
function hashUnit(seed: number, i: number): number {
  let t = (Math.imul(seed | 0, 0x9e3779b1) + Math.imul(i + 1, 0x85ebca6b)) >>> 0;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

interface SimDevice {
  readonly info: DeviceInfo;
  readonly idleW: number;
  readonly maxW: number;
  readonly phases: readonly number[];
  cumulativeJ: number;
}

export function validateSimulatedOptions(opts: SimulatedSensorOptions): string[] {
  const o = { ...SIMULATED_DEFAULTS, ...definedOnly(opts) };
  const problems: string[] = [];
  if (!Number.isInteger(o.gpus) || o.gpus < 0) problems.push(`gpus must be an integer ≥ 0, got ${o.gpus}`);
  if (!(o.gpuIdleW >= 0 && o.gpuMaxW >= o.gpuIdleW)) problems.push(`need 0 ≤ gpuIdleW ≤ gpuMaxW, got ${o.gpuIdleW}, ${o.gpuMaxW}`);
  if (!(o.cpuIdleW >= 0 && o.cpuMaxW >= o.cpuIdleW)) problems.push(`need 0 ≤ cpuIdleW ≤ cpuMaxW, got ${o.cpuIdleW}, ${o.cpuMaxW}`);
  if (!(o.saturateAt > 0)) problems.push(`saturateAt must be > 0, got ${o.saturateAt}`);
  if (!(o.wobble >= 0 && o.wobble < 1)) problems.push(`wobble must be in [0, 1), got ${o.wobble}`);
  return problems;
}

export function createSimulatedSensor(opts: SimulatedSensorOptions): Sensor {
  const problems = validateSimulatedOptions(opts);
  // Start-up only: bad options are a configuration error, never a sampling-time one.
  if (problems.length) throw new InferwattError('SIMULATED_OPTIONS', 'fatal', `simulated sensor: ${problems.join('; ')}`);
  const o = { ...SIMULATED_DEFAULTS, ...definedOnly(opts) };
  const { clock } = opts;
  const notes = ['simulated: deterministic power from the load (in-flight requests); not a measurement'];
  const make = (id: string, kind: 'gpu' | 'cpu', name: string, idleW: number, maxW: number, index: number): SimDevice => ({
    info: { id, kind, method: 'simulated', sensor: 'simulated', name, notes, ...(kind === 'gpu' ? { powerLimitW: maxW } : {}) },
    idleW, maxW, cumulativeJ: 0,
    phases: WOBBLE_PERIODS_MS.map((_, j) => 2 * Math.PI * hashUnit(o.seed, index * 7 + j)),
  });
  const devices: SimDevice[] = [];
  for (let i = 0; i < o.gpus; i++) devices.push(make(`sim-gpu${i}`, 'gpu', `Simulated GPU ${i}`, o.gpuIdleW, o.gpuMaxW, i));
  devices.push(make('sim-cpu', 'cpu', 'Simulated CPU', o.cpuIdleW, o.cpuMaxW, o.gpus));
  const infos = devices.map((d) => d.info);
  const health = createHealthTracker(true);
  let lastMs: number | undefined;
  let heldLoad: number | undefined;
  let closed = false;

  /** ∫ (1 + w(t)) dt over [t0, t1] in seconds, closed form. */
  const wobbleIntegralS = (d: SimDevice, t0: number, t1: number): number => {
    let extraMs = 0;
    WOBBLE_PERIODS_MS.forEach((period, j) => {
      const k = (2 * Math.PI) / period;
      const phase = d.phases[j]!;
      // ∫ sin(k t + φ) dt = −cos(k t + φ) / k
      extraMs += WOBBLE_WEIGHTS[j]! * o.wobble * (Math.cos(k * t0 + phase) - Math.cos(k * t1 + phase)) / k;
    });
    return (t1 - t0 + extraMs) / 1000;
  };

  const sampleLoad = (): number => {
    let n: number;
    try {
      n = opts.load();
    } catch (err) {
      health.count('read_failed', `load() threw: ${errorMessage(err)}`);
      return heldLoad ?? 0;
    }
    if (!Number.isFinite(n) || n < 0) {
      health.count('parse', `load() returned ${n}`);
      return Number.isFinite(n) ? 0 : (heldLoad ?? 0);
    }
    return n;
  };

  return {
    name: 'simulated',
    devices: () => infos,
    async read(): Promise<readonly Reading[]> {
      if (closed) return [];
      const t = clock.nowMs();
      if (lastMs !== undefined && heldLoad !== undefined && t > lastMs) {
        const s = saturation(heldLoad, o.saturateAt);
        for (const d of devices) d.cumulativeJ += (d.idleW + (d.maxW - d.idleW) * s) * wobbleIntegralS(d, lastMs, t);
      }
      if (lastMs === undefined || t > lastMs) {
        lastMs = t;
        heldLoad = sampleLoad();
      }
      health.ok(t);
      return devices.map((d) => ({ device: d.info.id, tMs: t, energyJ: d.cumulativeJ }));
    },
    health: () => health.snapshot(),
    async close() {
      closed = true;
    },
  };
}

export async function probeSimulated(opts: SimulatedSensorOptions): Promise<ProbeResult> {
  const problems = validateSimulatedOptions(opts);
  if (problems.length) return { ok: false, name: 'simulated', reason: problems.join('; ') };
  return { ok: true, sensor: createSimulatedSensor(opts) };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
