import { compAdd, compAddAt, compSum, compValue, type CompSum } from '../comp-sum.js';
import type { PoolState } from '../pool-state.js';
import { clearList, cumDiff } from '../vectors.js';
import type { Win } from '../window.js';
import type { PoolSplit, SplitContext, SplitOptions } from './policy.js';
import { Seg, SegmentRing } from './segment-ring.js';

/**
 * How a policy weighs a window, decided once its token counts are known (at its end): `w.known` with
 * `w.density` (weight per ms), or, for a policy with a second class, `w.learned` with `w.density` before
 * its first byte and `w.densityAfter` after it. Neither: an unknown window (time share).
 */
export interface WeightRule {
  classify(w: Win): void;
  /**
   * A window's prefill starts at the end of its wait (`learned` with `queuedPrefill`, see `prefillStart`):
   * a window the proxy ends before its first byte is processed is classified only then, once that is known.
   */
  readonly queuedPrefill?: boolean;
}

/** First bytes kept per pool to find where a later window's prefill began. */
const FIRST_BYTES_KEPT = 256;
/** A first byte in the last tenth of a window's wait is taken to come from the same engine step as its own. */
const SAME_STEP_SHARE = 0.1;

/**
 * The engine of the policies whose weights are known only when a window ends (`tokens`, `learned`): in a
 * piece with n active windows, E joules,
 * - if some are *learned* (l of them, learned densities summing to Λ): each learned window gets
 *   E × l × λ / (n × Λ) and every other window E / n;
 * - else, if some are *known* (k, densities summing to K): each gets E × k × d / (n × K), the unknown
 *   ones E / n (an unknown window weighs like an average known one);
 * - a class whose densities sum to 0 takes E / n each as well (docs/attribution.md).
 * `tokens` has no learned class; under `learned`, the known class is the fallback of models whose costs
 * are not ready. A learned window's density changes at its first byte (prefill, then decode): the
 * ledger cuts time there too (`phase`).
 *
 * Running integrals per device (PoolState.integrals), compensated:
 *   T += E / n                     every window's time share (read by unknown windows),
 *   A += E × k / (n × K)           per unit of density, known windows when no learned one is active,
 *   Z += E / n                     known windows taking time shares (K = 0, or a learned one active),
 *   L += E × l / (n × Λ)           per unit of density, learned windows,
 *   Y += E / n  when Λ = 0         learned windows whose densities are all 0;
 * a known window's energy is d × ΔA + ΔZ over its segments, a learned one's λ × ΔL (λ changing at its
 * first byte) + ΔY, an unknown one's ΔT.
 *
 * A piece's weights are final only once all its windows have ended, so its energy is held in segments
 * (segment-ring.ts) and split in order when they are. Holding is bounded by maxHeldSegments per pool and
 * maxHoldMs per segment; past either, the oldest segment is split with its still-open windows counted as
 * unknown (time share). A window that ends after some of its segments were split adds its density to the
 * held rest as a difference array (O(1)) and keeps the integrals at that point (cumAtSplit).
 *
 * Over 300 lines on purpose: the class counts, the held segments' difference arrays and the integrals'
 * layout are one invariant (what resolveSeg adds is what winEnergy reads); split across files, a change
 * to one would no longer sit beside the others it must match.
 */
