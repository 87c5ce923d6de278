import { describe, expect, it } from 'vitest';
import type { AttributedRequest } from '../../src/attribution/types.js';
import { device, harness } from './ledger-helpers.js';

// The ledger queues window starts and ends in arrival order and inserts a late one by walking back a few
// places, sorting the queue when one arrives further out of order (ledger.ts, EventQueue). Whatever the
// order of the calls, the events must be processed by time, so the records cannot depend on it.

interface Req { id: string; startMs: number; endMs: number; prompt: number; completion: number }

const reqs: Req[] = Array.from({ length: 300 }, (_, i) => ({
  id: `q${i}`,
  startMs: 50 + i * 7.5,
  endMs: 50 + i * 7.5 + 40 + ((i * 37) % 900),
  prompt: (i * 53) % 700,
  completion: (i * 29) % 300,
}));

function records(order: 'forward' | 'reverse' | 'shuffled', policy: 'time' | 'tokens'): Map<string, AttributedRequest> {
  const h = harness([device('gpu0'), device('gpu1')], { policy, idle: 'unattributed' });
  // 3 s of samples first, so that no event is older than what the ledger has processed.
  for (let t = 0; t <= 4_000; t += 100) {
    h.timeline.append({ device: 'gpu0', tMs: t, energyJ: 0.3 * t + (t % 300 === 0 ? 0 : 0.01 * t) });
    h.timeline.append({ device: 'gpu1', tMs: t, energyJ: 0.2 * t });
  }
  const idx = reqs.map((_, i) => i);
  if (order === 'reverse') idx.reverse();
  if (order === 'shuffled') for (let i = idx.length - 1; i > 0; i--) { const j = (i * 7919) % (i + 1); [idx[i], idx[j]] = [idx[j]!, idx[i]!]; }
  const handles = new Map(idx.map((i) => [i, h.ledger.open({ id: reqs[i]!.id, pool: 'default', startMs: reqs[i]!.startMs })]));
  for (const i of idx) {
    const r = reqs[i]!;
    const w = handles.get(i)!;
    w.update({ promptTokens: r.prompt, completionTokens: r.completion });
    w.end({ endMs: r.endMs, outcome: 'ok' });
  }
  h.ledger.advance();
  return h.records;
}

describe('ledger: the order of open() and end() calls does not change any record', () => {
  for (const policy of ['time', 'tokens'] as const) {
    it(`${policy}: windows opened and ended in reverse and shuffled order (far beyond the walk-back bound) give the same records as in time order`, () => {
      const forward = records('forward', policy);
      expect(forward.size).toBe(reqs.length);
      for (const order of ['reverse', 'shuffled'] as const) {
        const other = records(order, policy);
        expect(other.size).toBe(reqs.length);
        for (const r of reqs) {
          const a = forward.get(r.id)!;
          const b = other.get(r.id)!;
          expect(b.energyByDeviceJ).toEqual(a.energyByDeviceJ);
          expect(b.energyJ).toEqual(a.energyJ);
          expect(b.complete).toBe(true);
        }
      }
    });
  }
});
