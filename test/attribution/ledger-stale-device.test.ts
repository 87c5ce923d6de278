/**
 * A device that stops reporting for good (a GPU fallen off the bus, NVML_ERROR_GPU_IS_LOST, an nvidia-smi
 * row that turns into an error line, a RAPL zone that fails every read) must not stall its whole pool:
 * past the lag bound, the other devices' energy goes on being attributed, the silent device's pieces count
 * as not measured, and the records that overlap them say complete: false.
 */
import { describe, expect, it } from 'vitest';
import { device, feedConstant, harness } from './ledger-helpers.js';

describe('ledger: a device of the pool stops reporting', () => {
  it('attributes the other devices past the lag bound; records overlapping the silence are incomplete', () => {
    const h = harness([device('gpu0'), device('gpu1')], { policy: 'time', idle: 'unattributed', lagBoundMs: 5000, staleDeviceMs: 6000 });
    feedConstant(h.timeline, 'gpu0', 300, 0, 2000, 100);
    feedConstant(h.timeline, 'gpu1', 100, 0, 2000, 100);
    h.ledger.open({ id: 'before', pool: 'default', startMs: 500 }).end({ endMs: 1500, outcome: 'ok' });
    h.ledger.open({ id: 'after', pool: 'default', startMs: 8000 }).end({ endMs: 9000, outcome: 'ok' });
    // gpu1 is lost at 2 s; gpu0 goes on, sampled as the clock moves.
    for (let t = 2100; t <= 12_000; t += 100) {
      h.clock.advance(100);
      feedConstant(h.timeline, 'gpu0', 300, t, t, 100);
      h.ledger.advance();
    }
    const before = h.records.get('before')!;
    expect(before.complete).toBe(true);
    expect(before.energyJ.total).toBeCloseTo(400, 9); // (300 + 100) W × 1 s
    const after = h.records.get('after')!;
    expect(after.energyJ.total).toBeCloseTo(300, 9); // gpu0 300 W × 1 s; gpu1 not measured
    expect(after.complete).toBe(false);
    const t = h.ledger.totals();
    expect(t.processedUntilMs.default).toBeGreaterThan(11_000);
    expect(t.attributedJ + t.unattributedJ).toBeCloseTo(t.measuredJ, 6);
    expect(h.ledger.stats().uncoveredPieces).toBeGreaterThan(0);
  });

  it('a device that comes back: the stretch processed without it goes to unattributed, and conservation holds', () => {
    const h = harness([device('gpu0'), device('gpu1')], { policy: 'time', idle: 'unattributed', lagBoundMs: 5000, staleDeviceMs: 6000 });
    feedConstant(h.timeline, 'gpu0', 300, 0, 2000, 100);
    feedConstant(h.timeline, 'gpu1', 100, 0, 2000, 100);
    h.ledger.open({ id: 'a', pool: 'default', startMs: 12_000 }).end({ endMs: 13_000, outcome: 'ok' });
    for (let t = 2100; t <= 20_000; t += 100) {
      h.clock.advance(100);
      feedConstant(h.timeline, 'gpu0', 300, t, t, 100);
      if (t >= 15_000) feedConstant(h.timeline, 'gpu1', 100, t, t, 100); // back at 15 s
      h.ledger.advance();
    }
    const tot = h.ledger.totals();
    const until = tot.processedUntilMs.default!;
    const measured = h.timeline.energyBetween('gpu0', 0, until)! + h.timeline.energyBetween('gpu1', 0, until)!;
    expect(tot.measuredJ).toBeCloseTo(measured, 6);
    expect(tot.attributedJ + tot.unattributedJ).toBeCloseTo(measured, 6);
    expect(h.records.get('a')!.complete).toBe(false);
  });

  it('a device that only lags (less than the bound) still holds the pool back: nothing is counted unmeasured', () => {
    const h = harness([device('gpu0'), device('cpu', 'cpu')], { policy: 'time', idle: 'unattributed', lagBoundMs: 5000 });
    feedConstant(h.timeline, 'gpu0', 300, 0, 4000, 100);
    feedConstant(h.timeline, 'cpu', 50, 0, 1000, 250);
    h.ledger.open({ id: 'a', pool: 'default', startMs: 2000 }).end({ endMs: 3000, outcome: 'ok' });
    h.clock.advance(4000);
    h.ledger.advance();
    expect(h.ledger.totals().processedUntilMs.default).toBe(1000);
    feedConstant(h.timeline, 'cpu', 50, 1250, 4000, 250);
    h.ledger.advance();
    const a = h.records.get('a')!;
    expect(a.complete).toBe(true);
    expect(a.energyJ.total).toBeCloseTo(350, 9);
    expect(h.ledger.stats().uncoveredPieces).toBe(0);
  });
});
