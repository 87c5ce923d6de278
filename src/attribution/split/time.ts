import { compAddAt } from '../comp-sum.js';
import type { PoolState } from '../pool-state.js';
import { cumDiff } from '../vectors.js';
import type { Win } from '../window.js';
import type { PoolSplit, SplitContext, SplitPolicy } from './policy.js';

/**
 * `time`: in a piece with n active windows, each gets E / n.
 *
 * The split of a piece is known as soon as its energy is, so nothing is held: one running integral per
 * device, T += E / n, and a window's energy is T at its end minus T at its start (a copy of T taken
 * then), however long it stays open.
 */
class TimeSplit implements PoolSplit {
  constructor(private readonly P: PoolState, private readonly ctx: SplitContext) {}

  start(w: Win): void {
    w.cumAtStart = this.P.takeSnap();
  }

  activePiece(e: number[]): void {
    const P = this.P;
    const n = P.active;
    const D = P.deviceCount;
    for (let i = 0; i < D; i++) if (e[i] !== 0) compAddAt(P.integrals, i, D, e[i]! / n);
  }

  end(w: Win): void {
    const P = this.P;
    const act = P.takeVec();
    // A record given early (lag) took its energy up to then; the rest, from that copy on, goes to unattributed.
    const from = w.emitted ? (w.cumAtGiven ?? w.cumAtStart) : w.cumAtStart;
    for (let i = 0; i < P.deviceCount; i++) act[i] = cumDiff(P.integrals, from, i, P.deviceCount);
    P.dropSnap(w.cumAtStart);
    P.dropSnap(w.cumAtGiven);
    w.cumAtStart = undefined;
    w.cumAtGiven = undefined;
    this.ctx.activeFinal(P, w, act);
  }

  ended(): void {}

  settle(): void {}

  energySoFar(w: Win, out: number[]): void {
    const P = this.P;
    if (!w.inActive) return;
    for (let i = 0; i < P.deviceCount; i++) out[i] = cumDiff(P.integrals, w.cumAtStart, i, P.deviceCount);
    w.cumAtGiven = P.takeSnap();
  }

  held(): number {
    return 0;
  }
}

export function createTimeSplit(ctx: SplitContext): SplitPolicy {
  return { name: 'time', integralsPerDevice: 1, phases: false, forPool: (P) => new TimeSplit(P, ctx) };
}
