import type { Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Reading, Sensor } from '../sensors/types.js';
import type { Sampler, SamplerOptions, SamplerStats } from './types.js';

/** stop() waits this long for reads in flight by default: long enough for a slow sysfs read or a pipe
 * drain, short enough that SIGTERM still exits promptly when a driver is wedged (docs/sensors.md). */
export const DEFAULT_STOP_TIMEOUT_MS = 5000;

export interface CreateSamplerOptions extends SamplerOptions {
  readonly clock: Clock;
  readonly logger: Logger;
}

/** One loop per sensor, so a slow or hung sensor never delays another. */
interface Loop {
  readonly sensor: Sensor;
  readonly intervalMs: number;
  /** The read in progress, if any; reads of one sensor never overlap. */
  inFlight: Promise<void> | undefined;
  cancelTimer: (() => void) | undefined;
  /** Monotonic time of the next scheduled tick. */
  nextDueMs: number;
  /** A tick came due while a read was running: start one as soon as it ends. */
  owed: boolean;
  ticks: number;
  overruns: number;
  errors: number;
  readings: number;
  lastTickDurationMs: number | undefined;
}

/**
 * The sampler (docs/sensors.md: sampling is decoupled from scraping): each sensor is read on its own cadence,
 * scheduled through the injected Clock, and its readings are appended to the timeline.
 *
 * Ticks are due at anchor + k × interval (no drift from timer lateness). When a tick comes due while the
 * sensor's previous read is still running, it is counted as an overrun and not started; when the read
 * ends, one delayed read starts at once and the schedule re-anchors on it. Missed ticks are not
 * replayed: a push sensor returns everything it buffered anyway, and a poll sensor's reading is current.
 * If the event loop itself held a timer back by a whole interval or more, the schedule re-anchors
 * instead of firing a burst of catch-up reads.
 *
 * read() is specified never to throw; a sensor that does anyway is caught, counted (`errors`) and logged
 * rate-limited, and its loop goes on. onSample listeners are called after each read that yielded
 * readings; their errors are caught and logged rate-limited too.
 */
