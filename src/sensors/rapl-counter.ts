import { microjoulesToJoules } from '../core/units.js';
import type { SensorErrorReason } from './types.js';

/**
 * Turns one RAPL zone's raw `energy_uj` readings into cumulative joules since the sensor started
 * (first reading, difference and wrap are explicit).
 *
 * - First reading: the baseline; cumulative energy is 0 J.
 * - Normal step: delta = cur − prev.
 * - Wrap: the counter went down and `max_energy_range_uj` is known:
 *   delta = (max_energy_range_uj − prev) + cur (Linux powercap sysfs ABI: the counter wraps at
 *   max_energy_range_uj; Documentation/power/powercap/powercap.rst). Counted as `wrap`, not an error.
 * - The counter went down and the range is unknown: the delta cannot be known (a reset or a wrap of unknown
 *   size); it is dropped and counted as `reset`.
 * - A delta above `maxPlausibleW × dt` is dropped and counted as `implausible` (a reset read as a
 *   near-full-range wrap, a garbage read, a suspend/resume).
 * - The first delta after a failed read is dropped (the counter may have been reset while we could not
 *   read it), counted as `reset`.
 * A dropped delta adds nothing: that interval's energy is lost (at 250 ms cadence, a quarter second of the
 * zone's power), which is preferred to inventing it. The cumulative value never goes down.
 */
export interface ZoneCounter {
  /** Feeds a successful raw reading; returns the cumulative joules to report, and why a delta was dropped. */
  update(rawUj: number, tMs: number): { energyJ: number; dropped?: SensorErrorReason; wrapped?: boolean };
  /** Records that a read failed: the next delta will be dropped. */
  markError(): void;
  totalJ(): number;
}

export function createZoneCounter(opts: { maxEnergyRangeUj: number | undefined; maxPlausibleW: number }): ZoneCounter {
  const { maxEnergyRangeUj, maxPlausibleW } = opts;
  let prevUj: number | undefined;
  let prevMs: number | undefined;
  let afterError = false;
  let totalUj = 0;

  return {
    update(rawUj, tMs) {
      const lastUj = prevUj;
      const lastMs = prevMs;
      prevUj = rawUj;
      prevMs = tMs;
      if (lastUj === undefined || lastMs === undefined) {
        afterError = false;
        return { energyJ: microjoulesToJoules(totalUj) };
      }
      if (afterError) {
        afterError = false;
        return { energyJ: microjoulesToJoules(totalUj), dropped: 'reset' };
      }
      let deltaUj: number;
      let wrapped = false;
      if (rawUj >= lastUj) {
        deltaUj = rawUj - lastUj;
      } else if (maxEnergyRangeUj !== undefined && lastUj <= maxEnergyRangeUj) {
        deltaUj = maxEnergyRangeUj - lastUj + rawUj;
        wrapped = true;
      } else {
        return { energyJ: microjoulesToJoules(totalUj), dropped: 'reset' };
      }
      const dtS = (tMs - lastMs) / 1000;
      // dt ≤ 0 cannot carry energy; a positive delta over it is implausible by definition.
      if (dtS <= 0 ? deltaUj > 0 : microjoulesToJoules(deltaUj) > maxPlausibleW * dtS) {
        return { energyJ: microjoulesToJoules(totalUj), dropped: 'implausible' };
      }
      totalUj += deltaUj;
      return { energyJ: microjoulesToJoules(totalUj), ...(wrapped ? { wrapped } : {}) };
    },
    markError() {
      afterError = true;
    },
    totalJ: () => microjoulesToJoules(totalUj),
  };
}
