import { describe, expect, it } from 'vitest';
import { Slots } from '../../src/core/slots.js';

describe('Slots', () => {
  it('gives slots, frees them, and reuses a freed number before growing', () => {
    const s = new Slots<string>();
    const a = s.add('a');
    const b = s.add('b');
    const c = s.add('c');
    expect([a, b, c]).toEqual([0, 1, 2]);
    s.remove(b);
    expect(s.size).toBe(2);
    expect(s.get(b)).toBeUndefined();
    expect(s.values()).toEqual(['a', 'c']);
    expect(s.add('d')).toBe(b);
    expect(s.add('e')).toBe(3);
    expect(s.values()).toEqual(['a', 'd', 'c', 'e']);
    expect(s.size).toBe(4);
  });

  it('set replaces a taken slot; values() is a copy that removing does not change', () => {
    const s = new Slots<{ n: number }>();
    const x = s.add({ n: 1 });
    s.add({ n: 2 });
    s.set(x, { n: 10 });
    const walked = s.values();
    for (let i = 0; i < 2; i++) s.remove(i);
    expect(walked.map((v) => v.n)).toEqual([10, 2]);
    expect(s.values()).toEqual([]);
    expect(s.size).toBe(0);
  });

  it('a removed value is no longer referenced by the slots (nothing keeps it alive)', () => {
    const s = new Slots<object>();
    const held = { big: true };
    const slot = s.add(held);
    s.remove(slot);
    // the only place a value lives is its slot: cleared on remove
    expect((s as unknown as { items: unknown[] }).items.includes(held)).toBe(false);
  });
});
