import type { Logger } from '../core/logger.js';
import type { DeviceSeries, EnergyTimeline } from '../energy/types.js';
import type { Books } from './books.js';
import { compAdd, type CompSum } from './comp-sum.js';
import { zeros } from './vectors.js';

/**
 * Reads a pool's energy per device over consecutive pieces of time [a, b], as the ledger cuts them.
 *
 * Per device, the cumulative-energy knots over the range being processed are loaded once per advance:
 * the cursor, the timeline's own sample points inside (pointTimesBetween), and the target, with energyAt
 * at each. Between knots the timeline is linear, so a piece's energy is interpolated here with no search
 * per piece; it is the timeline's value. `fast[i]` false means the timeline could not answer over the
 * range, and energyBetween is asked per piece instead.
 *
 *   knotT[i]:  cursor ... t_j  t_j+1 ... target      kp[i] = j: the knot interval of the last b
 *   knotC[i]:  c0     ... C_j  C_j+1 ... c1          lastE[i] = cumulative J at the last b
 *
 * A device the timeline cannot answer for a piece (a lost GPU, evicted points) counts 0 J, not measured:
 * `uncovered` grows (records active then become incomplete), and where its silence began is kept so that
 * the energy the timeline later bridges, if it reports again, is returned by `recover` (the ledger books
 * it as unattributed).
 */
export class PoolEnergy {
  /** Device pieces counted as 0 J because the timeline could not answer. */
  uncovered = 0;
  private readonly series: DeviceSeries[];
  private readonly knotT: number[][];
  private readonly knotC: number[][];
  private readonly kp: number[];
  private readonly lastE: number[];
  private readonly fast: boolean[];
  /** Per device, where its unmeasured stretch began (NaN: none). */
  private readonly unmeasuredFrom: number[];

  constructor(
    private readonly timeline: EnergyTimeline,
    private readonly ids: readonly string[],
    private readonly pool: string,
    private readonly books: Books,
    private readonly log: Logger,
  ) {
    this.series = ids.map((id) => timeline.series(id)!);
    this.knotT = ids.map(() => []);
    this.knotC = ids.map(() => []);
    this.kp = zeros(ids.length);
    this.lastE = zeros(ids.length);
    this.fast = ids.map(() => false);
    this.unmeasuredFrom = ids.map(() => Number.NaN);
  }

  /** Loads each device's knots over [cursor, target]. */
  load(cursor: number, target: number): void {
    for (let i = 0; i < this.ids.length; i++) {
      const s = this.series[i]!;
      const T = this.knotT[i]!;
      const C = this.knotC[i]!;
      T.length = 0;
      C.length = 0;
      this.kp[i] = 0;
      this.fast[i] = false;
      const c0 = s.energyAt(cursor);
      const c1 = s.energyAt(target);
      if (c0 === undefined || c1 === undefined || !(target > cursor)) continue;
      T.push(cursor);
      C.push(c0);
      let ok = true;
      for (const t of s.pointTimesBetween(cursor, target)) {
        const c = s.energyAt(t);
        if (c === undefined) { ok = false; break; }
        T.push(t);
        C.push(c);
      }
      if (!ok) continue;
      T.push(target);
      C.push(c1);
      this.lastE[i] = c0;
      this.fast[i] = true;
    }
  }

  /** Each device's energy over [a, b] into `out`, b never below the previous b; returns their sum. */
  read(a: number, b: number, out: number[]): number {
    const fast = this.fast;
    const lastE = this.lastE;
    const knotT = this.knotT;
    const knotC = this.knotC;
    const kp = this.kp;
    let total = 0;
    for (let i = 0; i < out.length; i++) {
      // A plain number (NaN when the timeline cannot answer): `number | undefined` made V8 box every
      // device's value of every piece as a heap number.
      let v: number;
      if (fast[i]) {
        // Cumulative energy at b, interpolated between the loaded knots; inlined by hand, as a function
        // V8 did not always inline it and then boxed its result.
        const T = knotT[i]!;
        const C = knotC[i]!;
        let j = kp[i]!;
        while (j + 2 < T.length && T[j + 1]! <= b) j++;
        kp[i] = j;
        const t1 = T[j + 1]!;
        let cb: number;
        if (b >= t1) cb = C[j + 1]!;
        else {
          const t0 = T[j]!;
          cb = C[j]! + ((C[j + 1]! - C[j]!) * (b - t0)) / (t1 - t0);
        }
        v = cb - lastE[i]!;
        lastE[i] = cb;
      } else {
        v = this.timeline.energyBetween(this.ids[i]!, a, b) ?? Number.NaN;
      }
      if (!Number.isFinite(v)) {
        this.books.uncoveredPieces++;
        this.uncovered++;
        if (Number.isNaN(this.unmeasuredFrom[i]!)) this.unmeasuredFrom[i] = a;
        this.log.rateLimited('warn', 'uncovered', 'timeline did not cover a piece; counted as 0 J (not measured)', { pool: this.pool, device: this.ids[i] });
        v = 0;
      }
      out[i] = v;
      total += v;
    }
    return total;
  }

  /**
   * Devices that stopped and report again: the energy the timeline now bridges over the stretch the
   * ledger processed without them (up to `cursor`) was measured after its requests were split, so it is
   * booked as measured and unattributed (each device's once, as a lag-finalised record's late energy is).
   */
  recover(cursor: number, measured: CompSum): void {
    for (let i = 0; i < this.ids.length; i++) {
      const from = this.unmeasuredFrom[i]!;
      if (Number.isNaN(from)) continue;
      const c = this.series[i]!.coveredUntilMs();
      if (c === undefined || c < cursor) continue;
      this.unmeasuredFrom[i] = Number.NaN;
      const v = this.timeline.energyBetween(this.ids[i]!, from, cursor);
      if (v === undefined || !Number.isFinite(v)) continue; // evicted meanwhile: unknown, stays unmeasured
      compAdd(measured, v);
      this.books.addUnattributed(v);
    }
  }

  /** How far the devices that still report cover, when the slowest has been silent since before `staleBefore`. */
  liveCoveredUntil(staleBefore: number): number | undefined {
    let live = Number.POSITIVE_INFINITY;
    for (const s of this.series) {
      const c = s.coveredUntilMs();
      if (c !== undefined && c >= staleBefore && c < live) live = c;
    }
    return live === Number.POSITIVE_INFINITY ? undefined : live;
  }
}
