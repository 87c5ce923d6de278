import { describe, expect, it } from 'vitest';
import { DEFAULT_PROMPT_TOKEN_WEIGHT } from '../../src/attribution/defaults.js';
import { tokenDensity } from '../../src/attribution/split/tokens.js';
import { device, feedConstant, harness } from './ledger-helpers.js';

const close = (a: number, b: number, tol = 1e-9) => expect(Math.abs(a - b)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(b)));

describe('ledger: hand-computed schedules at constant 300 W (time policy)', () => {
  it('one request alone, 1 s → 3 s, gets exactly 600 J; the rest is unattributed', () => {
    const h = harness([device('gpu0')], { policy: 'time', idle: 'unattributed' });
    feedConstant(h.timeline, 'gpu0', 300, 0, 5000, 100);
    h.ledger.open({ id: 'a', pool: 'default', startMs: 1000 }).end({ endMs: 3000, outcome: 'ok', status: 200 });
    h.ledger.advance();
    const a = h.records.get('a')!;
    // 300 W × 2 s = 600 J.
    close(a.energyJ.total, 600);
    close(a.energyJ.gpu, 600);
    expect(a.energyJ.cpu).toBe(0);
    expect(a.energyByDeviceJ).toEqual({ gpu0: a.energyJ.total });
    expect(a.complete).toBe(true);
    expect(a.idleShareJ).toBe(0);
    expect(a.durationMs).toBe(2000);
    // The fake clock's wall time starts at 2026-01-01T00:00:00Z for monotonic 0.
    expect(a.startedAt).toBe('2026-01-01T00:00:01.000Z');
    expect(a.status).toBe(200);
    const t = h.ledger.totals();
    // 5 s × 300 W = 1500 J measured; 900 J idle.
    close(t.measuredJ, 1500);
    close(t.unattributedJ, 900);
    close(t.attributedJ, 600);
    close(t.pendingJ!, 0);
    expect(h.ledger.inFlight()).toBe(0);
  });

  it('two overlapping requests share the overlap equally: 450 J each', () => {
    const h = harness([device('gpu0')], { policy: 'time', idle: 'unattributed' });
    feedConstant(h.timeline, 'gpu0', 300, 0, 5000, 100);
    h.ledger.open({ id: 'a', pool: 'default', startMs: 1000 }).end({ endMs: 3000, outcome: 'ok' });
    h.ledger.open({ id: 'b', pool: 'default', startMs: 2000 }).end({ endMs: 4000, outcome: 'ok' });
    h.ledger.advance();
    // a: [1,2] s alone 300 J + [2,3] s half of 300 J = 450 J; b: 150 J + [3,4] s alone 300 J = 450 J.
    close(h.records.get('a')!.energyJ.total, 450);
    close(h.records.get('b')!.energyJ.total, 450);
    // idle: [0,1] and [4,5] s = 600 J.
    close(h.ledger.totals().unattributedJ, 600);
  });

  it('one request inside another: the outer gets 750 J, the inner 150 J', () => {
    const h = harness([device('gpu0')], { policy: 'time', idle: 'unattributed' });
    feedConstant(h.timeline, 'gpu0', 300, 0, 5000, 100);
    h.ledger.open({ id: 'outer', pool: 'default', startMs: 1000 }).end({ endMs: 4000, outcome: 'ok' });
    h.ledger.open({ id: 'inner', pool: 'default', startMs: 2000 }).end({ endMs: 3000, outcome: 'ok' });
    h.ledger.advance();
    // outer: [1,2] 300 + [2,3] 150 + [3,4] 300 = 750 J; inner: [2,3] 150 J.
    close(h.records.get('outer')!.energyJ.total, 750);
    close(h.records.get('inner')!.energyJ.total, 150);
  });

  it('a zero-length request gets 0 J and is final', () => {
    const h = harness([device('gpu0')], { policy: 'time', idle: 'unattributed' });
    feedConstant(h.timeline, 'gpu0', 300, 0, 5000, 100);
    h.ledger.open({ id: 'z', pool: 'default', startMs: 2500 }).end({ endMs: 2500, outcome: 'ok' });
    h.ledger.advance();
    expect(h.records.get('z')!.energyJ.total).toBe(0);
    expect(h.records.get('z')!.complete).toBe(true);
    close(h.ledger.totals().unattributedJ, 1500);
  });

  it('energy is kept per device and summed by kind (300 W GPU, 50 W package, 10 W DRAM)', () => {
    const h = harness([device('gpu0'), device('package-0', 'cpu'), device('dram-0', 'dram')], { policy: 'time', idle: 'unattributed' });
    feedConstant(h.timeline, 'gpu0', 300, 0, 5000, 100);
    feedConstant(h.timeline, 'package-0', 50, 0, 5000, 250);
    feedConstant(h.timeline, 'dram-0', 10, 0, 5000, 250);
    h.ledger.open({ id: 'a', pool: 'default', startMs: 1000, model: 'm' }).end({ endMs: 3000, outcome: 'ok' });
    h.ledger.advance();
    const a = h.records.get('a')!;
    // 2 s × (300, 50, 10) W = 600, 100, 20 J.
    close(a.energyByDeviceJ['gpu0']!, 600);
    close(a.energyByDeviceJ['package-0']!, 100);
    close(a.energyByDeviceJ['dram-0']!, 20);
    close(a.energyJ.gpu, 600);
    close(a.energyJ.cpu, 100);
    close(a.energyJ.dram, 20);
    close(a.energyJ.total, 720);
    close(h.ledger.totals().attributedByModelJ['m']!, 720);
  });

  it('pending() answers before the timeline covers the end, and undefined once final', () => {
    const h = harness([device('gpu0')], { policy: 'time', idle: 'unattributed' });
    feedConstant(h.timeline, 'gpu0', 300, 0, 2000, 100);
    const a = h.ledger.open({ id: 'a', pool: 'default', startMs: 1000 });
    expect(h.ledger.inFlight()).toBe(1);
    a.end({ endMs: 3000, outcome: 'ok' });
    expect(h.ledger.inFlight()).toBe(0);
    h.ledger.advance();
    expect(h.ledger.pending('a')).toEqual({ id: 'a', state: 'pending' });
    expect(h.records.has('a')).toBe(false);
    expect(h.ledger.pending('nope')).toBeUndefined();
    feedConstant(h.timeline, 'gpu0', 300, 2100, 4000, 100);
    h.ledger.advance();
    expect(h.ledger.pending('a')).toBeUndefined();
    close(h.records.get('a')!.energyJ.total, 600);
  });
});

