import type { SensorErrorReason, SensorHealth } from './types.js';

/** Mutable health bookkeeping shared by the sensors; `snapshot()` is what readers see. */
export interface HealthTracker {
  ok(tMs: number): void;
  fail(reason: SensorErrorReason, message: string): void;
  /** Counts an error without marking the sensor down (a dropped implausible delta, a wrap). */
  count(reason: SensorErrorReason, message?: string): void;
  setUp(up: boolean, message?: string): void;
  snapshot(): SensorHealth;
}

export function createHealthTracker(initiallyUp = true): HealthTracker {
  let up = initiallyUp;
  let lastSampleMs: number | undefined;
  let message: string | undefined;
  const errors: Record<string, number> = {};
  return {
    ok(tMs) { up = true; lastSampleMs = tMs; },
    fail(reason, msg) { up = false; message = msg; errors[reason] = (errors[reason] ?? 0) + 1; },
    count(reason, msg) { errors[reason] = (errors[reason] ?? 0) + 1; if (msg) message = msg; },
    setUp(u, msg) { up = u; if (msg !== undefined) message = msg; },
    snapshot: () => ({ up, ...(lastSampleMs !== undefined ? { lastSampleMs } : {}), errors: { ...errors }, ...(message !== undefined ? { message } : {}) }),
  };
}
