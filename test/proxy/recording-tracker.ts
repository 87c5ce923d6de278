/**
 * A RequestTracker that records every call, for the proxy and middleware tests (the ledger is tested on
 * its own). `windowsEnded(n)` resolves once n windows have ended.
 */
import type { RequestTracker, WindowEnd, WindowStart, WindowUpdate } from '../../src/attribution/types.js';
import type { RequestNote, RequestNoteSink } from '../../src/core/request-notes.js';

export interface RecordedWindow {
  start: WindowStart;
  firstByteMs: number | undefined;
  /** Decode marks, [time, chunks by then], in the order sent. */
  marks: [number, number][];
  updates: WindowUpdate[];
  /** The updates merged, later values winning. */
  merged: WindowUpdate;
  end: WindowEnd | undefined;
  /** Calls after end (should never happen). */
  lateCalls: number;
}

export interface RecordingTracker extends RequestTracker, RequestNoteSink {
  readonly windows: RecordedWindow[];
  /** The notes given per request id (trace context, why the outcome was not ok). */
  readonly notes: Map<string, RequestNote>;
  byId(id: string): RecordedWindow | undefined;
  windowsEnded(n: number): Promise<void>;
}

export function createRecordingTracker(): RecordingTracker {
  const windows: RecordedWindow[] = [];
  const byId = new Map<string, RecordedWindow>();
  const notes = new Map<string, RequestNote>();
  let ended = 0;
  let waiters: { n: number; resolve: () => void }[] = [];
  const check = () => {
    waiters = waiters.filter((w) => (ended >= w.n ? (w.resolve(), false) : true));
  };
  return {
    windows,
    notes,
    note(id, n) {
      // Given before the window's end, as the ledger needs it.
      if (byId.get(id)?.end) byId.get(id)!.lateCalls++;
      notes.set(id, n);
    },
    decodeMarks: true,
    byId: (id) => byId.get(id),
    inFlight: () => windows.length - ended,
    windowsEnded(n) {
      return new Promise((resolve) => {
        waiters.push({ n, resolve });
        check();
      });
    },
    open(start) {
      const w: RecordedWindow = { start, firstByteMs: undefined, marks: [], updates: [], merged: {}, end: undefined, lateCalls: 0 };
      windows.push(w);
      byId.set(start.id, w);
      return {
        id: start.id,
        firstByte(t) {
          if (w.end) w.lateCalls++;
          w.firstByteMs ??= t;
        },
        progress(t, chunks) {
          if (w.end) w.lateCalls++;
          w.marks.push([t, chunks]);
        },
        update(u) {
          if (w.end) w.lateCalls++;
          w.updates.push(u);
          w.merged = { ...w.merged, ...u };
        },
        end(e) {
          if (w.end) {
            w.lateCalls++;
            return;
          }
          w.end = e;
          ended++;
          check();
        },
      };
    },
  };
}
