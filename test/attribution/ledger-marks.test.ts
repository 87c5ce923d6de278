/**
 * Decode marks under the `learned` policy, by hand: a request's completion energy follows the chunks
 * between its marks; marks that say nothing usable are ignored and counted. And queued prefills
 * (`attribution.learn.queuedPrefill`): a request's prefill starts at the end of its wait. (The oracle and the property
 * test check marks on generated schedules, ledger-conservation.test.ts; the golden `marks` scenario
 * covers the hold bounds and a lagging sensor.)
 */
import { describe, expect, it } from 'vitest';
import { device, feedConstant, harness } from './ledger-helpers.js';

// Prompt tokens free, 1 J per completion token: only the decode weighs.
const learn = { priors: [{ model: 'm', promptJ: 0, completionJ: 1 }], minSamples: Number.POSITIVE_INFINITY };

function twoStreams(marksOfA: [number, number][]) {
  const h = harness([device('gpu0')], { policy: 'learned', idle: 'unattributed', learn });
  feedConstant(h.timeline, 'gpu0', 100, 0, 5_000, 100);
  const a = h.ledger.open({ id: 'a', pool: 'default', startMs: 1_000, model: 'm' });
  const b = h.ledger.open({ id: 'b', pool: 'default', startMs: 1_000, model: 'm' });
  for (const w of [a, b]) { w.update({ stream: true }); w.firstByte(1_100); }
  for (const [t, c] of marksOfA) a.progress!(t, c);
  for (const w of [a, b]) {
    w.update({ promptTokens: 0, completionTokens: 10, chunks: 10 });
    w.end({ endMs: 2_100, outcome: 'ok', status: 200 });
  }
  h.ledger.advance();
  return h;
}