describe('ledger: tokens policy, by hand', () => {
  it('two overlapping requests split the overlap by token density (promptTokenWeight 0.2)', () => {
    const h = harness([device('gpu0')], { policy: 'tokens', idle: 'unattributed', promptTokenWeight: 0.2 });
    feedConstant(h.timeline, 'gpu0', 300, 0, 5000, 100);
    const a = h.ledger.open({ id: 'a', pool: 'default', startMs: 1000 });
    const b = h.ledger.open({ id: 'b', pool: 'default', startMs: 2000 });
    // a: (0.2 × 0 + 100) / 2000 ms = 0.05 per ms; b: (0.2 × 500 + 200) / 2000 ms = 0.15 per ms → 1 : 3.
    a.update({ promptTokens: 0, completionTokens: 100 });
    b.update({ promptTokens: 500, completionTokens: 200 });
    a.end({ endMs: 3000, outcome: 'ok' });
    b.end({ endMs: 4000, outcome: 'ok' });
    h.ledger.advance();
    // overlap [2,3] s = 300 J → a 75 J, b 225 J; alone parts 300 J each.
    close(h.records.get('a')!.energyJ.total, 375);
    close(h.records.get('b')!.energyJ.total, 525);
    expect(h.records.get('a')!.attribution).toBe('tokens');
    expect(h.records.get('b')!.promptTokens).toBe(500);
  });

  it('a window with unknown tokens takes a time share; the known ones split the rest by density', () => {
    const h = harness([device('gpu0')], { policy: 'tokens', idle: 'unattributed', promptTokenWeight: 0.2 });
    feedConstant(h.timeline, 'gpu0', 300, 0, 5000, 100);
    const a = h.ledger.open({ id: 'a', pool: 'default', startMs: 1000 });
    const b = h.ledger.open({ id: 'b', pool: 'default', startMs: 1000 });
    const c = h.ledger.open({ id: 'c', pool: 'default', startMs: 1000 });
    a.update({ completionTokens: 100 }); // 100 / 1000 ms = 0.1
    b.update({ promptTokens: 500, completionTokens: 200 }); // 300 / 1000 ms = 0.3
    // c: no usage reported (unknown).
    for (const x of [a, b, c]) x.end({ endMs: 2000, outcome: 'ok' });
    h.ledger.advance();
    // [1,2] s = 300 J among 3: c gets 300/3 = 100 J; a and b share 200 J as 1 : 3 → 50 J and 150 J.
    close(h.records.get('c')!.energyJ.total, 100);
    close(h.records.get('a')!.energyJ.total, 50);
    close(h.records.get('b')!.energyJ.total, 150);
  });

  it('pieces are held while a window is still open, and split exactly once it ends', () => {
    const h = harness([device('gpu0')], { policy: 'tokens', idle: 'unattributed', promptTokenWeight: 0.2 });
    feedConstant(h.timeline, 'gpu0', 300, 0, 3000, 100);
    const long = h.ledger.open({ id: 'long', pool: 'default', startMs: 1000 });
    const short = h.ledger.open({ id: 'short', pool: 'default', startMs: 1000 });
    short.update({ completionTokens: 100 }); // 100 / 1000 ms = 0.1
    short.end({ endMs: 2000, outcome: 'ok' });
    h.ledger.advance();
    // The split of [1,2] s depends on `long`'s tokens, not known yet: short stays pending.
    expect(h.ledger.pending('short')).toEqual({ id: 'short', state: 'pending' });
    expect(h.ledger.stats().heldSegments).toBeGreaterThan(0);
    long.update({ completionTokens: 900 }); // 900 / 3000 ms = 0.3
    long.end({ endMs: 4000, outcome: 'ok' });
    // [1,2] s = 300 J, 0.1 : 0.3 → short 75 J, long 225 J.
    close(h.records.get('short')!.energyJ.total, 75);
    feedConstant(h.timeline, 'gpu0', 300, 3100, 5000, 100);
    h.ledger.advance();
    // long: 225 J + [2,4] s alone 600 J.
    close(h.records.get('long')!.energyJ.total, 825);
    close(h.ledger.totals().unattributedJ, 300 + 300);
  });

  it('the default prompt-token weight is documented and used for the density', () => {
    expect(DEFAULT_PROMPT_TOKEN_WEIGHT).toBe(0.2);
    expect(tokenDensity(1000, 100, 2000, DEFAULT_PROMPT_TOKEN_WEIGHT)).toBeCloseTo((0.2 * 1000 + 100) / 2000, 12);
    expect(tokenDensity(undefined, undefined, 2000, 0.2)).toBeUndefined();
    expect(tokenDensity(10, undefined, 2000, 0.2)).toBeCloseTo(0.001, 12);
  });
});

