/**
 * A fixed-capacity ring of (tMs, value) points in two Float64Arrays: bounded memory (16 bytes a point),
 * no allocation after construction, and O(log n) search by time because points are pushed in strictly
 * increasing time order (the timeline drops anything else before it gets here).
 *
 * Indexes in the interface are logical: 0 is the oldest retained point, size() − 1 the newest.
 * When full, a push overwrites the oldest point.
 */
export interface PointRing {
  readonly capacity: number;
  size(): number;
  push(tMs: number, value: number): void;
  timeAt(i: number): number;
  valueAt(i: number): number;
  /** Logical index of the newest point with time ≤ tMs, or −1 if every retained point is later (or none). */
  floorIndex(tMs: number): number;
  clear(): void;
}

class Float64PointRing implements PointRing {
  readonly capacity: number;
  private readonly times: Float64Array;
  private readonly values: Float64Array;
  /** Physical index of the oldest point. */
  private head = 0;
  private count = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.times = new Float64Array(capacity);
    this.values = new Float64Array(capacity);
  }

  size(): number {
    return this.count;
  }

  push(tMs: number, value: number): void {
    let p: number;
    if (this.count < this.capacity) {
      p = this.head + this.count;
      if (p >= this.capacity) p -= this.capacity;
      this.count++;
    } else {
      // Full: the slot of the oldest point takes the new one and the oldest becomes the next.
      p = this.head;
      this.head = p + 1 === this.capacity ? 0 : p + 1;
    }
    this.times[p] = tMs;
    this.values[p] = value;
  }

  private physical(i: number): number {
    const p = this.head + i;
    return p >= this.capacity ? p - this.capacity : p;
  }

  timeAt(i: number): number {
    return this.times[this.physical(i)]!;
  }

  valueAt(i: number): number {
    return this.values[this.physical(i)]!;
  }

  floorIndex(tMs: number): number {
    // Binary search for the last time ≤ tMs over the logical order (ascending by construction).
    let lo = 0;
    let hi = this.count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.times[this.physical(mid)]! <= tMs) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
  }
}

/** `capacity` must be an integer ≥ 2 (an interval needs two points); checked by the caller at start-up. */
export function createPointRing(capacity: number): PointRing {
  return new Float64PointRing(capacity);
}
