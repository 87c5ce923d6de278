import type { DeviceInfo, Reading, Sensor } from '../sensors/types.js';

/**
 * The energy stage: per-device cumulative joules on the monotonic clock.
 *
 * Each device's series is a bounded ring of (tMs, cumulativeJ) points. Counter readings are stored as
 * they come (the sensor already made them monotone); gauge readings are integrated by trapezoids
 * between consecutive readings. Between two points the cumulative energy is linear in time, i.e. the
 * power is taken as constant inside each sample interval: that is what `energyBetween` interpolates.
 */
export interface DeviceSeries {
  readonly device: DeviceInfo;
  /** Cumulative J at monotonic time tMs, interpolated; undefined outside the retained, covered range. */
  energyAt(tMs: number): number | undefined;
  /** Times of the retained points strictly inside (t0Ms, t1Ms), ascending: the ledger cuts time there. */
  pointTimesBetween(t0Ms: number, t1Ms: number): number[];
  /** Time of the newest point (how far the series covers), if any. */
  coveredUntilMs(): number | undefined;
  /** Time of the oldest retained point, if any. */
  retainedFromMs(): number | undefined;
  /** Cumulative J at the newest point (0 before the second reading of a gauge). */
  totalJ(): number;
  /** Power over the newest interval (or the newest gauge value), W; undefined before it is known. */
  latestPowerW(): number | undefined;
  /** Number of retained points (never more than the timeline's capacity). */
  pointCount(): number;
}

/**
 * Why a reading was dropped by the timeline (a bounded set, usable as a metric label):
 * `out_of_order` (tMs ≤ the device's newest point), `unknown_device`, `non_finite` (NaN/±Infinity in
 * tMs, energyJ or powerW), `counter_decrease` (a counter went down: the sensor should have corrected it),
 * `negative_power` (a gauge below 0 W).
 */
export type TimelineDropReason = 'out_of_order' | 'unknown_device' | 'non_finite' | 'counter_decrease' | 'negative_power';
export const TIMELINE_DROP_REASONS: readonly TimelineDropReason[] = [
  'out_of_order', 'unknown_device', 'non_finite', 'counter_decrease', 'negative_power',
];

export interface DeviceSnapshot {
  readonly device: DeviceInfo;
  readonly powerW: number | undefined;
  readonly energyJ: number;
  readonly lastSampleMs: number | undefined;
}

export interface EnergyTimeline {
  devices(): readonly DeviceInfo[];
  series(deviceId: string): DeviceSeries | undefined;
  /** Adds a reading; out-of-order or unknown-device readings are dropped and counted, never thrown. */
  append(reading: Reading): void;
  /** Joules the device used between t0Ms and t1Ms; undefined if the range is not covered (yet or any more). */
  energyBetween(deviceId: string, t0Ms: number, t1Ms: number): number | undefined;
  /** The earliest `coveredUntilMs` over the given devices (all by default): how far they all are known. */
  coveredUntilMs(deviceIds?: readonly string[]): number | undefined;
  /** A consistent copy for readers (metrics, API); never a live reference. */
  snapshot(): readonly DeviceSnapshot[];
  /** Readings dropped so far, by reason (every TimelineDropReason is present, 0 when none). */
  dropped(): Readonly<Record<string, number>>;
}

export interface SamplerStats {
  /** Reads started (including ones whose read() threw). */
  readonly ticks: number;
  /**
   * Due ticks that found the previous read still running (reads never overlap): each such tick is
   * counted, and one delayed read starts as soon as the running one ends. A hung sensor keeps counting.
   */
  readonly overruns: number;
  /** Duration of the newest finished read; overall: the largest of the sensors' newest durations. */
  readonly lastTickDurationMs: number | undefined;
  /** Reads whose read() threw or returned something other than an array (sensors should not). */
  readonly errors?: number;
  /** Readings handed to the timeline (it may still drop some; see EnergyTimeline.dropped()). */
  readonly readings?: number;
}

export interface Sampler {
  start(): void;
  /** Stops scheduling and waits for a read in progress; does not close the sensors. */
  stop(): Promise<void>;
  /** Reads every due sensor once now (tests and shutdown use it). */
  tick(): Promise<void>;
  stats(sensor?: string): SamplerStats;
  /** Called after each tick that appended readings; listeners must not throw (errors are logged). */
  onSample(listener: () => void): () => void;
}

export interface SamplerOptions {
  readonly sensors: readonly Sensor[];
  readonly timeline: EnergyTimeline;
  /** Cadence per sensor name; e.g. 100 ms for GPUs, 250 ms for RAPL (docs/sensors.md). */
  readonly intervalMs: (sensor: Sensor) => number;
  /** How long stop() waits for reads in flight before giving up on them (a hung sensor); default 5000. */
  readonly stopTimeoutMs?: number;
}
