import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createPointRing } from '../../src/energy/point-ring.js';

describe('point ring', () => {
  it('keeps points oldest first before it is full', () => {
    const ring = createPointRing(4);
    ring.push(10, 1);
    ring.push(20, 2);
    expect(ring.size()).toBe(2);
    expect([ring.timeAt(0), ring.timeAt(1)]).toEqual([10, 20]);
    expect([ring.valueAt(0), ring.valueAt(1)]).toEqual([1, 2]);
  });

  it('overwrites the oldest point when full (wrap-around keeps the newest)', () => {
    const ring = createPointRing(3);
    for (let i = 1; i <= 7; i++) ring.push(i * 10, i);
    expect(ring.size()).toBe(3);
    expect([0, 1, 2].map((i) => ring.timeAt(i))).toEqual([50, 60, 70]);
    expect([0, 1, 2].map((i) => ring.valueAt(i))).toEqual([5, 6, 7]);
  });

  it('floorIndex finds the newest point at or before a time, -1 before the oldest', () => {
    const ring = createPointRing(3);
    for (let i = 1; i <= 5; i++) ring.push(i * 10, i); // retained: 30, 40, 50
    expect(ring.floorIndex(29.9)).toBe(-1);
    expect(ring.floorIndex(30)).toBe(0);
    expect(ring.floorIndex(39)).toBe(0);
    expect(ring.floorIndex(40)).toBe(1);
    expect(ring.floorIndex(1e9)).toBe(2);
    expect(createPointRing(2).floorIndex(0)).toBe(-1);
  });

  it('clear empties it', () => {
    const ring = createPointRing(2);
    ring.push(1, 1);
    ring.clear();
    expect(ring.size()).toBe(0);
    expect(ring.floorIndex(5)).toBe(-1);
  });

  it('floorIndex agrees with a linear scan for any capacity and number of pushes (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 20 }),
        fc.array(fc.double({ min: 0.001, max: 100, noNaN: true }), { minLength: 0, maxLength: 60 }),
        fc.array(fc.double({ min: -10, max: 7000, noNaN: true }), { minLength: 1, maxLength: 10 }),
        (capacity, gaps, queries) => {
          const ring = createPointRing(capacity);
          const all: number[] = [];
          let t = 0;
          for (const g of gaps) {
            t += g;
            ring.push(t, t * 2);
            all.push(t);
          }
          const kept = all.slice(-capacity);
          expect(ring.size()).toBe(kept.length);
          kept.forEach((tk, i) => {
            expect(ring.timeAt(i)).toBe(tk);
            expect(ring.valueAt(i)).toBe(tk * 2);
          });
          for (const q of [...queries, ...kept]) {
            let expected = -1;
            kept.forEach((tk, i) => { if (tk <= q) expected = i; });
            expect(ring.floorIndex(q)).toBe(expected);
          }
        },
      ),
    );
  });
});
