import type { Win } from '../window.js';
import { zeros } from '../vectors.js';

/**
 * A run of pieces with one set of active windows (one per window start, end or first byte, not one per
 * sample), held by the `tokens` and `learned` policies until the weights of its windows are known
 * (split/held-split.ts).
 *
 * What a segment knows of its active windows is counts and sums, never a list: `base*` as the segment
 * opened, plus the changes that windows ending later apply to a range of held segments as a difference
 * array (`add*` on the range's first segment, `sub*` after its last), summed in order when it is split.
 *   open:      active windows whose end has not come (unknown-token so far)
 *   known:     active windows with known token counts;  knownPos: those with a density > 0
 *   density:   the sum of the known windows' densities
 *   learned, learnedPos, learnedDensity: the same of learned windows (`learned` policy)
 */
export class Seg {
  seq = 0;
  active = 0;
  baseOpen = 0; baseKnown = 0; baseKnownPos = 0; baseDensity = 0;
  addOpen = 0; addKnown = 0; addKnownPos = 0; addDensity = 0;
  subOpen = 0; subKnown = 0; subKnownPos = 0; subDensity = 0;
  baseLearned = 0; baseLearnedPos = 0; baseLearnedDensity = 0;
  addLearned = 0; addLearnedPos = 0; addLearnedDensity = 0;
  subLearned = 0; subLearnedPos = 0; subLearnedDensity = 0;
  closed = false;
  closedAtMs = 0;
  /** Windows whose first segment follows this one: they copy the integrals when this one is split. */
  starters: Win[] = [];
  /** Windows whose last segment this is. */
  enders: Win[] = [];
  /** Windows whose first segment after their first byte follows this one: they copy the integrals when this one is split. */
  phasers: Win[] = [];
  /** Its energy per device. */
  energyJ: number[];
  constructor(devices: number) {
    this.energyJ = zeros(devices);
  }
  init(seq: number, active: number, open: number, known: number, knownPos: number, density: number): void {
    this.seq = seq;
    this.active = active;
    this.baseOpen = open; this.baseKnown = known; this.baseKnownPos = knownPos; this.baseDensity = density;
    this.addOpen = 0; this.addKnown = 0; this.addKnownPos = 0; this.addDensity = 0;
    this.subOpen = 0; this.subKnown = 0; this.subKnownPos = 0; this.subDensity = 0;
    this.addLearned = 0; this.addLearnedPos = 0; this.addLearnedDensity = 0;
    this.subLearned = 0; this.subLearnedPos = 0; this.subLearnedDensity = 0;
    this.closed = false;
    this.closedAtMs = 0;
    const e = this.energyJ;
    for (let i = 0; i < e.length; i++) e[i] = 0;
  }
  initLearned(learned: number, learnedPos: number, learnedDensity: number): void {
    this.baseLearned = learned; this.baseLearnedPos = learnedPos; this.baseLearnedDensity = learnedDensity;
  }
}

/** Initial ring size (a power of two); it doubles when full and halves when mostly empty. */
const MIN_RING = 1024;

/**
 * The held segments of one pool, in a ring of reused Seg objects:
 *
 *          split (resolved)        held, oldest first                  free slots (spare Segs)
 *   ... seq 7 | seq 8 |  seq 9 (headSeq)  seq 10  ...  seq 14 (seq)  |  .  .  .  .
 *                        ^ ring[headSeq & mask]         ^ ring[seq & mask], the newest
 *
 * Seqs are never reused; a seq's slot is `seq & mask`. At 10 000 requests/s there are two segments per
 * request, each held for about the longest overlapping request, long enough to outlive V8's young
 * generation, so allocating them made most of the `tokens` policy's garbage-collection cost
 * (docs/bench.md). The ring doubles when full and is given back by half when a burst left it mostly
 * empty, checked once per ring's worth of segments against the peak over that stretch (held counts
 * saw-tooth, so the current count alone would shrink it too early).
 */
export class SegmentRing {
  /** The oldest held seq; headSeq - 1 is the last split one (0: none). */
  headSeq = 1;
  /** The newest seq (0: none yet). */
  seq = 0;
  private ring: Seg[] = [];
  private mask = -1;
  private peak = 0;
  private checkSeq = 0;

  constructor(private readonly devices: () => number) {}

  /** Segments held now. */
  held(): number {
    return this.seq - this.headSeq + 1;
  }

  at(seq: number): Seg {
    return this.ring[seq & this.mask]!;
  }

  /** The slot of the next seq, made the newest; the caller initialises it. */
  next(): Seg {
    if (this.held() >= this.ring.length) this.relay(Math.max(MIN_RING, 2 * this.ring.length));
    const seq = ++this.seq;
    if (this.held() > this.peak) this.peak = this.held();
    return this.ring[seq & this.mask]!;
  }

  /** After splitting: halves a ring left large by a burst. */
  maybeShrink(): void {
    if (this.seq >= this.checkSeq && this.ring.length > 0) {
      if (this.ring.length > MIN_RING && this.peak * 8 < this.ring.length) this.relay(this.ring.length / 2);
      this.peak = this.held();
      this.checkSeq = this.seq + this.ring.length;
    }
  }

  /** Re-lays the held segments in a ring of `size` slots; the other slots get spare segments. */
  private relay(size: number): void {
    const old = this.ring;
    const oldMask = this.mask;
    const oldUsed = new Array<boolean>(old.length).fill(false);
    const ring = new Array<Seg>(size);
    const used = new Array<boolean>(size).fill(false);
    const mask = size - 1;
    for (let q = this.headSeq; q <= this.seq; q++) {
      oldUsed[q & oldMask] = true;
      ring[q & mask] = old[q & oldMask]!;
      used[q & mask] = true;
    }
    const spare: Seg[] = [];
    for (let i = 0; i < old.length; i++) if (!oldUsed[i]) spare.push(old[i]!);
    for (let i = 0; i < size; i++) if (!used[i]) ring[i] = spare.pop() ?? new Seg(this.devices());
    this.ring = ring;
    this.mask = mask;
  }
}
