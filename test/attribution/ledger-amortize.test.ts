import { describe, expect, it } from 'vitest';
import type { AttributionPolicy, IdlePolicy } from '../../src/attribution/types.js';
import { device, feedConstant, harness, type Harness } from './ledger-helpers.js';

// Under `amortize` a record whose active energy is final waits for its amortization window to close, kept
// by column instead of as its window (ledger.ts, AmortWin). These tests check that every field survives
// that, and that pending() and duplicate ids still behave.

const devices = [device('gpu0'), device('gpu1'), device('package-0', 'cpu'), device('dram-0', 'dram')];

/** The same schedule of requests with every optional field set or absent, under the given policies. */
function run(policy: AttributionPolicy, idle: IdlePolicy): Harness {
  const h = harness(devices, { policy, idle, amortizeWindowMs: 10_000 });
  for (const d of devices) feedConstant(h.timeline, d.id, d.kind === 'gpu' ? 300 : 50, 0, 9_000, 100);
  for (let i = 0; i < 40; i++) {
    const w = h.ledger.open({
      id: `r${i}`, pool: 'default', startMs: 100 + i * 150,
      model: i % 5 === 0 ? undefined : `m${i % 3}`, tenant: i % 2 === 0 ? `t${i % 4}` : undefined, api: i % 3 === 0 ? 'chat' : undefined,
    });
    if (i % 4 !== 0) w.firstByte(100 + i * 150 + 7.25);
    if (i % 6 !== 0) w.update({ promptTokens: i * 13, completionTokens: i % 7 === 0 ? undefined : i * 3 });
    w.end({ endMs: 100 + i * 150 + 300 + (i % 9) * 111.5, outcome: i % 8 === 0 ? 'error' : 'ok', status: i % 8 === 0 ? undefined : 200 + (i % 2) });
  }
  h.ledger.advance();
  return h;
}

describe('ledger: records waiting for their amortization window', () => {
  for (const policy of ['time', 'tokens'] as const) {
    it(`${policy}: every field of a record that waited equals the unattributed one's, and its energy is that plus its idle share`, () => {
      const plain = run(policy, 'unattributed');
      const am = run(policy, 'amortize');
      expect(plain.records.size).toBe(40);
      // Window [0, 10) s has not closed: all 40 wait and answer pending().
      expect(am.records.size).toBe(0);
      for (let i = 0; i < 40; i++) expect(am.ledger.pending(`r${i}`)).toEqual({ id: `r${i}`, state: 'pending' });
      expect(am.ledger.stats().pendingWindows).toBe(40);
      for (const d of devices) feedConstant(am.timeline, d.id, d.kind === 'gpu' ? 300 : 50, 9_100, 20_000, 100);
      am.ledger.advance();
      expect(am.records.size).toBe(40);
      for (let i = 0; i < 40; i++) {
        const a = am.records.get(`r${i}`)!;
        const p = plain.records.get(`r${i}`)!;
        expect(am.ledger.pending(`r${i}`)).toBeUndefined();
        const { energyJ, energyByDeviceJ, idleShareJ, ...fields } = a;
        const { energyJ: pe, energyByDeviceJ: pd, idleShareJ: pi, ...pfields } = p;
        expect(fields).toEqual(pfields);
        expect(pi).toBe(0);
        expect(idleShareJ).toBeGreaterThan(0);
        expect(Object.keys(energyByDeviceJ)).toEqual(Object.keys(pd));
        const close = (x: number, y: number) => expect(Math.abs(x - y)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(y)));
        close(energyJ.total - idleShareJ, pe.total);
        let sum = 0;
        for (const k of Object.keys(pd)) sum += energyByDeviceJ[k]!;
        close(sum, energyJ.total);
      }
      const t = am.ledger.totals();
      expect(Math.abs(t.attributedJ + t.unattributedJ - t.measuredJ)).toBeLessThanOrEqual(1e-9 * t.measuredJ);
    });
  }

  it('a duplicate id opened while the first waits: the newer window keeps answering pending() after the first is given', () => {
    const h = harness([device('gpu0')], { policy: 'tokens', idle: 'amortize', amortizeWindowMs: 10_000 });
    feedConstant(h.timeline, 'gpu0', 300, 0, 9_000, 100);
    h.ledger.open({ id: 'x', pool: 'default', startMs: 1_000 }).end({ endMs: 2_000, outcome: 'ok' });
    h.ledger.advance();
    expect(h.ledger.pending('x')).toBeDefined(); // the first, waiting for [0, 10) s
    const second = h.ledger.open({ id: 'x', pool: 'default', startMs: 9_500 });
    feedConstant(h.timeline, 'gpu0', 300, 9_100, 12_000, 100);
    h.ledger.advance();
    // [0, 10) s closed and gave the first record; the second window is still open under the same id.
    const got: string[] = [];
    h.ledger.onFinal((r) => got.push(`${r.id}@${r.startMs}`));
    expect(h.records.get('x')!.startMs).toBe(1_000);
    expect(h.ledger.pending('x')).toEqual({ id: 'x', state: 'pending' });
    second.end({ endMs: 11_000, outcome: 'ok' });
    feedConstant(h.timeline, 'gpu0', 300, 12_100, 25_000, 100);
    h.ledger.advance();
    expect(got).toEqual(['x@9500']);
    expect(h.ledger.pending('x')).toBeUndefined();
    expect(h.ledger.stats().pendingWindows).toBe(0);
  });

  it('flush ends and records every open window, also one whose id a newer window took', () => {
    for (const idle of ['unattributed', 'amortize'] as const) {
      const h = harness([device('gpu0')], { policy: 'time', idle, amortizeWindowMs: 10_000 });
      feedConstant(h.timeline, 'gpu0', 300, 0, 5_000, 100);
      h.ledger.open({ id: 'dup', pool: 'default', startMs: 1_000 });
      h.ledger.open({ id: 'dup', pool: 'default', startMs: 2_000 });
      h.ledger.open({ id: 'other', pool: 'default', startMs: 3_000 });
      const got: string[] = [];
      h.ledger.onFinal((r) => got.push(`${r.id}@${r.startMs}:${r.outcome}`));
      h.ledger.flush();
      expect(got.sort(), idle).toEqual(['dup@1000:aborted', 'dup@2000:aborted', 'other@3000:aborted']);
      expect(h.ledger.stats().pendingWindows, idle).toBe(0);
      const t = h.ledger.totals();
      expect(Math.abs(t.attributedJ + t.unattributedJ - t.measuredJ), idle).toBeLessThanOrEqual(1e-9 * t.measuredJ);
    }
  });
});
