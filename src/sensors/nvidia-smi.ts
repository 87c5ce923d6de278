/**
 * GPU power through one long-lived nvidia-smi child (docs/sensors.md):
 *   nvidia-smi --query-gpu=<fields> --format=csv,noheader,nounits -lms <intervalMs>
 * read line by line and buffered until the sampler drains it. Never one spawn per sample: a spawn costs
 * 2–400 ms and has hung GPUs in peers' deployments.
 *
 * Start-up (the trial read): one query of every field we would like; a driver that does not know a field
 * rejects the whole query (`Field "x" is not a valid field to query.`, exit status 2), so the rejected
 * field is dropped and the query retried. `power.draw.instant` is preferred: `power.draw` is a one-second
 * average on Ampere and newer (nvidia-smi --help-query-gpu, driver 530+). The rows of that query are the
 * devices: one per physical GPU, which is also what `--query-gpu` lists under MIG (the power belongs to the
 * board, not to a MIG instance; captures linux-x86_64__nvidia-h100-mig / h200-mig).
 *
 * Failure handling: the child is restarted with exponential back-off when it exits; a watchdog kills and
 * replaces it when it prints nothing for `silentAfterMs` (a wedged driver is a real failure mode); garbage
 * lines are counted (`parse`) and skipped. The watchdog and back-off run on the injected clock.
 *
 * One file over 400 lines: the trial read, the child's restarts, the watchdog and the line parser share
 * one child's state (its fields, its buffer, its back-off), and each step decides what the next one may do.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Clock } from '../core/clock.js';
import { errnoCode, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { GpuInventoryEntry } from './gpu-inventory.js';
import { createHealthTracker } from './health.js';
import { createLineSplitter, parseInvalidField, parseQueryNumber, splitQueryRow } from './nvidia-smi-csv.js';
import { isAbsentToken, type DeviceInfo, type ProbeResult, type Reading, type Sensor } from './types.js';

export interface NvidiaSmiOptions {
  /** The nvidia-smi binary; default `nvidia-smi` from PATH. */
  readonly path?: string;
  readonly intervalMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Kill and restart the child after this long without output; default max(5 s, 10 × intervalMs). */
  readonly silentAfterMs?: number;
  /** A GPU without a power reading is estimated from utilization.gpu × power limit; default true. */
  readonly estimateWhenNoPower?: boolean;
  /** From readGpuInventory(): fills names, driver and power limits the query lacks. */
  readonly inventory?: readonly GpuInventoryEntry[];
  /** Restart back-off: first delay, doubled per failure up to the cap; default 1 s → 60 s. */
  readonly restartBackoffMs?: { readonly initialMs: number; readonly maxMs: number };
  /** The start-up queries give up after this long; default 15 s. */
  readonly probeTimeoutMs?: number;
  /** Readings kept while nobody calls read(); the oldest are dropped beyond it. Default 100 000. */
  readonly maxBufferedReadings?: number;
}

/** Fields asked at start-up, in this order; `name` last because only free text could hold a comma. */
const PROBE_FIELDS = [
  'index', 'uuid', 'driver_version', 'mig.mode.current', 'utilization.gpu',
  'enforced.power.limit', 'power.limit', 'power.draw.instant', 'power.draw', 'name',
] as const;
type ProbeField = (typeof PROBE_FIELDS)[number];
const POWER_FIELDS = ['power.draw.instant', 'power.draw'] as const;
const LIMIT_FIELDS = ['enforced.power.limit', 'power.limit'] as const;
/**
 * What nvidia-smi prints in place of a row for a GPU that fell off the bus (Xid 79), e.g.
 * `Unable to determine the device handle for GPU0000:3B:00.0: Unknown Error` / `… GPU is lost. Reboot …`.
 */
// Formats seen in NVIDIA/open-gpu-kernel-modules#387 and JosephKJ/OWOD#81.
const GPU_LOST = /Unable to determine the device handle|GPU is lost/;

interface GpuState {
  readonly info: DeviceInfo;
  readonly estimated: boolean;
  /** Column indexes in the streaming query, preferred first. */
  readonly powerCols: readonly number[];
  /** Limit used when the streamed row has none (from the trial read or the inventory). */
  readonly fallbackLimitW: number | undefined;
}

