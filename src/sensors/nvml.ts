/**
 * The `nvml` sensor: GPU energy straight from libnvidia-ml through FFI, with no child process.
 *
 * Per GPU, chosen at probe time by a trial read (docs/nvml.md):
 * - `counter`: nvmlDeviceGetTotalEnergyConsumption (mJ since the driver loaded; Volta and newer), made
 *   cumulative since the sensor started. A counter that goes down (driver reload, GPU reset) is a reset
 *   of unknown range: that delta is dropped and counted (`reset`). nvmlDeviceGetPowerUsage is reported
 *   alongside as `powerW` when it answers. The counter itself only moves every few tens of ms, so a
 *   window shorter than that is interpolated between counter updates.
 * - `integrated`: no counter (older GPU, older driver without the symbol, or preferCounter false):
 *   nvmlDeviceGetPowerUsage as a gauge, integrated by the timeline.
 * - `estimated`: neither reported, but utilization and the power limit are: utilization.gpu × limit
 *   (as docs/sensors.md says for nvidia-smi). A GPU with none of these is left out with a warning.
 * Device ids are `gpu<NVML index>`, the nvidia-smi sensor's scheme, so either sensor can serve.
 *
 * Errors are counted per device and for the sensor, by reason: `permission` (NO_PERMISSION),
 * `gpu_lost` (GPU_IS_LOST: the device is read no more; the others go on), `not_supported`,
 * `read_failed` (anything else), `reset`, `implausible`, `silent` (a call that did not answer within
 * readTimeoutMs: the device is skipped until it answers; a counter loses nothing meanwhile).
 *
 * One file over 400 lines: the probe decides each GPU's method, and the read path, the error counts by
 * reason and the counter's reset and interpolation rules all depend on that choice, per device.
 */