describe('ledger: amortize idle policy, by hand', () => {
  it('spreads a window-of-time\'s idle energy over the requests that ended in it, by active energy', () => {
    const h = harness([device('gpu0')], { policy: 'time', idle: 'amortize', amortizeWindowMs: 10_000 });
    feedConstant(h.timeline, 'gpu0', 300, 0, 9000, 100);
    h.ledger.open({ id: 'a', pool: 'default', startMs: 1000 }).end({ endMs: 3000, outcome: 'ok' });
    h.ledger.open({ id: 'b', pool: 'default', startMs: 5000 }).end({ endMs: 6000, outcome: 'ok' });
    h.ledger.advance();
    // The 10 s window [0,10) s has not closed yet: both pending.
    expect(h.ledger.pending('a')).toBeDefined();
    feedConstant(h.timeline, 'gpu0', 300, 9100, 20_000, 100);
    h.ledger.advance();
    const a = h.records.get('a')!;
    const b = h.records.get('b')!;
    // Window [0,10) s: 3000 J measured; active a 600 J, b 300 J; idle 2100 J → a 2100 × 600/900 = 1400 J,
    // b 700 J. Window [10,20) s: nobody ended in it → its 3000 J stay unattributed.
    close(a.idleShareJ, 1400);
    close(a.energyJ.total, 2000);
    close(b.idleShareJ, 700);
    close(b.energyJ.total, 1000);
    expect(a.complete && b.complete).toBe(true);
    const t = h.ledger.totals();
    close(t.measuredJ, 6000);
    close(t.unattributedJ, 3000);
    close(t.attributedJ, 3000);
  });
});