export async function probeNvidiaSmi(opts: NvidiaSmiOptions): Promise<ProbeResult> {
  const path = opts.path ?? 'nvidia-smi';
  const log = opts.logger; // the caller names the component (discovery passes logger.child('nvidia-smi'))
  const fail = (reason: string): ProbeResult => ({ ok: false, name: 'nvidia-smi', reason });
  if (!(opts.intervalMs > 0)) return fail(`invalid interval ${opts.intervalMs} ms`);
  const probeTimeoutMs = opts.probeTimeoutMs ?? 15_000;

  // 1. Which fields does this driver know? Drop each rejected one and ask again.
  let fields: ProbeField[] = [...PROBE_FIELDS];
  const rejected: string[] = [];
  let stdout: string;
  for (;;) {
    const r = await runOnce(path, [`--query-gpu=${fields.join(',')}`, '--format=csv,noheader,nounits'], opts.clock, probeTimeoutMs);
    if (r.spawnError !== undefined) {
      const code = errnoCode(r.spawnError);
      if (code === 'ENOENT') return fail(`${path} not found (is the NVIDIA driver installed? set --nvidia-smi PATH)`);
      if (code === 'EACCES') return fail(`${path} is not executable (EACCES)`);
      return fail(`${path} could not be started: ${errorMessage(r.spawnError)}`);
    }
    if (r.timedOut) return fail(`${path} did not answer within ${probeTimeoutMs} ms (a wedged driver?)`);
    if (r.code === 0) { stdout = r.stdout; break; }
    const bad = parseInvalidField(r.stdout + '\n' + r.stderr);
    if (bad !== undefined && bad !== 'index' && (fields as string[]).includes(bad)) {
      rejected.push(bad);
      fields = fields.filter((f) => f !== bad);
      continue;
    }
    return fail(`${path} ${r.signal ? `was killed by ${r.signal}` : `exited with status ${r.code}`}: ${firstLine(r.stdout || r.stderr) || 'no output'}`);
  }
  const has = (f: ProbeField) => fields.includes(f);
  const powerFields = POWER_FIELDS.filter(has);
  const limitFields = LIMIT_FIELDS.filter(has);
  const canEstimate = (opts.estimateWhenNoPower ?? true) && has('utilization.gpu');
  if (powerFields.length === 0 && !canEstimate) return fail('this nvidia-smi rejects power.draw.instant and power.draw');
  if (rejected.length) log.info('fields this driver does not know were dropped', { rejected });
  if (!has('power.draw.instant') && has('power.draw')) {
    log.warn('power.draw.instant not supported by this driver; using power.draw (a 1 s average on Ampere and newer)');
  }

  // 2. The trial read's rows are the devices.
  const col = (f: string) => (fields as string[]).indexOf(f);
  const pick = (row: string[], names: readonly string[]): { value: number; field: string } | undefined => {
    for (const n of names) {
      const v = parseQueryNumber(row[col(n)] ?? '');
      if (v !== undefined && Number.isFinite(v) && v >= 0) return { value: v, field: n };
    }
    return undefined;
  };
  const trial: { row: string[]; index: number }[] = [];
  let skipped: string | undefined;
  for (const raw of stdout.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') continue;
    const row = splitQueryRow(line, fields.length, true);
    const index = row ? Number(row[0]) : Number.NaN;
    if (!row || !Number.isInteger(index) || index < 0) {
      // A GPU in a bad state prints a message instead of its row; the others can still be measured.
      skipped ??= line.slice(0, 160);
      log.warn(GPU_LOST.test(line) ? 'a GPU is lost; left out' : 'unexpected nvidia-smi line; skipped', { line: line.slice(0, 160) });
      continue;
    }
    trial.push({ row, index });
  }
  if (trial.length === 0) return fail(skipped === undefined ? 'nvidia-smi lists no GPU' : `no GPU row from nvidia-smi: ${skipped}`);

  // The streaming query: index first, then power, then what estimation needs; all numeric, no text.
  const estimateNeeded: boolean[] = trial.map(({ row }) => pick(row, powerFields) === undefined);
  const streamFields: string[] = ['index', ...powerFields];
  if (canEstimate && estimateNeeded.some(Boolean)) streamFields.push('utilization.gpu', ...limitFields);
  const sCol = (f: string) => streamFields.indexOf(f);

  const gpus = new Map<number, GpuState>();
  const leftOut = new Set<number>();
  for (const { row, index } of trial) {
    const get = (f: ProbeField) => (has(f) ? row[col(f)] : undefined);
    const uuid = clean(get('uuid'));
    const inv = opts.inventory?.find((e) => (uuid !== undefined && e.uuid === uuid)) ??
      opts.inventory?.find((e) => e.index === index && (uuid === undefined || e.uuid === undefined));
    const name = clean(get('name')) ?? inv?.name ?? `GPU ${index}`;
    const driver = clean(get('driver_version')) ?? inv?.driver;
    const limit = pick(row, limitFields)?.value ?? inv?.powerLimitW;
    const mig = clean(get('mig.mode.current')) === 'Enabled' || inv?.migEnabled === true;
    const power = pick(row, powerFields);
    const util = parseQueryNumber(get('utilization.gpu') ?? '');
    const notes: string[] = [];
    if (mig) notes.push('MIG enabled: power of the physical GPU, shared by its MIG instances');
    let estimated = false;
    if (power) {
      if (power.field === 'power.draw') notes.push('power.draw: a 1 s average on Ampere and newer (power.draw.instant unavailable)');
    } else if (canEstimate && limit !== undefined && limit > 0 && util !== undefined && Number.isFinite(util)) {
      estimated = true;
      notes.push(`no power reading: estimated from utilization.gpu × power limit (${limit} W)`);
    } else {
      const why = !canEstimate ? 'estimation disabled or utilization.gpu unsupported'
        : limit === undefined || limit <= 0 ? 'no power limit either' : 'no utilization.gpu either';
      log.warn(`gpu${index} (${name}) reports no power draw (${why}); left out`, inv?.vgpu ? { vgpu: true } : undefined);
      leftOut.add(index);
      continue;
    }
    const info: DeviceInfo = {
      id: `gpu${index}`, kind: 'gpu', method: estimated ? 'estimated' : 'integrated', sensor: 'nvidia-smi', name,
      ...(uuid !== undefined ? { uuid } : {}),
      ...(driver !== undefined ? { driver } : {}),
      ...(limit !== undefined ? { powerLimitW: limit } : {}),
      ...(notes.length ? { notes } : {}),
    };
    // Each device reads its own field first (the one its trial row had), the other as a fallback.
    const order = power ? [power.field, ...powerFields.filter((f) => f !== power.field)] : [...powerFields];
    gpus.set(index, { info, estimated, powerCols: order.map(sCol), fallbackLimitW: limit });
  }
  if (gpus.size === 0) return fail(`no GPU reports power (${trial.length} found; see the warnings)`);

  const sensor = startStreaming({
    path, log, clock: opts.clock, intervalMs: opts.intervalMs, streamFields, gpus, leftOut,
    silentAfterMs: opts.silentAfterMs ?? Math.max(5_000, 10 * opts.intervalMs),
    backoff: opts.restartBackoffMs ?? { initialMs: 1_000, maxMs: 60_000 },
    maxBuffered: opts.maxBufferedReadings ?? 100_000,
    utilCol: sCol('utilization.gpu'), limitCols: limitFields.map(sCol).filter((c) => c >= 0),
  });
  log.info('nvidia-smi sensor started', { gpus: [...gpus.keys()].map((i) => `gpu${i}`), fields: streamFields });
  return { ok: true, sensor };
}