export class HeldSplit implements PoolSplit {
  /** Active windows not ended yet; known ones, those of positive density, and their densities' sum; the same of learned ones. */
  private open = 0;
  private known = 0;
  private knownPos = 0;
  private readonly density: CompSum = compSum();
  private learned = 0;
  private learnedPos = 0;
  private readonly learnedDensity: CompSum = compSum();
  /** Windows started, or past their first byte, since the current segment opened: the next segment is their first (of that phase). */
  private readonly awaiting: Win[] = [];
  private readonly phaseAwaiting: Win[] = [];
  private cur: Seg | null = null;
  /** The difference arrays' running sums, over the segments split so far. */
  private carryOpen = 0;
  private carryKnown = 0;
  private carryKnownPos = 0;
  private readonly carryDensity: CompSum = compSum();
  private carryLearned = 0;
  private carryLearnedPos = 0;
  private readonly carryLearnedDensity: CompSum = compSum();
  private readonly ring: SegmentRing;
  /**
   * The pool's latest first bytes, in processing order (times never decrease): when, and the first
   * segment after each (0 until it opens; those from fbSeqd on are waiting for it).
   */
  private readonly fbMs: number[] = new Array<number>(FIRST_BYTES_KEPT).fill(0);
  private readonly fbSeq: number[] = new Array<number>(FIRST_BYTES_KEPT).fill(0);
  private fbCount = 0;
  private fbSeqd = 0;

  constructor(
    protected readonly P: PoolState,
    private readonly ctx: SplitContext,
    private readonly opts: SplitOptions,
    private readonly rule: WeightRule,
  ) {
    this.ring = new SegmentRing(() => P.deviceCount);
  }

  start(w: Win): void {
    this.closeCur();
    if (!w.ended || w.endDeferred) this.open++;
    else if (w.learned) this.addLearned(w.density, 1);
    else if (w.known) {
      this.known++;
      if (w.density > 0) { this.knownPos++; compAdd(this.density, w.density); }
    }
    this.awaiting.push(w);
  }

  activePiece(e: number[]): void {
    const se = (this.cur ?? this.openSeg()).energyJ;
    for (let i = 0; i < e.length; i++) se[i] = se[i]! + e[i]!;
  }

  /** w's mark number w.markPos (its first byte, or a decode mark): a learned window's density changes from here (called only while w is active). */
  phase(w: Win): void {
    this.closeCur();
    const j = w.markPos;
    if (j === 0 && this.rule.queuedPrefill === true) {
      this.prefillStart(w);
      this.fbMs[this.fbCount % FIRST_BYTES_KEPT] = this.P.cursor;
      this.fbSeq[this.fbCount % FIRST_BYTES_KEPT] = 0;
      this.fbCount++;
    }
    if (w.endDeferred) {
      w.endDeferred = false;
      this.endedNow(w, 1);
    } else if (w.ended && w.learned && w.densAt(j + 1) !== w.densAt(j)) {
      this.addLearned(w.densAt(j), -1);
      this.addLearned(w.densAt(j + 1), 1);
    }
    this.phaseAwaiting.push(w);
  }