describe('learned: decode marks', () => {
  it('a request whose ten chunks all came by its mark at 1.5 s takes the energy of its decode up to there, by learned power, and none after', () => {
    const h = twoStreams([[1_500, 10]]);
    // 100 W. [1.0, 1.1] s: both in prefill, no learned power: 5 J each. [1.1, 1.5]: a 10 J over 400 ms,
    // b 10 J over 1,000 ms: 40 J split 0.025 : 0.01. [1.5, 2.1]: a streams nothing, b all 60 J.
    expect(h.records.get('a')!.energyJ.total).toBeCloseTo(5 + (40 * 0.025) / 0.035, 9);
    expect(h.records.get('b')!.energyJ.total).toBeCloseTo(5 + (40 * 0.01) / 0.035 + 60, 9);
    expect(h.records.get('a')!.attribution).toBe('learned');
    expect(h.ledger.stats().ignoredCalls).toBe(0);
  });

  it('without marks the two identical requests get the same energy', () => {
    const h = twoStreams([]);
    expect(h.records.get('a')!.energyJ.total).toBeCloseTo(55, 9);
    expect(h.records.get('b')!.energyJ.total).toBeCloseTo(55, 9);
  });

  it('marks before the first byte, not after the previous one, with fewer chunks, not a count, or after the end are ignored and counted; the others still count', () => {
    const h = harness([device('gpu0')], { policy: 'learned', idle: 'unattributed', learn });
    feedConstant(h.timeline, 'gpu0', 100, 0, 5_000, 100);
    const a = h.ledger.open({ id: 'a', pool: 'default', startMs: 1_000, model: 'm' });
    const b = h.ledger.open({ id: 'b', pool: 'default', startMs: 1_000, model: 'm' });
    a.update({ stream: true });
    b.update({ stream: true });
    a.progress!(1_050, 1); // before its first byte
    a.firstByte(1_100);
    b.firstByte(1_100);
    a.progress!(1_100, 1); // not after the first byte
    a.progress!(1_500, 10);
    a.progress!(1_400, 12); // not after the previous mark
    a.progress!(1_600, 9); // fewer chunks than before
    a.progress!(1_700, Number.NaN); // not a count
    for (const w of [a, b]) {
      w.update({ promptTokens: 0, completionTokens: 10, chunks: 10 });
      w.end({ endMs: 2_100, outcome: 'ok', status: 200 });
    }
    a.progress!(2_000, 10); // after its end
    h.ledger.advance();
    expect(h.ledger.stats().ignoredCalls).toBe(6);
    expect(h.records.get('a')!.energyJ.total).toBeCloseTo(5 + (40 * 0.025) / 0.035, 9);
  });

  it('under `time` and `tokens` marks change nothing', () => {
    for (const policy of ['time', 'tokens'] as const) {
      const h = harness([device('gpu0')], { policy, idle: 'unattributed' });
      feedConstant(h.timeline, 'gpu0', 100, 0, 5_000, 100);
      const a = h.ledger.open({ id: 'a', pool: 'default', startMs: 1_000, model: 'm' });
      const b = h.ledger.open({ id: 'b', pool: 'default', startMs: 1_000, model: 'm' });
      for (const w of [a, b]) { w.update({ stream: true }); w.firstByte(1_100); }
      a.progress!(1_500, 10);
      for (const w of [a, b]) {
        w.update({ promptTokens: 0, completionTokens: 10, chunks: 10 });
        w.end({ endMs: 2_100, outcome: 'ok', status: 200 });
      }
      h.ledger.advance();
      expect(h.records.get('a')!.energyJ.total).toBeCloseTo(55, 9);
      expect(h.ledger.stats().ignoredCalls).toBe(0);
    }
  });

  for (const queuedPrefill of [true, false]) {
    it(`queuedPrefill ${queuedPrefill}: two prompts that arrive together, the engine computing the second after the first${queuedPrefill ? ': the second weighs nothing while it waits' : ': both spread from their arrival'}`, () => {
      const h = harness([device('gpu0')], { policy: 'learned', idle: 'unattributed', learn: { priors: [{ model: 'q', promptJ: 1, completionJ: 1 }], minSamples: Number.POSITIVE_INFINITY, queuedPrefill } });
      feedConstant(h.timeline, 'gpu0', 100, 0, 5_000, 100);
      // a: 300 prompt tokens, first byte at 1.3 s; b: 700, first byte at 2.0 s. No completion tokens.
      const a = h.ledger.open({ id: 'a', pool: 'default', startMs: 1_000, model: 'q' });
      const b = h.ledger.open({ id: 'b', pool: 'default', startMs: 1_000, model: 'q' });
      for (const w of [a, b]) w.update({ stream: true });
      a.firstByte(1_300);
      a.update({ promptTokens: 300, completionTokens: 0 });
      a.end({ endMs: 1_400, outcome: 'ok', status: 200 });
      b.firstByte(2_000);
      b.update({ promptTokens: 700, completionTokens: 0 });
      b.end({ endMs: 2_100, outcome: 'ok', status: 200 });
      h.ledger.advance();
      // 100 W. Queued: b waits until a's first byte (the latest before the last tenth of its wait), so
      // [1.0, 1.3] s is a's alone, 30 J, and b takes the rest, 80 J. Not queued: b's 700 tokens over
      // 1 s against a's 300 over 0.3 s share [1.0, 1.3] 0.7 : 1.
      const [ea, eb] = queuedPrefill ? [30, 80] : [30 / 1.7, 110 - 30 / 1.7];
      expect(h.records.get('a')!.energyJ.total).toBeCloseTo(ea, 9);
      expect(h.records.get('b')!.energyJ.total).toBeCloseTo(eb, 9);
      expect(h.records.get('b')!.attribution).toBe('learned');
    });
  }

  it('queuedPrefill: a request ended before its start was processed still gives the learner its tokens in every bucket it ran in', () => {
    const h = harness([device('gpu0')], { policy: 'learned', idle: 'unattributed', learn: { minSamples: Number.POSITIVE_INFINITY, queuedPrefill: true } });
    // An earlier request starts the learner's buckets (1 s each).
    const z = h.ledger.open({ id: 'z', pool: 'default', startMs: 100, model: 'z' });
    z.update({ promptTokens: 10, completionTokens: 1 });
    z.end({ endMs: 200, outcome: 'ok', status: 200 });
    const w = h.ledger.open({ id: 'a', pool: 'default', startMs: 500, model: 'q' });
    w.update({ stream: true });
    w.firstByte(1_500);
    w.update({ promptTokens: 100, completionTokens: 10 });
    w.end({ endMs: 1_600, outcome: 'ok', status: 200 });
    // The sensor covers its start first, its first byte only later: its end waits for its first byte,
    // and so must the bucket [0, 1) s in which its prefill began.
    feedConstant(h.timeline, 'gpu0', 100, 0, 1_200, 100);
    h.ledger.advance();
    feedConstant(h.timeline, 'gpu0', 100, 1_300, 3_000, 100);
    h.ledger.advance();
    const q = h.ledger.tokenCosts()![0]!.models.find((m) => m.model === 'q')!;
    expect(q.samples).toBeGreaterThan(1.9); // both buckets (forgetting-weighted), not only [1, 2) s
  });
});
