/**
 * The proxy's decode marks (src/proxy/window.ts), driven by hand on a fake clock: one per grid boundary
 * crossed by the chunks, at most two per write (the first boundary after the previous write and the last
 * one before this write), the grid doubling every 32 marks.
 */
import { describe, expect, it } from 'vitest';
import { createFakeClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { openWindow } from '../../src/proxy/window.js';
import { createRecordingTracker } from './recording-tracker.js';

function streamAt(times: number[]) {
  const clock = createFakeClock(0);
  const tracker = createRecordingTracker();
  const win = openWindow(tracker, clock, silentLogger, { id: 'r', pool: 'default', startMs: 0 });
  times.forEach((t, i) => {
    clock.advance(t - clock.nowMs());
    win.firstByte();
    win.chunks(i + 1);
  });
  win.end(clock.nowMs(), 200, 'ok');
  return tracker.windows[0]!;
}

describe('decode marks', () => {
  it('a chunk every 100 ms: a mark at each 250 ms boundary with the chunks read before it', () => {
    const w = streamAt([10, 110, 210, 310, 410, 510, 610]);
    expect(w.marks).toEqual([[250, 3], [500, 5]]);
  });

  it('a stall across several boundaries: the first one after the last chunk and the last one before the next', () => {
    const w = streamAt([10, 20, 1_010]);
    expect(w.marks).toEqual([[250, 2], [1_000, 2]]);
  });

  it('chunks within one grid step send no mark', () => {
    expect(streamAt([10, 50, 200]).marks).toEqual([]);
  });

  it('the grid doubles every 32 marks: a steady stream of 60 s sends 32 marks 250 ms apart, 32 500 ms apart, 32 1 s apart, then 2 s apart', () => {
    const w = streamAt(Array.from({ length: 600 }, (_, i) => 5 + 100 * i));
    const gaps = w.marks.slice(1).map(([t], i) => t - w.marks[i]![0]);
    expect(gaps.slice(0, 31).every((g) => g === 250)).toBe(true);
    expect(gaps.slice(32, 63).every((g) => g === 500)).toBe(true);
    expect(gaps.slice(64, 95).every((g) => g === 1_000)).toBe(true);
    expect(gaps.slice(95)).toEqual([2_000]);
    expect(w.marks.length).toBeLessThan(100);
    // Each count is the chunks read by the last write before its boundary.
    for (const [t, c] of w.marks) expect(c).toBe(Math.floor((t - 5) / 100) + 1);
  });

  it('a tracker that does not use decode marks (the ledger under `time` or `tokens`) gets none', () => {
    const clock = createFakeClock(0);
    const tracker = { ...createRecordingTracker(), decodeMarks: false };
    const win = openWindow(tracker, clock, silentLogger, { id: 'r', pool: 'default', startMs: 0 });
    win.firstByte();
    [1, 2, 3].forEach((n) => { clock.advance(300); win.chunks(n); });
    win.end(clock.nowMs(), 200, 'ok');
    expect(tracker.windows[0]!.marks).toEqual([]);
  });

  it('a count that does not change sends nothing, and nothing is sent after the end', () => {
    const clock = createFakeClock(0);
    const tracker = createRecordingTracker();
    const win = openWindow(tracker, clock, silentLogger, { id: 'r', pool: 'default', startMs: 0 });
    win.firstByte();
    win.chunks(1);
    clock.advance(600);
    win.chunks(1);
    win.end(clock.nowMs(), 200, 'ok');
    clock.advance(600);
    win.chunks(2);
    expect(tracker.windows[0]!.marks).toEqual([]);
    expect(tracker.windows[0]!.lateCalls).toBe(0);
  });
});
