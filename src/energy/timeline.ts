import { InferwattError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/logger.js';
import type { DeviceInfo, Reading } from '../sensors/types.js';
import { createPointRing, type PointRing } from './point-ring.js';
import {
  TIMELINE_DROP_REASONS,
  type DeviceSeries,
  type DeviceSnapshot,
  type EnergyTimeline,
  type TimelineDropReason,
} from './types.js';

/**
 * Points kept per device by default: one hour at the GPU cadence of 10 Hz (100 ms, docs/sensors.md), 2.5 h at
 * RAPL's 4 Hz. The ledger only looks back over a request's window plus the lag bound, so an hour covers
 * the longest streaming requests with a wide margin, at 2 × 8 B × 36 000 = 576 KB per device
 * (≈ 5.8 MB for 8 GPUs + 2 RAPL zones), well inside the agent's 80 MB RSS target (issue 2).
 */
export const DEFAULT_TIMELINE_CAPACITY = 36_000;

export interface EnergyTimelineOptions {
  readonly devices: readonly DeviceInfo[];
  /** Points retained per device (integer ≥ 2); older points are evicted, their ranges become undefined. */
  readonly capacity?: number;
  readonly logger?: Logger;
}

const MODE_NONE = 0;
const MODE_COUNTER = 1;
const MODE_GAUGE = 2;

/** Mutable per-device state; the ring holds the points, the scalars the integration state. */
interface DeviceState {
  readonly device: DeviceInfo;
  readonly ring: PointRing;
  readonly view: DeviceSeries;
  mode: number;
  lastTMs: number;
  lastCumJ: number;
  /** What latestPowerW() answers. */
  latestW: number | undefined;
  /** Power at the newest point, the left end of the next trapezoid (NaN when unknown). */
  edgeW: number;
  /** Raw energyJ of the newest counter reading (NaN when the newest point is not a counter one). */
  lastRawJ: number;
  /** Added to raw counter values; 0 unless the device switched from gauge to counter readings. */
  offsetJ: number;
}

/**
 * The per-device energy timeline (docs/sensors.md): cumulative joules on the monotonic clock.
 *
 * Counter readings (`energyJ`) are stored as given. Gauge readings (`powerW`) are integrated by the
 * trapezoid rule between consecutive readings, cum += (p_prev + p_cur) / 2 × dt; the first gauge reading
 * starts the series at 0 J. Between two points the cumulative energy is interpolated linearly, i.e. the
 * power is taken as constant inside an interval (its mean). For a gauge the energy between two points is
 * then exactly the trapezoid; inside an interval it is an approximation whose error is bounded by
 * h²/8 · max|P'| for an interval of length h. The ledger cuts time at the sample points
 * (`pointTimesBetween`), so its conservation holds exactly whatever the interpolation.
 *
 * A device whose readings switch shape (an NVML counter that goes missing for a sample) keeps one
 * continuous series: the interval across the switch is integrated from power, and later counter values
 * are offset so the series stays continuous and monotone.
 *
 * Nothing here throws on bad input: bad readings are dropped, counted by reason
 * and logged rate-limited. `append` allocates nothing on the accepted path.
 */
export function createEnergyTimeline(opts: EnergyTimelineOptions): EnergyTimeline {
  const capacity = opts.capacity ?? DEFAULT_TIMELINE_CAPACITY;
  if (!Number.isInteger(capacity) || capacity < 2) {
    throw new InferwattError('TIMELINE_CAPACITY', 'fatal', `timeline capacity must be an integer ≥ 2, got ${capacity}`);
  }
  const log = (opts.logger ?? silentLogger).child('timeline');
  const deviceList: readonly DeviceInfo[] = Object.freeze([...opts.devices]);
  const states = new Map<string, DeviceState>();
  for (const device of deviceList) {
    if (states.has(device.id)) {
      throw new InferwattError('TIMELINE_DUPLICATE_DEVICE', 'fatal', `device id "${device.id}" appears twice`);
    }
    states.set(device.id, createState(device, capacity));
  }

  const drops: Record<TimelineDropReason, number> = {
    out_of_order: 0, unknown_device: 0, non_finite: 0, counter_decrease: 0, negative_power: 0,
  };
  const drop = (reason: TimelineDropReason, reading: Reading): void => {
    drops[reason]++;
    // Device ids come from discovery (bounded); the key is per reason only, so at most one line a minute each.
    log.rateLimited('warn', `drop:${reason}`, 'reading dropped', { reason, device: String(reading.device), total: drops[reason] });
  };

  const append = (r: Reading): void => {
    const st = states.get(r.device);
    if (st === undefined) return drop('unknown_device', r);
    const t = r.tMs;
    const e = r.energyJ;
    const p = r.powerW;
    if (!Number.isFinite(t) || (e !== undefined && !Number.isFinite(e)) || (p !== undefined && !Number.isFinite(p))) {
      return drop('non_finite', r);
    }
    if (e === undefined && p === undefined) return drop('non_finite', r); // neither value: nothing to store
    const fresh = st.ring.size() === 0;
    if (!fresh && t <= st.lastTMs) return drop('out_of_order', r);
    const dtS = fresh ? 0 : (t - st.lastTMs) / 1000;

    if (e !== undefined) {
      // Counter reading.
      let cum: number;
      if (fresh) {
        st.offsetJ = 0;
        cum = e;
        st.latestW = p;
      } else if (st.mode === MODE_COUNTER) {
        if (e < st.lastRawJ) return drop('counter_decrease', r);
        cum = e + st.offsetJ;
        st.latestW = (e - st.lastRawJ) / dtS;
      } else {
        // Switch from gauge: the counter says nothing about this interval, so integrate it from power.
        const rightW = p ?? st.edgeW;
        const leftW = Number.isNaN(st.edgeW) ? rightW : st.edgeW;
        const stepJ = Number.isNaN(leftW) ? 0 : ((leftW + rightW) / 2) * dtS;
        cum = st.lastCumJ + stepJ;
        st.offsetJ = cum - e;
        st.latestW = dtS > 0 ? stepJ / dtS : undefined;
      }
      st.mode = MODE_COUNTER;
      st.lastRawJ = e;
      st.edgeW = p ?? st.latestW ?? Number.NaN;
      st.lastTMs = t;
      st.lastCumJ = cum;
      st.ring.push(t, cum);
      return;
    }

    // Gauge reading (p is defined here).
    const w = p!;
    if (w < 0) return drop('negative_power', r);
    let cum: number;
    if (fresh) {
      cum = 0;
    } else {
      const leftW = Number.isNaN(st.edgeW) ? w : st.edgeW;
      cum = st.lastCumJ + ((leftW + w) / 2) * dtS;
    }
    st.mode = MODE_GAUGE;
    st.lastRawJ = Number.NaN;
    st.edgeW = w;
    st.latestW = w;
    st.lastTMs = t;
    st.lastCumJ = cum;
    st.ring.push(t, cum);
  };

  return {
    devices: () => deviceList,
    series: (id) => states.get(id)?.view,
    append,
    energyBetween(id, t0Ms, t1Ms) {
      const st = states.get(id);
      if (st === undefined || !(t1Ms >= t0Ms)) return undefined;
      const a = st.view.energyAt(t0Ms);
      if (a === undefined) return undefined;
      const b = st.view.energyAt(t1Ms);
      if (b === undefined) return undefined;
      return b - a;
    },
    coveredUntilMs(ids) {
      const list = ids ?? deviceList.map((d) => d.id);
      if (list.length === 0) return undefined;
      let min = Number.POSITIVE_INFINITY;
      for (const id of list) {
        const st = states.get(id);
        if (st === undefined || st.ring.size() === 0) return undefined;
        if (st.lastTMs < min) min = st.lastTMs;
      }
      return min;
    },
    snapshot() {
      const out: DeviceSnapshot[] = [];
      for (const st of states.values()) {
        const has = st.ring.size() > 0;
        out.push(Object.freeze({
          device: st.device,
          powerW: st.latestW,
          energyJ: has ? st.lastCumJ : 0,
          lastSampleMs: has ? st.lastTMs : undefined,
        }));
      }
      return Object.freeze(out);
    },
    dropped() {
      const out: Record<string, number> = {};
      for (const reason of TIMELINE_DROP_REASONS) out[reason] = drops[reason];
      return out;
    },
  };
}

function createState(device: DeviceInfo, capacity: number): DeviceState {
  const ring = createPointRing(capacity);
  const st: DeviceState = {
    device,
    ring,
    view: undefined as unknown as DeviceSeries,
    mode: MODE_NONE,
    lastTMs: Number.NaN,
    lastCumJ: 0,
    latestW: undefined,
    edgeW: Number.NaN,
    lastRawJ: Number.NaN,
    offsetJ: 0,
  };
  const view: DeviceSeries = {
    device,
    energyAt(tMs) {
      const n = ring.size();
      if (n === 0 || !(tMs >= ring.timeAt(0)) || !(tMs <= st.lastTMs)) return undefined;
      const i = ring.floorIndex(tMs);
      const ti = ring.timeAt(i);
      const ci = ring.valueAt(i);
      if (ti === tMs || i === n - 1) return ci;
      // Inside (t_i, t_{i+1}): constant power over the interval, i.e. linear cumulative energy.
      const tj = ring.timeAt(i + 1);
      const cj = ring.valueAt(i + 1);
      return ci + ((cj - ci) * (tMs - ti)) / (tj - ti);
    },
    pointTimesBetween(t0Ms, t1Ms) {
      const out: number[] = [];
      const n = ring.size();
      if (n === 0 || !(t1Ms > t0Ms)) return out;
      // First point strictly after t0: one past the floor of t0.
      for (let i = ring.floorIndex(t0Ms) + 1; i < n; i++) {
        const t = ring.timeAt(i);
        if (t >= t1Ms) break;
        out.push(t);
      }
      return out;
    },
    coveredUntilMs: () => (ring.size() > 0 ? st.lastTMs : undefined),
    retainedFromMs: () => (ring.size() > 0 ? ring.timeAt(0) : undefined),
    totalJ: () => (ring.size() > 0 ? st.lastCumJ : 0),
    latestPowerW: () => st.latestW,
    pointCount: () => ring.size(),
  };
  (st as { view: DeviceSeries }).view = view;
  return st;
}
