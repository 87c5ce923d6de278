/**
 * The sensor stage: a sensor reads; it never integrates, attributes or exports.
 *
 * A sensor owns one or more devices and yields readings of two shapes:
 * - counter readings: `energyJ` is the device's cumulative energy in joules since the sensor started,
 *   already corrected by the sensor for wraps and resets (it is the one that knows the counter's range);
 *   it never goes down.
 * - gauge readings: `powerW`, an instantaneous (or short-average) power; the timeline integrates them.
 * Every reading carries `tMs`, the monotonic time (Clock.nowMs) at which it was taken or received.
 * Absent is never zero: a device with no value in a sample simply has no reading in it.
 */
export type DeviceKind = 'gpu' | 'cpu' | 'dram';
export type EnergyMethod = 'counter' | 'integrated' | 'estimated' | 'simulated';
export type SensorName = 'nvml' | 'nvidia-smi' | 'rapl' | 'estimate' | 'simulated';
export const SENSOR_NAMES: readonly SensorName[] = ['nvml', 'nvidia-smi', 'rapl', 'estimate', 'simulated'];

export interface DeviceInfo {
  /** Stable label, unique on the host: `gpu0`, `gpu1`, `package-0`, `dram-0`, `cpu` (estimate), `sim-gpu0`. */
  readonly id: string;
  readonly kind: DeviceKind;
  /** How this device's energy is obtained; exported as the `method` label. */
  readonly method: EnergyMethod;
  readonly sensor: SensorName;
  readonly name: string;
  readonly uuid?: string;
  readonly driver?: string;
  readonly powerLimitW?: number;
  /** Human-readable remarks: "power estimated from utilization × power limit", "MIG: power of the physical GPU". */
  readonly notes?: readonly string[];
}

export type Reading =
  | { readonly device: string; readonly tMs: number; readonly energyJ: number; readonly powerW?: number }
  | { readonly device: string; readonly tMs: number; readonly powerW: number; readonly energyJ?: undefined };

export interface SensorHealth {
  readonly up: boolean;
  /** Monotonic time of the last good reading, if any. */
  readonly lastSampleMs?: number;
  /** Error counts by short, bounded reason (`read_failed`, `eacces`, `restart`, `silent`, `parse`, `wrap`, `implausible`, …). */
  readonly errors: Readonly<Record<string, number>>;
  /** The last problem, for humans. */
  readonly message?: string;
}

export interface Sensor {
  readonly name: SensorName;
  /** The devices this sensor measures; fixed after discovery. */
  devices(): readonly DeviceInfo[];
  /**
   * Returns the readings taken since the previous call, oldest first. Poll sensors (RAPL, estimate)
   * read now; push sensors (the nvidia-smi child) return what they buffered. Never throws: failures
   * are counted in health() and the reading is absent.
   */
  read(): Promise<readonly Reading[]>;
  health(): SensorHealth;
  /** Releases children, handles and timers. Idempotent. */
  close(): Promise<void>;
}

/** The result of trying one backend at start-up (Kepler-style discovery with reasons). */
export type ProbeResult =
  | { readonly ok: true; readonly sensor: Sensor }
  | { readonly ok: false; readonly name: SensorName; readonly reason: string };

/** Reasons sensors use as the `reason` label; a bounded set. */
export const SENSOR_ERROR_REASONS = [
  'read_failed', 'permission', 'parse', 'wrap', 'reset', 'implausible', 'restart', 'silent', 'exited', 'not_supported', 'gpu_lost',
] as const;
export type SensorErrorReason = (typeof SENSOR_ERROR_REASONS)[number];

/** Tokens nvidia-smi prints for values it cannot give; they mean absent, never zero. */
export function isAbsentToken(raw: string): boolean {
  const v = raw.trim();
  return v === '' || v === 'N/A' || /^\[.*\]$/.test(v);
}