describe('ledger: faults', () => {
  it('a sensor that stops mid-request: complete:false after lagBoundMs with the energy that existed; conservation holds', () => {
    const h = harness([device('gpu0')], { policy: 'time', idle: 'unattributed', lagBoundMs: 5000 });
    feedConstant(h.timeline, 'gpu0', 300, 0, 2000, 100); // the sensor stops at 2 s
    const a = h.ledger.open({ id: 'a', pool: 'default', startMs: 1000 });
    h.clock.advance(3000);
    a.end({ endMs: 3000, outcome: 'ok' });
    h.ledger.advance();
    h.clock.advance(4000); // 7 s: 4 s past the end, inside the bound
    expect(h.ledger.pending('a')).toBeDefined();
    h.clock.advance(1500); // 8.5 s: past end + 5 s; the ledger's timer finalises it
    const rec = h.records.get('a')!;
    expect(rec.complete).toBe(false);
    // Only [1,2] s existed: 300 J.
    close(rec.energyJ.total, 300);
    let t = h.ledger.totals();
    close(t.measuredJ, 600);
    close(t.attributedJ + t.unattributedJ, t.measuredJ);
    // The sensor comes back: [2,3] s of a's window now goes to the unattributed total, not lost.
    feedConstant(h.timeline, 'gpu0', 300, 2100, 6000, 100);
    h.ledger.advance();
    t = h.ledger.totals();
    close(t.measuredJ, 1800);
    close(t.attributedJ, 300);
    close(t.unattributedJ, 1500);
    expect(h.records.size).toBe(1);
  });

  it('flush finalises open and uncovered windows with what exists (complete:false) and conserves energy', () => {
    const h = harness([device('gpu0')], { policy: 'tokens', idle: 'amortize', amortizeWindowMs: 10_000 });
    feedConstant(h.timeline, 'gpu0', 300, 0, 2000, 100);
    h.ledger.open({ id: 'open', pool: 'default', startMs: 500 });
    h.ledger.open({ id: 'done', pool: 'default', startMs: 1000 }).end({ endMs: 1500, outcome: 'ok' });
    h.ledger.advance();
    h.ledger.flush();
    expect(h.records.get('open')!.complete).toBe(false);
    expect(h.records.get('open')!.outcome).toBe('aborted');
    // Window [0,10) s was still open at flush: done's idle share is partial, so complete:false too.
    expect(h.records.get('done')!.complete).toBe(false);
    const t = h.ledger.totals();
    close(t.attributedJ + t.unattributedJ, 600);
    close(t.pendingJ!, 0);
  });

  it('a request for an unknown pool is recorded with 0 J and complete:false, never thrown', () => {
    const h = harness([device('gpu0')], { policy: 'time', idle: 'unattributed' });
    h.ledger.open({ id: 'x', pool: 'nope', startMs: 0 }).end({ endMs: 10, outcome: 'error' });
    expect(h.records.get('x')!.complete).toBe(false);
    expect(h.records.get('x')!.energyJ.total).toBe(0);
    expect(h.ledger.stats().unknownPool).toBe(1);
  });
});