  /**
   * Where w's prefill began, at its first byte: under continuous batching a request waits while the
   * engine computes the prompts that came before it, and only then is its own prompt computed, up to its
   * first byte. The wait is taken to end at the pool's latest first byte before the last tenth of it
   * (first bytes later than that came from the same engine steps as w's own); w weighs nothing until
   * then. Found by binary search among the pool's last FIRST_BYTES_KEPT first bytes; older: no wait.
   */
  private prefillStart(w: Win): void {
    const fb = w.firstByteMs!;
    const cut = fb - SAME_STEP_SHARE * (fb - w.startMs);
    let lo = Math.max(0, this.fbCount - FIRST_BYTES_KEPT);
    let hi = this.fbCount; // the answer is the last index in [lo, hi) with time ≤ cut
    if (lo === hi || this.fbMs[lo % FIRST_BYTES_KEPT]! > cut) return;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (this.fbMs[mid % FIRST_BYTES_KEPT]! <= cut) lo = mid;
      else hi = mid;
    }
    const at = this.fbMs[lo % FIRST_BYTES_KEPT]!;
    const s = this.fbSeq[lo % FIRST_BYTES_KEPT]!;
    // A wait of at least one held segment of w's, ending at a boundary that exists.
    if (!(at > w.startMs) || !w.hasFirst || !(s > w.firstSeq) || s > this.ring.seq) return;
    w.waitSeq = s;
    w.waitMs = at;
    // Its first boundary: banked when the segment before it is split (as a mark's), at once if it was.
    if (s - 1 < this.ring.headSeq) w.markRes++;
    else this.ring.at(s - 1).phasers.push(w);
  }

  end(w: Win): void {
    this.closeCur();
    if (w.endDeferred) {
      // Its first byte came after its end (a caller that stamped it later than the end it gave): finished
      // as if it had ended while active, just before this end.
      w.endDeferred = false;
      w.inActive = true;
      this.endedNow(w, w.markPos);
      w.inActive = false;
    }
    if (w.learned) this.addLearned(w.densAt(w.markPos), -1);
    else if (w.known) {
      this.known--;
      if (w.density > 0) { this.knownPos--; compAdd(this.density, -w.density); }
      // Exactly zero when no positive density is left, so float residue never weighs anything.
      if (this.knownPos === 0) { this.density.hi = 0; this.density.lo = 0; }
    }
    if (w.hasFirst) {
      // Its last segment is the newest one.
      w.hasLast = true;
      if (this.ring.seq < this.ring.headSeq) this.activeFinal(w);
      else this.ring.at(this.ring.seq).enders.push(w);
    } else {
      this.activeFinal(w); // active in no piece: 0 J (zero-length, or nothing measured while it ran)
    }
  }

  ended(w: Win): void {
    if (this.rule.queuedPrefill === true && w.firstByteMs !== undefined && w.markPos === 0) {
      // Counted open (from its start, if that is still to come) and finished at its first byte (phase).
      w.endDeferred = true;
      return;
    }
    this.endedNow(w, w.markPos);
  }

  /** After `ended` (or for a deferred window, at its first byte): w's weights are known. `cur`: the marks processed. */
  private endedNow(w: Win, cur: number): void {
    this.rule.classify(w);
    this.afterEnded(w);
    if (!w.inActive) return;
    this.open--;
    if (w.learned) this.addLearned(w.densAt(cur), 1);
    else if (w.known) {
      this.known++;
      if (w.density > 0) { this.knownPos++; compAdd(this.density, w.density); }
    }
    if (!w.hasFirst) return;
    const ring = this.ring;
    // Its segments split while it was open counted it as unknown: remember where they stop.
    if (ring.headSeq - 1 >= w.firstSeq) {
      w.splitSeq = ring.headSeq - 1;
      w.cumAtSplit = this.P.takeSnap(); // the integrals just after the last split segment
    }
    const a = Math.max(w.firstSeq, ring.headSeq);
    const b = ring.seq;
    if (a <= b) {
      const sa = ring.at(a);
      const sb = ring.at(b);
      sa.addOpen -= 1; sb.subOpen -= 1;
      if (w.learned) {
        // Held segments of its wait weigh nothing; those before its first segment after mark j, its
        // density of interval j; those after its last mark with a known segment, that of the next interval.
        let from = a;
        if (w.waitSeq > 0) {
          this.heldLearned(from, Math.min(b, w.waitSeq - 1), 0);
          from = Math.max(from, w.waitSeq);
        }
        const m = w.markSeqd;
        for (let j = 0; j < m; j++) {
          const p = j === 0 ? w.phaseSeq : w.marks![4 * j - 1]!;
          this.heldLearned(from, Math.min(b, p - 1), w.densAt(j));
          from = Math.max(from, p);
        }
        this.heldLearned(from, b, w.densAt(m));
      } else if (w.known) {
        sa.addKnown += 1; sb.subKnown += 1;
        if (w.density > 0) { sa.addKnownPos += 1; sb.subKnownPos += 1; sa.addDensity += w.density; sb.subDensity += w.density; }
      }
    }
  }

  /** w's weights were just set: for a policy that also learns from them. */
  protected afterEnded(_w: Win): void {}

  settle(force: boolean): void {
    if (!force) { this.resolveHead(0); return; }
    this.closeCur();
    if (this.ring.seq > 0) this.resolveHead(this.ring.seq);
  }

  energySoFar(w: Win, out: number[]): void {
    if (!(w.inActive && w.hasFirst)) return;
    this.closeCur();
    this.resolveHead(this.ring.seq);
    this.winEnergy(w, w.cumAtStart, w.fromSeq, out);
    w.cumAtGiven = this.P.takeSnap();
    w.givenSeq = this.ring.seq;
    // What it gets from here on (to unattributed) counts from cumAtGiven.
    this.P.dropSnap(w.cumAtMark);
    this.P.dropVec(w.learnedAcc);
    w.cumAtMark = undefined;
    w.learnedAcc = undefined;
  }

  held(): number {
    return this.ring.held();
  }

  /**
   * The boundary of w's mark number w.markRes was split: the integrals are those at the mark. A learned
   * window that has ended banks its energy of the interval before (its density there times the learned
   * integral's increase since its last bank), so that only the integrals at its last boundary are kept,
   * however many marks it has. An open one is skipped: these segments counted it as unknown (splitSeq).
   */
  private markSplit(w: Win): void {
    const j = w.markRes++;
    if (!(w.ended && w.learned)) return;
    const P = this.P;
    const D = P.deviceCount;
    const ct = P.integrals;
    const from = w.cumAtMark ?? this.learnedFrom(w);
    const d = w.resDens(j);
    const acc = (w.learnedAcc ??= P.takeVec());
    for (let i = 0; i < D; i++) acc[i] = acc[i]! + d * cumDiff(ct, from, 6 * D + i, D);
    if (w.cumAtMark === undefined) w.cumAtMark = P.takeSnap();
    else for (let i = 6 * D; i < 8 * D; i++) w.cumAtMark[i] = ct[i]!;
  }

  /**
   * The integrals from which w's learned energy counts (what winEnergy calls c0): just after its last
   * segment split while it was open, if any after where it counts from; else where it counts from (its
   * start, or where its record was given early).
   */
  private learnedFrom(w: Win): number[] | undefined {
    const early = w.emitted && w.cumAtGiven !== undefined;
    const fromSeq = early ? w.givenSeq : w.fromSeq;
    return w.cumAtSplit !== undefined && w.splitSeq > fromSeq ? w.cumAtSplit : early ? w.cumAtGiven : w.cumAtStart;
  }

  /** Counts a learned window of density d in (sign 1) or out of (-1) the active set. */
  private addLearned(d: number, sign: 1 | -1): void {
    this.learned += sign;
    if (d > 0) { this.learnedPos += sign; compAdd(this.learnedDensity, sign * d); }
    if (this.learnedPos === 0) { this.learnedDensity.hi = 0; this.learnedDensity.lo = 0; }
  }

  /** A learned window of density d in held segments x..y (none if x > y). */
  private heldLearned(x: number, y: number, d: number): void {
    if (x > y) return;
    const sx = this.ring.at(x);
    const sy = this.ring.at(y);
    sx.addLearned += 1; sy.subLearned += 1;
    if (d > 0) { sx.addLearnedPos += 1; sy.subLearnedPos += 1; sx.addLearnedDensity += d; sy.subLearnedDensity += d; }
  }

  private closeCur(): void {
    if (this.cur !== null) {
      this.cur.closed = true;
      this.cur.closedAtMs = this.ctx.clock.nowMs();
      this.cur = null;
    }
  }

  private openSeg(): Seg {
    const ring = this.ring;
    const prevSeq = ring.seq;
    const seg = ring.next();
    const seq = ring.seq;
    seg.init(seq, this.P.active, this.open, this.known, this.knownPos, compValue(this.density));
    seg.initLearned(this.learned, this.learnedPos, compValue(this.learnedDensity));
    for (const w of this.awaiting) {
      if (!w.inActive) continue;
      w.hasFirst = true;
      w.firstSeq = seq;
      w.fromSeq = prevSeq;
      // All split up to prev (or nothing yet): the integrals are those just after prev.
      if (prevSeq < ring.headSeq) w.cumAtStart = this.P.takeSnap();
      else ring.at(prevSeq).starters.push(w);
    }
    clearList(this.awaiting);
    for (; this.fbSeqd < this.fbCount; this.fbSeqd++) this.fbSeq[this.fbSeqd % FIRST_BYTES_KEPT] = seq;
    if (this.phaseAwaiting.length > 0) {
      for (const w of this.phaseAwaiting) {
        // Each of its marks processed since the last segment opened (w is listed once per mark).
        if (!w.inActive || w.markSeqd >= w.markPos) continue;
        const j = w.markSeqd++;
        if (j === 0) w.phaseSeq = seq;
        else w.marks![4 * j - 1] = seq;
        if (prevSeq < ring.headSeq) this.markSplit(w);
        else ring.at(prevSeq).phasers.push(w);
      }
      clearList(this.phaseAwaiting);
    }
    this.cur = seg;
    return seg;
  }

  private resolveSeg(s: Seg): void {
    const P = this.P;
    const D = P.deviceCount;
    const cum = P.integrals;
    const n = s.active;
    const e = s.energyJ;
    const k = s.baseKnown + this.carryKnown + s.addKnown;
    const kPos = s.baseKnownPos + this.carryKnownPos + s.addKnownPos;
    const K = s.baseDensity + compValue(this.carryDensity) + s.addDensity;
    const l = s.baseLearned + this.carryLearned + s.addLearned;
    // Only the windows active in a segment read its increments: T only unknown ones (counting those still
    // open at a forced split), A and Z only known ones, L and Y only learned ones. An increment no one
    // reads is skipped: with every window's tokens known, half the work.
    const open = s.baseOpen + this.carryOpen + s.addOpen;
    const needT = open > 0 || k + l < n;
    if (l === 0) {
      const weighted = kPos > 0 && K > 0;
      const perDensity = weighted ? k / (n * K) : 0;
      const knownOff = k === 0 ? -1 : weighted ? 2 * D : 4 * D;
      for (let i = 0; i < D; i++) {
        const ei = e[i]!;
        if (ei === 0) continue;
        if (needT) compAddAt(cum, i, D, ei / n);
        if (knownOff >= 0) compAddAt(cum, knownOff + i, D, weighted ? ei * perDensity : ei / n);
      }
    } else {
      const lPos = s.baseLearnedPos + this.carryLearnedPos + s.addLearnedPos;
      const L = s.baseLearnedDensity + compValue(this.carryLearnedDensity) + s.addLearnedDensity;
      const weighted = lPos > 0 && L > 0;
      const perDensity = weighted ? l / (n * L) : 0;
      const learnedOff = weighted ? 6 * D : 8 * D;
      for (let i = 0; i < D; i++) {
        const ei = e[i]!;
        if (ei === 0) continue;
        if (needT) compAddAt(cum, i, D, ei / n);
        if (k > 0) compAddAt(cum, 4 * D + i, D, ei / n);
        compAddAt(cum, learnedOff + i, D, weighted ? ei * perDensity : ei / n);
      }
    }
    this.carryOpen += s.addOpen - s.subOpen;
    this.carryKnown += s.addKnown - s.subKnown;
    this.carryKnownPos += s.addKnownPos - s.subKnownPos;
    compAdd(this.carryDensity, s.addDensity);
    compAdd(this.carryDensity, -s.subDensity);
    if (this.carryKnownPos === 0) { this.carryDensity.hi = 0; this.carryDensity.lo = 0; }
    if (s.addLearned !== 0 || s.subLearned !== 0) {
      this.carryLearned += s.addLearned - s.subLearned;
      this.carryLearnedPos += s.addLearnedPos - s.subLearnedPos;
      compAdd(this.carryLearnedDensity, s.addLearnedDensity);
      compAdd(this.carryLearnedDensity, -s.subLearnedDensity);
      if (this.carryLearnedPos === 0) { this.carryLearnedDensity.hi = 0; this.carryLearnedDensity.lo = 0; }
    }
    this.ring.headSeq = s.seq + 1;
    const starters = s.starters;
    if (starters.length > 0) {
      for (const w of starters) w.cumAtStart = P.takeSnap();
      clearList(starters);
    }
    const phasers = s.phasers;
    if (phasers.length > 0) {
      for (const w of phasers) this.markSplit(w);
      clearList(phasers);
    }
    const enders = s.enders;
    if (enders.length > 0) {
      for (const w of enders) this.activeFinal(w);
      clearList(enders);
    }
  }

  /** Splits held segments in order while they can be (forceUntilSeq: up to it regardless). */
  private resolveHead(forceUntilSeq: number): void {
    const ring = this.ring;
    const now = this.ctx.clock.nowMs();
    while (ring.headSeq <= ring.seq) {
      const s = ring.at(ring.headSeq);
      if (!s.closed) break;
      if (s.baseOpen + this.carryOpen + s.addOpen > 0) {
        const forced = s.seq <= forceUntilSeq || ring.held() > this.opts.maxHeldSegments || now - s.closedAtMs > this.opts.maxHoldMs;
        if (!forced) break;
        this.ctx.books.forcedSplits++;
      }
      this.resolveSeg(s);
    }
    ring.maybeShrink();
  }

  /** w's energy per device from the integrals `cf` (just after segment fromSeq) to the current ones. */
  private winEnergy(w: Win, cf: number[] | undefined, fromSeq: number, out: number[]): void {
    const D = this.P.deviceCount;
    const ct = this.P.integrals;
    const cs = w.cumAtSplit;
    const useSplit = cs !== undefined && w.splitSeq > fromSeq;
    const d = w.density;
    if (w.learned) {
      // Time shares up to the split point, then its learned density: what it banked at its marks
      // (markSplit), and its density of the interval it is in since the last of them.
      const c0 = useSplit ? cs : cf;
      const cm = w.cumAtMark ?? c0;
      const acc = w.learnedAcc;
      const dn = w.resDens(w.markRes);
      for (let i = 0; i < D; i++) {
        let v = useSplit ? cumDiff(cs, cf, i, D) : 0;
        const x = dn * cumDiff(ct, cm, 6 * D + i, D);
        v += acc === undefined ? x : acc[i]! + x;
        out[i] = v + cumDiff(ct, c0, 8 * D + i, D);
      }
    } else if (!w.known) for (let i = 0; i < D; i++) out[i] = cumDiff(ct, cf, i, D);
    else if (useSplit) {
      for (let i = 0; i < D; i++) out[i] = cumDiff(cs, cf, i, D) + d * cumDiff(ct, cs, 2 * D + i, D) + cumDiff(ct, cs, 4 * D + i, D);
    } else {
      for (let i = 0; i < D; i++) out[i] = d * cumDiff(ct, cf, 2 * D + i, D) + cumDiff(ct, cf, 4 * D + i, D);
    }
  }

  private activeFinal(w: Win): void {
    const P = this.P;
    const act = P.takeVec();
    if (w.hasFirst && w.hasLast) {
      const early = w.emitted && w.cumAtGiven !== undefined;
      this.winEnergy(w, early ? w.cumAtGiven : w.cumAtStart, early ? w.givenSeq : w.fromSeq, act);
    }
    P.dropSnap(w.cumAtStart);
    P.dropSnap(w.cumAtGiven);
    P.dropSnap(w.cumAtSplit);
    P.dropSnap(w.cumAtMark);
    P.dropVec(w.learnedAcc);
    w.cumAtStart = undefined;
    w.cumAtGiven = undefined;
    w.cumAtSplit = undefined;
    w.cumAtMark = undefined;
    w.learnedAcc = undefined;
    this.ctx.activeFinal(P, w, act);
  }
}