interface StreamOptions {
  path: string; log: Logger; clock: Clock; intervalMs: number; streamFields: string[];
  gpus: Map<number, GpuState>; leftOut: Set<number>; silentAfterMs: number;
  backoff: { initialMs: number; maxMs: number }; maxBuffered: number; utilCol: number; limitCols: number[];
}

interface ChildState { proc: ChildProcess; startedMs: number; lastOutputMs: number; abandoned: boolean; stderrTail: string }

function startStreaming(o: StreamOptions): Sensor {
  const { clock, log } = o;
  const health = createHealthTracker(true);
  const devices = [...o.gpus.values()].map((g) => g.info);
  const args = [`--query-gpu=${o.streamFields.join(',')}`, '--format=csv,noheader,nounits', '-lms', String(Math.round(o.intervalMs))];
  const nCols = o.streamFields.length;
  // A child that ran this long before dying counts as healthy: the back-off starts over.
  const stableAfterMs = Math.max(30_000, 10 * o.intervalMs);
  let buffer: Reading[] = [];
  let current: ChildState | undefined;
  const live = new Set<ChildState>();
  let closed = false;
  let closing: Promise<void> | undefined;
  let nextDelayMs = o.backoff.initialMs;
  let cancelRestart: (() => void) | undefined;
  let cancelWatchdog: (() => void) | undefined;

  const parseError = (msg: string, line: string) => {
    health.count('parse', msg);
    log.rateLimited('warn', 'parse', msg, { line: line.slice(0, 120) });
  };

  const onLine = (line: string, tMs: number) => {
    if (line === '') return;
    const row = splitQueryRow(line, nCols);
    const index = row ? Number(row[0]) : Number.NaN;
    if (!row || !Number.isInteger(index)) {
      if (!GPU_LOST.test(line)) return parseError('unparseable nvidia-smi line', line);
      health.count('gpu_lost', line.slice(0, 160));
      log.rateLimited('error', 'gpu-lost', 'nvidia-smi reports a lost GPU', { line: line.slice(0, 160) });
      return;
    }
    const gpu = o.gpus.get(index);
    if (!gpu) {
      if (!o.leftOut.has(index)) log.rateLimited('debug', 'unknown-gpu', 'line for a GPU not seen at start-up', { index });
      return;
    }
    let powerW: number | undefined;
    let garbage = false;
    if (!gpu.estimated) {
      for (const c of gpu.powerCols) {
        const v = parseQueryNumber(row[c]!);
        if (v === undefined) continue; // absent: try the other field, else no reading (never 0 W)
        if (!Number.isFinite(v) || v < 0) { garbage = true; continue; }
        powerW = v;
        break;
      }
    } else {
      const util = parseQueryNumber(row[o.utilCol] ?? '');
      let limit: number | undefined;
      for (const c of o.limitCols) {
        const v = parseQueryNumber(row[c]!);
        if (v !== undefined && Number.isFinite(v) && v > 0) { limit = v; break; }
      }
      limit ??= gpu.fallbackLimitW;
      if (util !== undefined && !Number.isFinite(util)) garbage = true;
      else if (util !== undefined && limit !== undefined) powerW = (Math.min(Math.max(util, 0), 100) / 100) * limit;
    }
    if (powerW === undefined) {
      if (garbage) parseError('unparseable value in nvidia-smi line', line);
      return;
    }
    chunkRows.push({ device: gpu.info.id, tMs, powerW });
  };

  /**
   * Stamps the rows of one chunk and buffers them. Rows normally arrive one sample at a time, stamped on
   * arrival. When the event loop was busy, several samples of a GPU queue up in the pipe and arrive
   * together: stamping them all at arrival would give equal times (the timeline drops all but the first
   * as out of order, keeping the stalest value). nvidia-smi printed them intervalMs apart, so they are
   * spaced by that much back from the arrival, and never at or before the GPU's previous reading.
   */
  const chunkRows: { device: string; tMs: number; powerW: number }[] = [];
  const lastStampMs = new Map<string, number>();
  const perDevice = new Map<string, number>();
  const seen = new Map<string, number>();
  const flushChunk = (tMs: number) => {
    if (chunkRows.length === 0) return;
    perDevice.clear();
    seen.clear();
    for (const r of chunkRows) perDevice.set(r.device, (perDevice.get(r.device) ?? 0) + 1);
    for (const r of chunkRows) {
      const k = perDevice.get(r.device)!;
      const j = seen.get(r.device) ?? 0;
      seen.set(r.device, j + 1);
      if (k > 1) {
        const last = lastStampMs.get(r.device);
        let t = tMs - (k - 1 - j) * o.intervalMs;
        if (last !== undefined && t <= last) t = last + ((tMs - last) * (j + 1)) / k;
        r.tMs = t;
      }
      lastStampMs.set(r.device, r.tMs);
      if (buffer.length >= o.maxBuffered) {
        buffer.splice(0, buffer.length - o.maxBuffered + 1);
        log.rateLimited('warn', 'buffer', 'nvidia-smi readings not drained; dropping the oldest', { max: o.maxBuffered });
      }
      buffer.push(r);
    }
    chunkRows.length = 0;
    health.ok(tMs);
  };

  const armWatchdog = (delayMs: number) => {
    cancelWatchdog?.();
    cancelWatchdog = clock.setTimer(checkSilence, delayMs);
  };
  function checkSilence() {
    cancelWatchdog = undefined;
    const c = current;
    if (closed || !c) return;
    const silentMs = clock.nowMs() - c.lastOutputMs;
    if (silentMs < o.silentAfterMs) return armWatchdog(o.silentAfterMs - silentMs);
    const msg = `nvidia-smi printed nothing for ${Math.round(silentMs)} ms; killing and restarting it`;
    health.fail('silent', msg);
    log.warn(msg);
    // Abandon it rather than wait for its exit: a child wedged in the driver may never exit.
    c.abandoned = true;
    current = undefined;
    c.proc.kill('SIGKILL');
    scheduleRestart(c.startedMs);
  }

  function scheduleRestart(startedMs: number) {
    if (closed) return;
    if (clock.nowMs() - startedMs >= stableAfterMs) nextDelayMs = o.backoff.initialMs;
    const delay = nextDelayMs;
    nextDelayMs = Math.min(nextDelayMs * 2, o.backoff.maxMs);
    cancelRestart?.();
    cancelRestart = clock.setTimer(() => {
      cancelRestart = undefined;
      if (closed) return;
      health.count('restart');
      log.info('restarting nvidia-smi', { afterMs: delay });
      spawnChild();
    }, delay);
  }

  function spawnChild() {
    let proc: ChildProcess;
    try {
      proc = spawn(o.path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      // spawn throws synchronously only for invalid arguments; treat it like an immediate exit.
      health.fail('exited', `nvidia-smi could not be started: ${errorMessage(err)}`);
      scheduleRestart(clock.nowMs());
      return;
    }
    const now = clock.nowMs();
    const c: ChildState = { proc, startedMs: now, lastOutputMs: now, abandoned: false, stderrTail: '' };
    current = c;
    live.add(c);
    let tMs = now;
    const splitter = createLineSplitter((line) => onLine(line, tMs), () => parseError('overlong nvidia-smi line', ''));
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (chunk: string) => {
      // Lines that arrive together were printed together: one timestamp per chunk, taken on arrival.
      tMs = clock.nowMs();
      c.lastOutputMs = tMs;
      splitter.push(chunk);
      flushChunk(tMs);
    });
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (chunk: string) => { c.stderrTail = (c.stderrTail + chunk).slice(-400); });
    let ended = false;
    const onEnd = (why: string) => {
      if (ended) return;
      ended = true;
      live.delete(c);
      if (current === c) current = undefined;
      if (closed || c.abandoned) return;
      const detail = firstLine(c.stderrTail);
      const msg = `nvidia-smi ${why}${detail ? `: ${detail}` : ''}`;
      health.fail('exited', msg);
      log.rateLimited('warn', 'exited', msg, undefined, 10_000);
      scheduleRestart(c.startedMs);
    };
    proc.on('error', (err) => onEnd(`failed: ${errorMessage(err)}`));
    proc.on('exit', (code, signal) => onEnd(signal ? `was killed by ${signal}` : `exited with status ${code}`));
    armWatchdog(o.silentAfterMs);
  }

  spawnChild();

  return {
    name: 'nvidia-smi',
    devices: () => devices,
    async read() {
      if (buffer.length === 0) return [];
      const out = buffer;
      buffer = [];
      return out;
    },
    health: () => health.snapshot(),
    close() {
      if (closing) return closing;
      closed = true;
      cancelRestart?.();
      cancelWatchdog?.();
      health.setUp(false, 'closed');
      const waits = [...live].map((c) => stopChild(c.proc));
      current = undefined;
      closing = Promise.all(waits).then(() => undefined);
      return closing;
    },
  };
}

