/**
 * Values held in numbered slots: `add` gives a slot, `remove` clears it and keeps its number for reuse.
 *
 * For sets that gain and lose an entry on every request (the proxy's responses in flight, the ledger's
 * open windows). Not a Set or a Map of the values: those rehash into new tables as entries are deleted,
 * and the old tables, in V8's old generation by then, are garbage that still points at what they held.
 * A scavenge keeps whatever the old generation points at without asking whether the holder is alive,
 * so each rehash kept dozens of finished requests alive until they were promoted (bench/proxy/README.md:
 * 112 MB promoted per 30,000 proxied requests instead of ~3 MB). Here a freed slot is overwritten at
 * once, and the array only grows, to the most values ever held at once.
 */
export class Slots<T> {
  private readonly items: (T | undefined)[] = [];
  private readonly free: number[] = [];
  /** Slots taken now. */
  size = 0;

  add(value: T): number {
    this.size++;
    const slot = this.free.pop();
    if (slot === undefined) return this.items.push(value) - 1;
    this.items[slot] = value;
    return slot;
  }

  /** Frees `slot`. The caller frees each slot it took once (a second remove would free another's). */
  remove(slot: number): void {
    this.items[slot] = undefined;
    this.free.push(slot);
    this.size--;
  }

  get(slot: number): T | undefined {
    return this.items[slot];
  }

  /** Replaces the value of a slot that is taken. */
  set(slot: number, value: T): void {
    this.items[slot] = value;
  }

  /** The values held now, in slot order (a copy: safe to remove while walking it). */
  values(): T[] {
    const out: T[] = [];
    for (const v of this.items) if (v !== undefined) out.push(v);
    return out;
  }
}