export function createSampler(opts: CreateSamplerOptions): Sampler {
  const { clock, timeline } = opts;
  const log = opts.logger.child('sampler');
  const stopTimeoutMs = opts.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
  const listeners = new Set<() => void>();
  let running = false;

  const loops: Loop[] = opts.sensors.map((sensor) => {
    const raw = opts.intervalMs(sensor);
    let intervalMs = raw;
    if (!Number.isFinite(raw) || raw <= 0) {
      // A configuration slip must not become a busy loop; 1 s is slow but safe, and the warning says why.
      intervalMs = 1000;
      log.warn('invalid sampling interval, using 1000 ms', { sensor: sensor.name, intervalMs: String(raw) });
    }
    return {
      sensor, intervalMs, inFlight: undefined, cancelTimer: undefined, nextDueMs: 0, owed: false,
      ticks: 0, overruns: 0, errors: 0, readings: 0, lastTickDurationMs: undefined,
    };
  });
  const byName = new Map<string, Loop>();
  for (const loop of loops) if (!byName.has(loop.sensor.name)) byName.set(loop.sensor.name, loop);

  const notify = (): void => {
    for (const listener of listeners) {
      try {
        listener();
      } catch (err) {
        log.rateLimited('warn', 'listener', 'onSample listener threw', { error: errorMessage(err) });
      }
    }
  };

  const handle = (loop: Loop, readings: unknown): void => {
    if (!Array.isArray(readings)) {
      loop.errors++;
      log.rateLimited('warn', `bad-result:${loop.sensor.name}`, 'sensor read() did not return an array', { sensor: loop.sensor.name });
      return;
    }
    for (const r of readings as readonly Reading[]) {
      try {
        timeline.append(r);
      } catch (err) {
        // The timeline never throws; this guards a replaced one without stopping the loop.
        log.rateLimited('error', 'append', 'timeline.append threw', { error: errorMessage(err) });
      }
    }
    loop.readings += readings.length;
    if (readings.length > 0) notify();
  };

  /** Starts a read unless one is running; returns the read in progress either way. */
  const readOnce = (loop: Loop): Promise<void> => {
    if (loop.inFlight) return loop.inFlight;
    const startedMs = clock.nowMs();
    loop.ticks++;
    const p = (async () => {
      let readings: unknown;
      let ok = false;
      try {
        readings = await loop.sensor.read();
        ok = true;
      } catch (err) {
        loop.errors++;
        log.rateLimited('warn', `read-threw:${loop.sensor.name}`, 'sensor read() threw', {
          sensor: loop.sensor.name, error: errorMessage(err),
        });
      }
      loop.lastTickDurationMs = clock.nowMs() - startedMs;
      if (!ok) return;
      try {
        handle(loop, readings);
      } catch (err) {
        // handle() guards each step; this keeps a surprise from becoming an unhandled rejection.
        log.rateLimited('error', 'handle', 'handling readings failed', { sensor: loop.sensor.name, error: errorMessage(err) });
      }
    })().finally(() => {
      loop.inFlight = undefined;
      afterRead(loop);
    });
    loop.inFlight = p;
    return p;
  };

  const schedule = (loop: Loop): void => {
    loop.cancelTimer?.();
    loop.cancelTimer = clock.setTimer(() => onDue(loop), loop.nextDueMs - clock.nowMs());
  };

  const onDue = (loop: Loop): void => {
    loop.cancelTimer = undefined;
    if (!running) return;
    const now = clock.nowMs();
    loop.nextDueMs += loop.intervalMs;
    if (loop.nextDueMs <= now) loop.nextDueMs = now + loop.intervalMs; // timer held back: re-anchor, no burst
    if (loop.inFlight) {
      loop.overruns++;
      loop.owed = true;
      log.rateLimited('debug', `overrun:${loop.sensor.name}`, 'read still running when the next was due', {
        sensor: loop.sensor.name, intervalMs: loop.intervalMs, overruns: loop.overruns,
      });
    } else {
      void readOnce(loop);
    }
    schedule(loop);
  };

  const afterRead = (loop: Loop): void => {
    if (!running || !loop.owed) return;
    loop.owed = false;
    // The delayed tick: start now and count the cadence from here.
    loop.nextDueMs = clock.nowMs() + loop.intervalMs;
    void readOnce(loop);
    schedule(loop);
  };

  const statsOf = (loop: Loop): SamplerStats => ({
    ticks: loop.ticks,
    overruns: loop.overruns,
    lastTickDurationMs: loop.lastTickDurationMs,
    errors: loop.errors,
    readings: loop.readings,
  });

  return {
    start() {
      if (running) return;
      running = true;
      const now = clock.nowMs();
      for (const loop of loops) {
        loop.owed = false;
        // First read at once, so every series starts (and a counter has its baseline) without waiting.
        loop.nextDueMs = now + loop.intervalMs;
        if (!loop.inFlight) void readOnce(loop);
        schedule(loop);
      }
    },
    async stop() {
      running = false;
      for (const loop of loops) {
        loop.cancelTimer?.();
        loop.cancelTimer = undefined;
        loop.owed = false;
      }
      const pending = loops.flatMap((l) => (l.inFlight ? [l.inFlight] : []));
      if (pending.length === 0) return;
      let cancelWait: (() => void) | undefined;
      const timedOut = new Promise<boolean>((resolve) => {
        cancelWait = clock.setTimer(() => resolve(true), stopTimeoutMs);
      });
      const done = Promise.allSettled(pending).then(() => false);
      const late = await Promise.race([done, timedOut]);
      cancelWait?.();
      if (late) {
        const stuck = loops.filter((l) => l.inFlight !== undefined).map((l) => l.sensor.name);
        log.warn('stopped without waiting for reads still running', { sensors: stuck.join(','), stopTimeoutMs });
      }
    },
    async tick() {
      await Promise.all(loops.map((loop) => readOnce(loop)));
    },
    stats(sensor) {
      if (sensor !== undefined) {
        const loop = byName.get(sensor);
        return loop ? statsOf(loop) : { ticks: 0, overruns: 0, lastTickDurationMs: undefined, errors: 0, readings: 0 };
      }
      let ticks = 0;
      let overruns = 0;
      let errors = 0;
      let readings = 0;
      let last: number | undefined;
      for (const l of loops) {
        ticks += l.ticks;
        overruns += l.overruns;
        errors += l.errors;
        readings += l.readings;
        if (l.lastTickDurationMs !== undefined && (last === undefined || l.lastTickDurationMs > last)) last = l.lastTickDurationMs;
      }
      return { ticks, overruns, lastTickDurationMs: last, errors, readings };
    },
    onSample(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}