/** SIGTERM, then SIGKILL after a grace period; resolves when it exited (or could not be killed). */
function stopChild(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    // Real timers: close() must finish even under a fake clock that nobody advances.
    const kill = setTimeout(() => proc.kill('SIGKILL'), 2_000);
    const giveUp = setTimeout(done, 5_000); // wedged in the driver: even SIGKILL waits; do not hang shutdown
    function done() { clearTimeout(kill); clearTimeout(giveUp); resolve(); }
    proc.once('exit', done);
    proc.kill('SIGTERM');
  });
}

interface RunResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; timedOut: boolean; spawnError?: Error }

/** Runs nvidia-smi once at start-up, collecting its output; the timeout runs on the injected clock. */
function runOnce(path: string, args: string[], clock: Clock, timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    let proc: ChildProcess;
    const finish = (r: Omit<RunResult, 'stdout' | 'stderr' | 'timedOut'>) => {
      if (settled) return;
      settled = true;
      cancel();
      resolve({ ...r, stdout, stderr, timedOut });
    };
    try {
      proc = spawn(path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      resolve({ code: null, signal: null, stdout, stderr, timedOut, spawnError: err as Error });
      return;
    }
    const cancel = clock.setTimer(() => { timedOut = true; proc.kill('SIGKILL'); }, timeoutMs);
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => { if (stdout.length < 4 << 20) stdout += d; });
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => { if (stderr.length < 64 << 10) stderr += d; });
    proc.on('error', (err) => finish({ code: null, signal: null, spawnError: err }));
    proc.on('close', (code, signal) => finish({ code, signal }));
  });
}

/** A text value, or undefined when nvidia-smi printed an absent token for it. */
const clean = (v: string | undefined): string | undefined => (v === undefined || isAbsentToken(v) ? undefined : v.trim());
const firstLine = (s: string): string => s.trim().split('\n')[0]?.trim() ?? '';