import type { Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { millijoulesToJoules, milliwattsToWatts } from '../core/units.js';
import { createHealthTracker } from './health.js';
import {
  DEFAULT_NVML_PATHS, NVML_ERROR_GPU_IS_LOST, NVML_ERROR_NO_PERMISSION, NVML_ERROR_NOT_SUPPORTED, NVML_SUCCESS,
  importKoffi, loadNvmlLibrary,
  type KoffiLike, type NvmlCallMode, type NvmlHandle, type NvmlLibrary, type NvmlResult,
} from './nvml-binding.js';
import type { DeviceInfo, EnergyMethod, ProbeResult, Reading, Sensor, SensorErrorReason, SensorHealth } from './types.js';

export interface NvmlProbeOptions {
  /** `--nvml-lib PATH`: only this path is tried. */
  readonly libPath?: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Use the energy counter where it exists (default true); false reads power only (cross-checks). */
  readonly preferCounter?: boolean;
  /** Where to look when libPath is not given (default DEFAULT_NVML_PATHS). */
  readonly searchPaths?: readonly string[];
  /** `async` (default) runs hot-path NVML calls on koffi's worker threads; see nvml-binding.ts. */
  readonly callMode?: NvmlCallMode;
  /** A device whose call has not answered after this long is skipped and counted `silent` (default 2000). */
  readonly readTimeoutMs?: number;
  /** nvmlInit_v2 not answering within this long fails the probe (a wedged driver; default 15 000). */
  readonly initTimeoutMs?: number;
  /** Loads the FFI library; tests replace it to simulate koffi missing. */
  readonly loadFfi?: () => Promise<KoffiLike>;
  /** A GPU with neither counter nor power is estimated from utilization × limit (default true, `sensors.estimateGpuWithoutPower`); false leaves it out. */
  readonly estimateWhenNoPower?: boolean;
}

export type NvmlDeviceState = 'ok' | 'failing' | 'stuck' | 'lost' | 'skipped';

export interface NvmlDeviceStatus {
  readonly id: string;
  readonly state: NvmlDeviceState;
  readonly errors: Readonly<Record<string, number>>;
  readonly message?: string;
}

/** The nvml sensor, with per-device status for `/api/sensors` and `inferwatt sensors`. */
export interface NvmlSensor extends Sensor {
  readonly name: 'nvml';
  readonly libraryPath: string;
  readonly driverVersion: string | undefined;
  /** Every GPU NVML listed, including those left out at probe time (state `skipped`, with why). */
  deviceStatus(): readonly NvmlDeviceStatus[];
}

export function isNvmlSensor(sensor: Sensor): sensor is NvmlSensor {
  return sensor.name === 'nvml' && typeof (sensor as Partial<NvmlSensor>).deviceStatus === 'function';
}

/** nvmlReturn_t → the bounded reason label. */
export function nvmlReason(rc: number | 'absent'): SensorErrorReason {
  if (rc === NVML_ERROR_NO_PERMISSION) return 'permission';
  if (rc === NVML_ERROR_GPU_IS_LOST) return 'gpu_lost';
  if (rc === NVML_ERROR_NOT_SUPPORTED || rc === 'absent') return 'not_supported';
  return 'read_failed';
}

const COUNTER_NOTE =
  'energy from the GPU\'s hardware counter (nvmlDeviceGetTotalEnergyConsumption); the counter updates every few tens of ms, '
  + 'so windows shorter than that are interpolated between updates';
const INTEGRATED_NOTE = 'power from nvmlDeviceGetPowerUsage integrated over time (no energy counter on this GPU or driver)';
const ESTIMATED_NOTE = 'power not reported: estimated from utilization.gpu × enforced power limit';
const MIG_NOTE = 'MIG enabled: energy and power are those of the whole physical GPU, shared by all its MIG instances';

/** A counter that stays put while the GPU draws power has not updated yet; skip at most this many reads. */
const MAX_STALE_SKIPS = 3;

interface DeviceState {
  info: DeviceInfo;
  readonly index: number;
  readonly handle: NvmlHandle;
  readonly method: EnergyMethod;
  readonly limitW: number | undefined;
  prevMj: number | undefined;
  prevTMs: number | undefined;
  accJ: number;
  staleSkips: number;
  state: NvmlDeviceState;
  inFlight: boolean;
  /** Bumped when a read gives up on this device, so a late answer is discarded. */
  generation: number;
  readonly errors: Record<string, number>;
  message: string | undefined;
}

export async function probeNvml(opts: NvmlProbeOptions): Promise<ProbeResult> {
  const log = opts.logger.child('nvml');
  const fail = (reason: string): ProbeResult => ({ ok: false, name: 'nvml', reason });

  let koffi: KoffiLike;
  try {
    koffi = await (opts.loadFfi ?? importKoffi)();
  } catch (err) {
    return fail(`FFI library koffi cannot load (optional dependency): ${errorMessage(err)}`);
  }

  const candidates = opts.libPath !== undefined ? [opts.libPath] : (opts.searchPaths ?? DEFAULT_NVML_PATHS);
  const loaded = loadNvmlLibrary(koffi, candidates);
  if (!loaded.ok) return fail(loaded.reason);
  const lib = loaded.lib;

  const initTimeoutMs = opts.initTimeoutMs ?? 15_000;
  let initRc: number | 'absent' | 'timeout';
  try {
    const pending = lib.initAsync();
    let cancel: (() => void) | undefined;
    initRc = await Promise.race([
      pending,
      new Promise<'timeout'>((resolve) => { cancel = opts.clock.setTimer(() => resolve('timeout'), initTimeoutMs); }),
    ]);
    cancel?.();
    if (initRc === 'timeout') {
      // If it ever answers, undo it: NVML counts initialisations.
      void pending.then((rc) => { if (rc === NVML_SUCCESS) lib.shutdown(); });
      return fail(`nvmlInit_v2 did not answer within ${initTimeoutMs} ms (a wedged driver?)`);
    }
  } catch (err) {
    return fail(`nvmlInit_v2 threw: ${errorMessage(err)}`);
  }
  if (initRc === 'absent') return fail(`${lib.path} has no nvmlInit_v2: not an NVML library`);
  if (initRc !== NVML_SUCCESS) return fail(`nvmlInit_v2 failed: ${describe(lib, initRc)}`);

  try {
    const result = discover(lib, opts, log);
    if (!result.ok) {
      lib.shutdown();
      return fail(result.reason);
    }
    return { ok: true, sensor: result.sensor };
  } catch (err) {
    lib.shutdown();
    return fail(`NVML discovery failed: ${errorMessage(err)}`);
  }
}

function describe(lib: NvmlLibrary, rc: number | 'absent'): string {
  return rc === 'absent' ? 'symbol missing' : `${lib.errorString(rc)} (${rc})`;
}

function discover(lib: NvmlLibrary, opts: NvmlProbeOptions, log: Logger): { ok: true; sensor: NvmlSensor } | { ok: false; reason: string } {
  const driver = lib.driverVersion();
  const driverVersion = driver.ok ? driver.value : undefined;
  const count = lib.deviceCount();
  if (!count.ok) return { ok: false, reason: `nvmlDeviceGetCount_v2 failed: ${describe(lib, count.rc)}` };
  if (count.value === 0) return { ok: false, reason: 'NVML lists no GPU' };

  const preferCounter = opts.preferCounter ?? true;
  const devices: DeviceState[] = [];
  const skipped: NvmlDeviceStatus[] = [];
  for (let index = 0; index < count.value; index++) {
    const id = `gpu${index}`;
    const skip = (reason: SensorErrorReason, message: string) => {
      skipped.push({ id, state: 'skipped', errors: { [reason]: 1 }, message });
      log.warn(`${id} left out`, { reason: message });
    };
    const h = lib.handleByIndex(index);
    if (!h.ok) { skip(nvmlReason(h.rc), `nvmlDeviceGetHandleByIndex_v2: ${describe(lib, h.rc)}`); continue; }
    const handle = h.value;

    const energy = preferCounter ? syncResult(lib.totalEnergyMj(handle, 'sync')) : undefined;
    const power = syncResult(lib.powerUsageMw(handle, 'sync'));
    if (energy?.rc === NVML_ERROR_GPU_IS_LOST || power.rc === NVML_ERROR_GPU_IS_LOST) {
      skip('gpu_lost', 'GPU is lost (NVML_ERROR_GPU_IS_LOST)');
      continue;
    }
    const name = lib.name(handle);
    const uuid = lib.uuid(handle);
    const limit = lib.enforcedPowerLimitMw(handle);
    const limitW = limit.ok && limit.value > 0 ? milliwattsToWatts(limit.value) : undefined;
    const mig = lib.migMode(handle);

    let method: EnergyMethod;
    const notes: string[] = [];
    if (energy?.ok) {
      method = 'counter';
      notes.push(power.ok ? `${COUNTER_NOTE} (power from nvmlDeviceGetPowerUsage is reported alongside)` : COUNTER_NOTE);
    } else if (power.ok) {
      method = 'integrated';
      notes.push(INTEGRATED_NOTE);
      if (energy && energy.rc !== 'absent' && energy.rc !== NVML_ERROR_NOT_SUPPORTED) {
        notes.push(`energy counter unreadable: ${describe(lib, energy.rc)}`);
      }
    } else {
      const util = lib.utilization(handle);
      if (util.ok && limitW !== undefined && (opts.estimateWhenNoPower ?? true)) {
        method = 'estimated';
        notes.push(ESTIMATED_NOTE);
      } else {
        const rc = power.rc;
        const why = util.ok && limitW !== undefined ? '; estimation from utilization disabled (sensors.estimateGpuWithoutPower: false)' : '';
        skip(nvmlReason(rc), `no energy counter and no power reading: nvmlDeviceGetPowerUsage ${describe(lib, rc)}${why}`);
        continue;
      }
    }
    if (mig.ok && mig.value === 1) notes.push(MIG_NOTE);

    const info: DeviceInfo = {
      id,
      kind: 'gpu',
      method,
      sensor: 'nvml',
      name: name.ok ? name.value : `GPU ${index}`,
      ...(uuid.ok ? { uuid: uuid.value } : {}),
      ...(driverVersion !== undefined ? { driver: driverVersion } : {}),
      ...(limitW !== undefined ? { powerLimitW: limitW } : {}),
      notes,
    };
    devices.push({
      info, index, handle, method, limitW,
      prevMj: undefined, prevTMs: undefined, accJ: 0, staleSkips: 0,
      state: 'ok', inFlight: false, generation: 0, errors: {}, message: undefined,
    });
  }
  if (devices.length === 0) {
    return { ok: false, reason: `no GPU readable through NVML (${skipped.map((s) => `${s.id}: ${s.message}`).join('; ')})` };
  }
  log.info('nvml sensor ready', {
    library: lib.path, driver: driverVersion, devices: devices.map((d) => `${d.info.id}=${d.method}`).join(','),
  });
  return { ok: true, sensor: createNvmlSensor(lib, devices, skipped, driverVersion, opts, log) };
}

function syncResult(r: NvmlResult<number> | Promise<NvmlResult<number>>): NvmlResult<number> {
  // In 'sync' mode the binding returns plain values; a promise here is a programming error.
  if (r instanceof Promise) throw new Error('sync NVML call returned a promise');
  return r;
}

function createNvmlSensor(
  lib: NvmlLibrary,
  devices: DeviceState[],
  skipped: readonly NvmlDeviceStatus[],
  driverVersion: string | undefined,
  opts: NvmlProbeOptions,
  log: Logger,
): NvmlSensor {
  const { clock } = opts;
  const mode: NvmlCallMode = opts.callMode ?? 'async';
  const readTimeoutMs = opts.readTimeoutMs ?? 2000;
  const health = createHealthTracker(true);
  const infos = devices.map((d) => d.info);
  let closed = false;
  let closing: Promise<void> | undefined;
  const inFlight = new Set<Promise<void>>();

  const countError = (d: DeviceState, reason: SensorErrorReason, message: string) => {
    d.errors[reason] = (d.errors[reason] ?? 0) + 1;
    d.message = message;
    health.count(reason, `${d.info.id}: ${message}`);
    log.rateLimited('warn', `${d.info.id}:${reason}`, `${d.info.id}: ${message}`, { reason });
  };

  const onCallError = (d: DeviceState, fn: string, rc: number | 'absent') => {
    const reason = nvmlReason(rc);
    countError(d, reason, `${fn}: ${describe(lib, rc)}`);
    if (reason === 'gpu_lost') {
      d.state = 'lost';
      d.message = `GPU is lost (${fn} returned NVML_ERROR_GPU_IS_LOST); no longer read`;
      log.error(`${d.info.id} is lost; the other GPUs go on`, { device: d.info.id });
    } else {
      d.state = 'failing';
    }
  };

  /** Turns one device's answers into at most one reading. */
  const interpret = (
    d: DeviceState, tMs: number, energy: NvmlResult<number> | undefined, power: NvmlResult<number> | undefined,
    util: NvmlResult<{ gpu: number; memory: number }> | undefined,
  ): Reading | undefined => {
    const powerW = power?.ok ? milliwattsToWatts(power.value) : undefined;
    if (d.method === 'counter') {
      if (!energy || !energy.ok) {
        onCallError(d, 'nvmlDeviceGetTotalEnergyConsumption', energy?.rc ?? 'absent');
        return undefined;
      }
      if (power && !power.ok && power.rc !== NVML_ERROR_NOT_SUPPORTED && power.rc !== 'absent') {
        // The counter answered; a failing power read only loses the extra powerW, still worth counting.
        countError(d, nvmlReason(power.rc), `nvmlDeviceGetPowerUsage: ${describe(lib, power.rc)}`);
      }
      d.state = 'ok';
      const cur = energy.value;
      const prev = d.prevMj;
      const prevT = d.prevTMs;
      d.prevMj = cur;
      d.prevTMs = tMs;
      if (prev === undefined || prevT === undefined) {
        d.staleSkips = 0;
        return powerW !== undefined ? { device: d.info.id, tMs, energyJ: d.accJ, powerW } : { device: d.info.id, tMs, energyJ: d.accJ };
      }
      if (cur < prev) {
        // Driver reload or GPU reset: the counter restarted from an unknown point; the delta is unknown.
        countError(d, 'reset', `energy counter went down (${prev} → ${cur} mJ): reset, delta dropped`);
        return undefined;
      }
      if (cur === prev && powerW !== undefined && powerW > 0 && d.staleSkips < MAX_STALE_SKIPS) {
        // Not updated since the last read (it moves every few tens of ms): absent, not zero watts.
        d.staleSkips++;
        d.prevTMs = prevT;
        return undefined;
      }
      d.staleSkips = 0;
      const deltaJ = millijoulesToJoules(cur - prev);
      // A GPU cannot sustain more than about twice its power limit; more is a bogus jump (1 J of slack).
      if (d.limitW !== undefined && deltaJ > d.limitW * 2 * ((tMs - prevT) / 1000) + 1) {
        countError(d, 'implausible', `energy counter jumped ${deltaJ.toFixed(1)} J in ${(tMs - prevT).toFixed(0)} ms; delta dropped`);
        return undefined;
      }
      d.accJ += deltaJ;
      return powerW !== undefined ? { device: d.info.id, tMs, energyJ: d.accJ, powerW } : { device: d.info.id, tMs, energyJ: d.accJ };
    }
    if (d.method === 'integrated') {
      if (!power || !power.ok) {
        onCallError(d, 'nvmlDeviceGetPowerUsage', power?.rc ?? 'absent');
        return undefined;
      }
      d.state = 'ok';
      return { device: d.info.id, tMs, powerW: milliwattsToWatts(power.value) };
    }
    // estimated
    if (!util || !util.ok || d.limitW === undefined) {
      onCallError(d, 'nvmlDeviceGetUtilizationRates', util?.rc ?? 'absent');
      return undefined;
    }
    d.state = 'ok';
    return { device: d.info.id, tMs, powerW: (Math.min(100, util.value.gpu) / 100) * d.limitW };
  };

  const readSync = (d: DeviceState): Reading | undefined => {
    const energy = d.method === 'counter' ? syncResult(lib.totalEnergyMj(d.handle, 'sync')) : undefined;
    const tMs = clock.nowMs();
    const power = d.method !== 'estimated' ? syncResult(lib.powerUsageMw(d.handle, 'sync')) : undefined;
    const util = d.method === 'estimated' ? lib.utilization(d.handle) : undefined;
    return interpret(d, tMs, energy, power, util);
  };

  const readAsync = async (d: DeviceState): Promise<{ d: DeviceState; gen: number; reading: Reading | undefined }> => {
    const gen = d.generation;
    // The counter's time is when the call was issued: a worker thread reads it at once, but the event
    // loop may notice the answer much later (a busy proxy), and stamping it then would squeeze the
    // interval between two readings, fail the plausibility check and drop real energy.
    const tMs = clock.nowMs();
    const energy = d.method === 'counter' ? await lib.totalEnergyMj(d.handle, 'async') : undefined;
    const power = d.method !== 'estimated' ? await lib.powerUsageMw(d.handle, 'async') : undefined;
    // Utilization too runs on a worker thread: a wedged driver must not hold the event loop (proxy, /metrics).
    const util = d.method === 'estimated' ? await lib.utilizationAsync(d.handle) : undefined;
    return { d, gen, reading: gen === d.generation ? interpret(d, tMs, energy, power, util) : undefined };
  };

  const updateHealth = (anyReading: boolean) => {
    const live = devices.filter((d) => d.state !== 'lost');
    const okCount = live.filter((d) => d.state === 'ok').length;
    if (anyReading) health.ok(clock.nowMs());
    if (live.length === 0) health.setUp(false, `every GPU is lost (${devices.map((d) => d.info.id).join(', ')})`);
    else if (okCount === 0) health.setUp(false);
    else health.setUp(true);
  };

  const sensor: NvmlSensor = {
    name: 'nvml',
    libraryPath: lib.path,
    driverVersion,
    devices: () => infos,
    async read() {
      if (closed) return [];
      const readings: Reading[] = [];
      try {
        const due = devices.filter((d) => d.state !== 'lost' && !d.inFlight);
        if (mode === 'sync') {
          for (const d of due) {
            const r = readSync(d);
            if (r) readings.push(r);
          }
        } else {
          const results: Array<{ d: DeviceState; gen: number; reading: Reading | undefined }> = [];
          const tasks = due.map((d) => {
            d.inFlight = true;
            const p = readAsync(d).then(
              (res) => { results.push(res); },
              (err) => { countError(d, 'read_failed', errorMessage(err)); },
            ).finally(() => {
              d.inFlight = false;
              inFlight.delete(p);
              if (d.state === 'stuck') d.state = 'ok';
            });
            inFlight.add(p);
            return p;
          });
          let cancel: (() => void) | undefined;
          const timedOut = await Promise.race([
            Promise.all(tasks).then(() => false),
            new Promise<boolean>((resolve) => { cancel = clock.setTimer(() => resolve(true), readTimeoutMs); }),
          ]);
          cancel?.();
          if (timedOut) {
            for (const d of due) {
              if (!d.inFlight) continue;
              d.generation++;
              d.state = 'stuck';
              countError(d, 'silent', `NVML call did not answer within ${readTimeoutMs} ms; skipped until it does`);
            }
          }
          // Oldest first, as Sensor.read promises; GPU order where the times tie.
          results.sort((a, b) => (a.reading?.tMs ?? 0) - (b.reading?.tMs ?? 0) || a.d.index - b.d.index);
          for (const r of results) if (r.reading) readings.push(r.reading);
        }
      } catch (err) {
        health.count('read_failed', errorMessage(err));
        log.rateLimited('warn', 'read', 'nvml read failed', { error: errorMessage(err) });
      }
      updateHealth(readings.length > 0);
      return readings;
    },
    health: (): SensorHealth => health.snapshot(),
    deviceStatus: () => [
      ...devices.map((d) => ({
        id: d.info.id, state: d.state, errors: { ...d.errors }, ...(d.message !== undefined ? { message: d.message } : {}),
      })),
      ...skipped,
    ].sort((a, b) => Number(a.id.slice(3)) - Number(b.id.slice(3))),
    close() {
      closing ??= (async () => {
        closed = true;
        // Let calls in flight finish (bounded) before the library is shut down under them.
        if (inFlight.size > 0) {
          let cancel: (() => void) | undefined;
          await Promise.race([
            Promise.allSettled([...inFlight]),
            new Promise<void>((resolve) => { cancel = clock.setTimer(resolve, readTimeoutMs); }),
          ]);
          cancel?.();
        }
        try {
          const rc = lib.shutdown();
          if (rc !== NVML_SUCCESS) log.warn('nvmlShutdown failed', { rc });
        } catch (err) {
          log.warn('nvmlShutdown threw', { error: errorMessage(err) });
        }
        health.setUp(false, 'closed');
      })();
      return closing;
    },
  };
  return sensor;
}
