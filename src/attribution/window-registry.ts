import type { Logger } from '../core/logger.js';
import { Slots } from '../core/slots.js';
import type { AmortWin } from './idle/amortize.js';
import type { Win } from './window.js';

/**
 * Windows not final yet, by request id: the map gives a slot, the slot the window, or, for a member of an
 * open amortization window, that AmortWin (which keeps its members by column, not as windows).
 *
 * Not a Map of the windows themselves, for the reason in core/slots.ts: a Map rehashes as entries are
 * deleted and the old tables, in the old generation by then, keep finished windows alive through
 * scavenges (with the windows in the map, 146–151 MB were promoted per bench run; with slot numbers,
 * 75 MB; docs/bench.md).
 */
export class WindowRegistry {
  private readonly ids = new Map<string, number>();
  private readonly slots = new Slots<Win | AmortWin>();
  /** Ids opened while a window with that id was pending (then a release must check which window the id names). */
  private duplicateIds = 0;

  constructor(private readonly log: Logger) {}

  /** Registers w under its id (a newer window takes an id that is still pending); sets w.slot. */
  add(w: Win): void {
    w.slot = this.slots.add(w);
    // One hash lookup, not has() then set(): the size tells whether the id was there (a tenth of the
    // ledger's cost at 10 000 requests/s went to these lookups).
    const before = this.ids.size;
    this.ids.set(w.id, w.slot);
    if (this.ids.size === before) {
      this.duplicateIds++;
      this.log.rateLimited('warn', 'duplicate-id', 'duplicate request id; the newer window answers pending()');
    }
  }

  /** Forgets the entry in `slot`, and the id if it still names that slot. */
  release(id: string, slot: number): void {
    // Without duplicate ids the slot under this id is its own: one lookup, not get() then delete().
    if (this.duplicateIds === 0 || this.ids.get(id) === slot) this.ids.delete(id);
    this.slots.remove(slot);
  }

  /** From now on `slot` names the amortization window its window waits in. */
  point(slot: number, am: AmortWin): void {
    this.slots.set(slot, am);
  }

  get(id: string): Win | AmortWin | undefined {
    const s = this.ids.get(id);
    return s === undefined ? undefined : this.slots.get(s);
  }

  /** Every entry, also a window whose id a newer one took (a copy: safe to change while walking it). */
  values(): (Win | AmortWin)[] {
    return this.slots.values();
  }

  /** Ids pending now. */
  get size(): number {
    return this.ids.size;
  }
}