describe('ledger: bounds and edge cases', () => {
  it('tokens: a window open for a long time holds at most maxHeldSegments segments; the rest are split as time shares, conserving energy', () => {
    const h = harness([device('gpu0')], { policy: 'tokens', idle: 'unattributed', maxHeldSegments: 50 });
    const long = h.ledger.open({ id: 'long', pool: 'default', startMs: 0 });
    let maxHeld = 0;
    for (let i = 0; i < 500; i++) {
      const t = i * 20;
      h.timeline.append({ device: 'gpu0', tMs: t, energyJ: 0.3 * t });
      const w = h.ledger.open({ id: `s${i}`, pool: 'default', startMs: t + 1 });
      w.update({ completionTokens: 10 });
      w.end({ endMs: t + 11, outcome: 'ok' });
      h.ledger.advance();
      maxHeld = Math.max(maxHeld, h.ledger.stats().heldSegments);
    }
    expect(maxHeld).toBeLessThanOrEqual(51);
    expect(h.ledger.stats().forcedSplits).toBeGreaterThan(0);
    // Split before `long` ended, so those short requests are final already.
    expect(h.records.size).toBeGreaterThan(400);
    long.end({ endMs: 10_000, outcome: 'ok' });
    h.timeline.append({ device: 'gpu0', tMs: 10_000, energyJ: 3000 });
    h.ledger.advance();
    expect(h.records.size).toBe(501);
    const t = h.ledger.totals();
    close(t.measuredJ, 3000);
    close(t.attributedJ + t.unattributedJ, 3000);
  });

  it('tokens: a segment is split once held longer than maxHoldMs', () => {
    const h = harness([device('gpu0')], { policy: 'tokens', idle: 'unattributed', maxHoldMs: 1000 });
    feedConstant(h.timeline, 'gpu0', 300, 0, 3000, 100);
    h.ledger.open({ id: 'long', pool: 'default', startMs: 0 });
    const s = h.ledger.open({ id: 's', pool: 'default', startMs: 1000 });
    s.end({ endMs: 2000, outcome: 'ok' });
    h.ledger.advance();
    expect(h.records.has('s')).toBe(false);
    h.clock.advance(2500); // the ledger's timer checks held segments at least once a second
    // Both unknown-token (time share) for [1,2] s: 150 J.
    close(h.records.get('s')!.energyJ.total, 150);
    expect(h.ledger.stats().forcedSplits).toBeGreaterThan(0);
  });

  it('time: a window open for a long time holds nothing, whatever the traffic around it', () => {
    const h = harness([device('gpu0')], { policy: 'time', idle: 'unattributed' });
    h.ledger.open({ id: 'long', pool: 'default', startMs: 0 });
    for (let i = 0; i < 1000; i++) {
      const t = i * 10;
      h.timeline.append({ device: 'gpu0', tMs: t, energyJ: 0.3 * t });
      h.ledger.open({ id: `s${i}`, pool: 'default', startMs: t + 1 }).end({ endMs: t + 6, outcome: 'ok' });
      h.ledger.advance();
      expect(h.ledger.stats().heldSegments).toBe(0);
    }
    expect(h.ledger.stats().pendingWindows).toBeLessThanOrEqual(2);
  });

  it('a request that started before the timeline had data is clamped to it and marked complete:false', () => {
    const h = harness([device('gpu0')], { policy: 'time', idle: 'unattributed' });
    feedConstant(h.timeline, 'gpu0', 300, 1000, 5000, 100);
    h.ledger.open({ id: 'early', pool: 'default', startMs: 0 }).end({ endMs: 2000, outcome: 'ok' });
    h.ledger.advance();
    const r = h.records.get('early')!;
    expect(r.complete).toBe(false);
    close(r.energyJ.total, 300); // only [1,2] s was measured
    expect(h.ledger.stats().lateEvents).toBe(1);
  });

  it('a listener that throws does not stop the others or the ledger', () => {
    const h = harness([device('gpu0')], { policy: 'time', idle: 'unattributed' });
    const seen: string[] = [];
    h.ledger.onFinal(() => { throw new Error('boom'); });
    const off = h.ledger.onFinal((r) => seen.push(r.id));
    feedConstant(h.timeline, 'gpu0', 300, 0, 5000, 100);
    h.ledger.open({ id: 'a', pool: 'default', startMs: 1000.7 }).end({ endMs: 1500, outcome: 'ok' });
    h.ledger.advance();
    expect(seen).toEqual(['a']);
    expect(h.records.get('a')!.startedAt).toBe('2026-01-01T00:00:01.000Z');
    off();
    h.ledger.open({ id: 'b', pool: 'default', startMs: 2000 }).end({ endMs: 2500, outcome: 'ok' });
    h.ledger.advance();
    expect(seen).toEqual(['a']);
    expect(h.records.has('b')).toBe(true);
  });

  it('updates after end and a second end are ignored; tokens reported before end are kept', () => {
    const h = harness([device('gpu0')], { policy: 'tokens', idle: 'unattributed' });
    feedConstant(h.timeline, 'gpu0', 300, 0, 5000, 100);
    const w = h.ledger.open({ id: 'a', pool: 'default', startMs: 1000, model: 'm1', tenant: 't' });
    w.firstByte(1100);
    w.update({ model: 'm2', promptTokens: 12, completionTokens: 34 });
    w.end({ endMs: 2000, outcome: 'ok', status: 200 });
    w.update({ completionTokens: 99 });
    w.end({ endMs: 3000, outcome: 'error' });
    h.ledger.advance();
    const r = h.records.get('a')!;
    expect(r).toMatchObject({ model: 'm2', tenant: 't', promptTokens: 12, completionTokens: 34, ttfbMs: 100, endMs: 2000, outcome: 'ok', status: 200 });
    expect(h.ledger.stats().ignoredCalls).toBe(2);
  });

  for (const policy of ['time', 'tokens'] as const) {
    it(`${policy}: records are delivered once the ledger call that made them is done, so a listener may open and end windows (every record once, energy conserved)`, () => {
      const h = harness([device('gpu0')], { policy, idle: 'unattributed' });
      let inListener = 0;
      let nested = 0;
      h.ledger.onFinal((r) => {
        inListener++;
        // A follow-up request for each of the first ones, opened and ended from inside the listener.
        if (r.id.startsWith('a')) {
          // After what the ledger has processed (sampled every 100 ms), so not clamped.
          const w = h.ledger.open({ id: `b${r.id.slice(1)}`, pool: 'default', startMs: r.endMs + 200 });
          w.update({ promptTokens: 5, completionTokens: 7 });
          w.end({ endMs: r.endMs + 500, outcome: 'ok' });
          nested++;
        }
        inListener--;
      });
      for (let i = 0; i < 20; i++) {
        const w = h.ledger.open({ id: `a${i}`, pool: 'default', startMs: 500 + i * 300 });
        w.update({ promptTokens: i, completionTokens: 3 * i });
        w.end({ endMs: 900 + i * 300, outcome: 'ok' });
      }
      for (let t = 0; t <= 10_000; t += 100) {
        feedConstant(h.timeline, 'gpu0', 300, t, t, 100);
        h.ledger.advance();
      }
      expect(nested).toBe(20);
      expect(inListener).toBe(0);
      expect(h.records.size).toBe(40);
      for (let i = 0; i < 20; i++) expect(h.records.get(`b${i}`)!.complete).toBe(true);
      const t = h.ledger.totals();
      close(t.attributedJ + t.unattributedJ, t.measuredJ);
      close([...h.records.values()].reduce((s, r) => s + r.energyJ.total, 0), t.attributedJ);
    });
  }
});
