import { compAdd, compAddAt, compSum, compValue, type CompSum } from '../comp-sum.js';
import type { PoolState } from '../pool-state.js';
import { clearList, cumDiff } from '../vectors.js';
import { isCount, type Win } from '../window.js';
import type { PoolSplit, SplitContext, SplitOptions, SplitPolicy } from './policy.js';
import { Seg, SegmentRing } from './segment-ring.js';

/**
 * `tokens`: a window whose token counts are known weighs its density d = (promptTokenWeight × prompt +
 * completion) / duration; in a piece with n active windows of which k are known, with densities summing
 * to K, a known window gets E × k × d / (n × K) and an unknown one E / n (it weighs like an average known
 * one); if the known densities sum to 0 they take E / n each too (docs/attribution.md).
 *
 * Three running integrals per device (PoolState.integrals), compensated:
 *   T += E / n                        every window's time share (read by unknown-token windows),
 *   A += E × k / (n × K)              per unit of density, for known windows,
 *   Z += E / n  when K = 0            known windows whose densities are all 0 fall back to time shares;
 * a known window's energy is d × ΔA + ΔZ over its segments, an unknown one's ΔT.
 *
 * A piece's k and K are final only once all its windows have ended, so its energy is held in segments
 * (segment-ring.ts) and split in order when they are. Holding is bounded by maxHeldSegments per pool and
 * maxHoldMs per segment; past either, the oldest segment is split with its still-open windows counted as
 * unknown-token (time share). A window that ends after some of its segments were split adds its density
 * to the held rest as a difference array (O(1)) and keeps the integrals at that point (cumAtSplit).
 */
class TokensSplit implements PoolSplit {
  /** Active windows not ended yet; known ones, those of positive density, and their densities' sum. */
  private open = 0;
  private known = 0;
  private knownPos = 0;
  private readonly density: CompSum = compSum();
  /** Windows started since the current segment opened: the next segment is their first. */
  private readonly awaiting: Win[] = [];
  private cur: Seg | null = null;
  /** The difference arrays' running sums, over the segments split so far. */
  private carryOpen = 0;
  private carryKnown = 0;
  private carryKnownPos = 0;
  private readonly carryDensity: CompSum = compSum();
  private readonly ring: SegmentRing;

  constructor(private readonly P: PoolState, private readonly ctx: SplitContext, private readonly opts: SplitOptions) {
    this.ring = new SegmentRing(() => P.deviceCount);
  }

  start(w: Win): void {
    this.closeCur();
    if (!w.ended) this.open++;
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

  end(w: Win): void {
    this.closeCur();
    if (w.known) {
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
    const dens = tokenDensity(w.prompt, w.completion, w.endMs - w.startMs, this.opts.promptTokenWeight);
    w.known = dens !== undefined;
    w.density = dens ?? 0;
    if (!w.inActive) return;
    this.open--;
    if (w.known) {
      this.known++;
      if (w.density > 0) { this.knownPos++; compAdd(this.density, w.density); }
    }
    if (!w.hasFirst) return;
    const ring = this.ring;
    // Its segments split while it was open counted it as unknown-token: remember where they stop.
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
      if (w.known) {
        sa.addKnown += 1; sb.subKnown += 1;
        if (w.density > 0) { sa.addKnownPos += 1; sb.subKnownPos += 1; sa.addDensity += w.density; sb.subDensity += w.density; }
      }
    }
  }

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
  }

  held(): number {
    return this.ring.held();
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
    const weighted = kPos > 0 && K > 0;
    const perDensity = weighted ? k / (n * K) : 0;
    // Only the windows active in a segment read its increments: T only unknown-token ones (counting
    // those still open at a forced split), A and Z only known ones. An increment no one reads is
    // skipped: with every window's tokens known, half the work.
    const open = s.baseOpen + this.carryOpen + s.addOpen;
    const needT = open > 0 || k < n;
    const knownOff = k === 0 ? -1 : weighted ? 2 * D : 4 * D;
    for (let i = 0; i < D; i++) {
      const ei = e[i]!;
      if (ei === 0) continue;
      if (needT) compAddAt(cum, i, D, ei / n);
      if (knownOff >= 0) compAddAt(cum, knownOff + i, D, weighted ? ei * perDensity : ei / n);
    }
    this.carryOpen += s.addOpen - s.subOpen;
    this.carryKnown += s.addKnown - s.subKnown;
    this.carryKnownPos += s.addKnownPos - s.subKnownPos;
    compAdd(this.carryDensity, s.addDensity);
    compAdd(this.carryDensity, -s.subDensity);
    if (this.carryKnownPos === 0) { this.carryDensity.hi = 0; this.carryDensity.lo = 0; }
    this.ring.headSeq = s.seq + 1;
    const starters = s.starters;
    if (starters.length > 0) {
      for (const w of starters) w.cumAtStart = P.takeSnap();
      clearList(starters);
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
    if (!w.known) for (let i = 0; i < D; i++) out[i] = cumDiff(ct, cf, i, D);
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
    w.cumAtStart = undefined;
    w.cumAtGiven = undefined;
    w.cumAtSplit = undefined;
    this.ctx.activeFinal(P, w, act);
  }
}

/**
 * The `tokens` weight density of a window (weight per ms), or undefined when its tokens are unknown or
 * its duration is not positive (a zero-length window is active in no piece: it gets 0 J). A window's
 * tokens are known when the tap reported promptTokens or completionTokens (a missing one counts as 0:
 * embeddings have no completion; a stream without usage may only count its completion).
 */
export function tokenDensity(
  promptTokens: number | undefined | null,
  completionTokens: number | undefined | null,
  durationMs: number,
  promptTokenWeight: number,
): number | undefined {
  const p = isCount(promptTokens) ? promptTokens : undefined;
  const c = isCount(completionTokens) ? completionTokens : undefined;
  if (p === undefined && c === undefined) return undefined;
  if (!(durationMs > 0)) return undefined;
  return (promptTokenWeight * (p ?? 0) + (c ?? 0)) / durationMs;
}

export function createTokensSplit(ctx: SplitContext, opts: SplitOptions): SplitPolicy {
  return { name: 'tokens', integralsPerDevice: 3, forPool: (P) => new TokensSplit(P, ctx, opts) };
}
