/**
 * The thin FFI layer over libnvidia-ml (NVML), through koffi. It knows C signatures and return codes,
 * nothing about sensors: src/sensors/nvml.ts builds the sensor on top of it.
 *
 * - koffi is an optional dependency: it is imported dynamically, and a failure to import it is a
 *   reason to skip the sensor, never a crash.
 * - Every NVML symbol is bound lazily, on first use, and only once: a symbol the library lacks (an
 *   older driver without `nvmlDeviceGetTotalEnergyConsumption`, which appeared for Volta) is reported
 *   as `absent`, so that reading is simply absent.
 * - Hot-path reads (energy, power) go through koffi's `.async` calls, which run on a worker thread:
 *   a wedged driver hangs the call, and the call alone, instead of the event loop that also serves the
 *   proxy and /metrics (nvidia-smi hangs in exactly that situation, docs/sensors.md). `callMode: 'sync'` keeps
 *   them on the main thread (~2–3 µs a call here against ~35 µs for an async one).
 *
 * Return codes are nvml.h's `nvmlReturn_t` (checked against NVIDIA's header, API version 12).
 */

// The codes the sensor tells apart; others it reports by number (1 uninitialized, 2 invalid argument,
// 6 not found, 7 insufficient size, 9 driver not loaded, 13 function not found).
export const NVML_SUCCESS = 0;
export const NVML_ERROR_NOT_SUPPORTED = 3;
export const NVML_ERROR_NO_PERMISSION = 4;
export const NVML_ERROR_GPU_IS_LOST = 15;
export const NVML_ERROR_UNKNOWN = 999;

/** nvml.h buffer sizes: NVML_DEVICE_NAME_V2_BUFFER_SIZE 96, NVML_DEVICE_UUID_V2_BUFFER_SIZE 96, driver 80. */
const NAME_BUFFER = 96;
const UUID_BUFFER = 96;
const DRIVER_BUFFER = 80;

/**
 * Where libnvidia-ml.so.1 lives, in the order tried after an explicit `--nvml-lib`:
 * the dynamic loader's search path (ldconfig cache, LD_LIBRARY_PATH), then distribution and
 * container-toolkit directories that are often missing from that path.
 */
export const DEFAULT_NVML_PATHS: readonly string[] = [
  'libnvidia-ml.so.1',
  '/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1', // Debian, Ubuntu
  '/usr/lib/aarch64-linux-gnu/libnvidia-ml.so.1', // Debian, Ubuntu on Grace/ARM
  '/usr/lib64/libnvidia-ml.so.1', // RHEL, Fedora, SUSE
  '/usr/lib/libnvidia-ml.so.1',
  '/usr/local/nvidia/lib64/libnvidia-ml.so.1', // NVIDIA container toolkit, GKE
  '/usr/local/nvidia/lib/libnvidia-ml.so.1',
  '/usr/lib/wsl/lib/libnvidia-ml.so.1', // WSL2
  '/run/nvidia/driver/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1', // GPU operator's driver container
];

/** A result of an NVML call: `rc` is the nvmlReturn_t, or `absent` when the symbol does not exist. */
export type NvmlResult<T> =
  | { readonly ok: true; readonly rc: 0; readonly value: T }
  | { readonly ok: false; readonly rc: number | 'absent' };

const ABSENT = { ok: false, rc: 'absent' } as const;
const okResult = <T>(value: T): NvmlResult<T> => ({ ok: true, rc: 0, value });
const failed = (rc: number): NvmlResult<never> => ({ ok: false, rc });

export type NvmlHandle = bigint;
export type NvmlCallMode = 'sync' | 'async';

export interface NvmlLibrary {
  /** The path (or soname) that loaded. */
  readonly path: string;
  init(): number | 'absent';
  /** nvmlInit_v2 on a worker thread: where a wedged driver hangs first (opening /dev/nvidia*). */
  initAsync(): Promise<number | 'absent'>;
  shutdown(): number | 'absent';
  errorString(rc: number): string;
  driverVersion(): NvmlResult<string>;
  deviceCount(): NvmlResult<number>;
  handleByIndex(index: number): NvmlResult<NvmlHandle>;
  name(h: NvmlHandle): NvmlResult<string>;
  uuid(h: NvmlHandle): NvmlResult<string>;
  enforcedPowerLimitMw(h: NvmlHandle): NvmlResult<number>;
  utilization(h: NvmlHandle): NvmlResult<{ gpu: number; memory: number }>;
  /** The same on a worker thread: the hot path of an `estimated` GPU. */
  utilizationAsync(h: NvmlHandle): Promise<NvmlResult<{ gpu: number; memory: number }>>;
  /** MIG mode (current): 1 enabled, 0 disabled. Not in the required set; absent on pre-Ampere drivers. */
  migMode(h: NvmlHandle): NvmlResult<number>;
  /** Whether the library exports the symbol (binds it if not bound yet). */
  has(symbol: NvmlSymbol): boolean;
  /** Total energy since the driver loaded, mJ. Hot path. */
  totalEnergyMj(h: NvmlHandle, mode: NvmlCallMode): NvmlResult<number> | Promise<NvmlResult<number>>;
  /** Board power, mW. Hot path. */
  powerUsageMw(h: NvmlHandle, mode: NvmlCallMode): NvmlResult<number> | Promise<NvmlResult<number>>;
}

export type NvmlSymbol =
  | 'nvmlInit_v2' | 'nvmlShutdown' | 'nvmlErrorString' | 'nvmlSystemGetDriverVersion'
  | 'nvmlDeviceGetCount_v2' | 'nvmlDeviceGetHandleByIndex_v2' | 'nvmlDeviceGetName' | 'nvmlDeviceGetUUID'
  | 'nvmlDeviceGetTotalEnergyConsumption' | 'nvmlDeviceGetPowerUsage' | 'nvmlDeviceGetEnforcedPowerLimit'
  | 'nvmlDeviceGetUtilizationRates' | 'nvmlDeviceGetMigMode';

/** The part of koffi this module uses (typed locally: koffi is optional, its types may be missing). */
export interface KoffiLike {
  load(path: string, options?: { lazy?: boolean }): KoffiLibraryLike;
  out(type: unknown): unknown;
  pointer(type: unknown): unknown;
  struct(def: Record<string, unknown>): unknown;
}
interface KoffiFn {
  (...args: unknown[]): unknown;
  async(...args: unknown[]): void;
}
interface KoffiLibraryLike {
  func(name: string, result: unknown, args: unknown[]): KoffiFn;
  unload?(): void;
}

/** Imports koffi; rejects with the loader's message if the optional dependency is not installed. */
export async function importKoffi(): Promise<KoffiLike> {
  // A variable specifier keeps TypeScript from requiring koffi's types at build time.
  const specifier = 'koffi';
  const mod = (await import(specifier)) as { default?: KoffiLike } & KoffiLike;
  return mod.default ?? mod;
}

export type LoadNvmlResult =
  | { readonly ok: true; readonly lib: NvmlLibrary }
  | { readonly ok: false; readonly reason: string };

/**
 * Tries each candidate path in order. On failure the reason says what happened once: "not found" when
 * every candidate is simply missing (a host without the NVIDIA driver), else each other loader error with
 * its path (a wrong architecture, a broken install), not the same error repeated for every place tried.
 */
export function loadNvmlLibrary(koffi: KoffiLike, candidates: readonly string[]): LoadNvmlResult {
  const tries: { path: string; error: string }[] = [];
  for (const path of candidates) {
    try {
      // RTLD_LAZY: an unresolved dependency inside the driver's library is not our business until called.
      const handle = koffi.load(path, { lazy: true });
      return { ok: true, lib: bindNvml(koffi, handle, path) };
    } catch (err) {
      tries.push({ path, error: (err instanceof Error ? err.message : String(err)).replace(/^Failed to load shared library: /, '') });
    }
  }
  return { ok: false, reason: loadFailureReason(tries) };
}

const MISSING = /No such file or directory/;

function loadFailureReason(tries: readonly { path: string; error: string }[]): string {
  const other = tries.filter((t) => !MISSING.test(t.error));
  if (tries.length > 1 && other.length === 0) {
    const where = tries.map((t) => (t.path.includes('/') ? t.path.slice(0, t.path.lastIndexOf('/')) : "the loader's path"));
    return `libnvidia-ml.so.1 not found (the NVIDIA driver's library) in ${where.join(', ')}; --nvml-lib PATH names it`;
  }
  const shown = other.length ? other : tries;
  const missing = tries.length - shown.length;
  return `libnvidia-ml.so.1 not loadable: ${shown.map((t) => `${t.path}: ${t.error}`).join('; ')}${missing ? ` (not found in the ${missing} other place${missing === 1 ? '' : 's'})` : ''}`;
}

function bindNvml(koffi: KoffiLike, handle: KoffiLibraryLike, path: string): NvmlLibrary {
  const u32Out = koffi.out(koffi.pointer('uint32_t'));
  const ptrOut = koffi.out(koffi.pointer('void *'));
  const utilOut = koffi.out(koffi.pointer(koffi.struct({ gpu: 'uint32_t', memory: 'uint32_t' })));

  const signatures: Record<NvmlSymbol, [unknown, unknown[]]> = {
    nvmlInit_v2: ['int', []],
    nvmlShutdown: ['int', []],
    nvmlErrorString: ['const char *', ['int']],
    nvmlSystemGetDriverVersion: ['int', ['char *', 'uint32_t']],
    nvmlDeviceGetCount_v2: ['int', [u32Out]],
    nvmlDeviceGetHandleByIndex_v2: ['int', ['uint32_t', ptrOut]],
    nvmlDeviceGetName: ['int', ['void *', 'char *', 'uint32_t']],
    nvmlDeviceGetUUID: ['int', ['void *', 'char *', 'uint32_t']],
    // Typed arrays are passed as pointers to their memory: no allocation per call on the hot path.
    nvmlDeviceGetTotalEnergyConsumption: ['int', ['void *', 'uint64_t *']],
    nvmlDeviceGetPowerUsage: ['int', ['void *', 'uint32_t *']],
    nvmlDeviceGetEnforcedPowerLimit: ['int', ['void *', u32Out]],
    nvmlDeviceGetUtilizationRates: ['int', ['void *', utilOut]],
    nvmlDeviceGetMigMode: ['int', ['void *', u32Out, u32Out]],
  };

  const bound = new Map<NvmlSymbol, KoffiFn | null>();
  const fn = (name: NvmlSymbol): KoffiFn | null => {
    let f = bound.get(name);
    if (f === undefined) {
      const [result, args] = signatures[name];
      try {
        f = handle.func(name, result, args);
      } catch {
        f = null; // "Cannot find function": an older driver; the reading is absent.
      }
      bound.set(name, f);
    }
    return f;
  };

  const readString = (name: NvmlSymbol, size: number, ...pre: unknown[]): NvmlResult<string> => {
    const f = fn(name);
    if (!f) return ABSENT;
    const buf = Buffer.alloc(size);
    const rc = f(...pre, buf, size) as number;
    if (rc !== NVML_SUCCESS) return failed(rc);
    const end = buf.indexOf(0);
    return okResult(buf.toString('utf8', 0, end < 0 ? size : end));
  };

  const readU32 = (name: NvmlSymbol, ...pre: unknown[]): NvmlResult<number> => {
    const f = fn(name);
    if (!f) return ABSENT;
    const out: unknown[] = [0];
    const rc = f(...pre, out) as number;
    return rc === NVML_SUCCESS ? okResult(Number(out[0])) : failed(rc);
  };

  // One scratch value per handle and function for the sync hot path; async calls get their own, since
  // two in flight (a stuck one and a new one) must not share memory.
  const hot = (name: 'nvmlDeviceGetTotalEnergyConsumption' | 'nvmlDeviceGetPowerUsage') => {
    const make = name === 'nvmlDeviceGetTotalEnergyConsumption'
      ? () => new BigUint64Array(1) as BigUint64Array | Uint32Array
      : () => new Uint32Array(1) as BigUint64Array | Uint32Array;
    const scratch = make();
    return (h: NvmlHandle, mode: NvmlCallMode): NvmlResult<number> | Promise<NvmlResult<number>> => {
      const f = fn(name);
      if (!f) return ABSENT;
      if (mode === 'sync') {
        const rc = f(h, scratch) as number;
        return rc === NVML_SUCCESS ? okResult(Number(scratch[0])) : failed(rc);
      }
      const out = make();
      return new Promise((resolve) => {
        try {
          f.async(h, out, (err: unknown, rc: number) => {
            if (err) resolve(failed(NVML_ERROR_UNKNOWN));
            else resolve(rc === NVML_SUCCESS ? okResult(Number(out[0])) : failed(rc));
          });
        } catch {
          // koffi refuses new async calls past its pool ("Too many asynchronous calls are running").
          resolve(failed(NVML_ERROR_UNKNOWN));
        }
      });
    };
  };

  const callRc = (name: NvmlSymbol): number | 'absent' => {
    const f = fn(name);
    return f ? (f() as number) : 'absent';
  };

  return {
    path,
    init: () => callRc('nvmlInit_v2'),
    initAsync() {
      const f = fn('nvmlInit_v2');
      if (!f) return Promise.resolve('absent' as const);
      return new Promise((resolve) => {
        try {
          f.async((err: unknown, rc: number) => resolve(err ? NVML_ERROR_UNKNOWN : rc));
        } catch {
          resolve(NVML_ERROR_UNKNOWN);
        }
      });
    },
    shutdown: () => callRc('nvmlShutdown'),
    errorString(rc) {
      const f = fn('nvmlErrorString');
      const s = f ? (f(rc) as string | null) : null;
      return s ?? `NVML error ${rc}`;
    },
    driverVersion: () => readString('nvmlSystemGetDriverVersion', DRIVER_BUFFER),
    deviceCount: () => readU32('nvmlDeviceGetCount_v2'),
    handleByIndex(index) {
      const f = fn('nvmlDeviceGetHandleByIndex_v2');
      if (!f) return ABSENT;
      const out: unknown[] = [null];
      const rc = f(index, out) as number;
      return rc === NVML_SUCCESS && typeof out[0] === 'bigint' ? okResult(out[0]) : failed(rc === NVML_SUCCESS ? NVML_ERROR_UNKNOWN : rc);
    },
    name: (h) => readString('nvmlDeviceGetName', NAME_BUFFER, h),
    uuid: (h) => readString('nvmlDeviceGetUUID', UUID_BUFFER, h),
    enforcedPowerLimitMw: (h) => readU32('nvmlDeviceGetEnforcedPowerLimit', h),
    utilization(h) {
      const f = fn('nvmlDeviceGetUtilizationRates');
      if (!f) return ABSENT;
      const out: { gpu?: number; memory?: number } = {};
      const rc = f(h, out) as number;
      return rc === NVML_SUCCESS ? okResult({ gpu: Number(out.gpu), memory: Number(out.memory) }) : failed(rc);
    },
    utilizationAsync(h) {
      const f = fn('nvmlDeviceGetUtilizationRates');
      if (!f) return Promise.resolve(ABSENT);
      const out: { gpu?: number; memory?: number } = {};
      return new Promise((resolve) => {
        try {
          f.async(h, out, (err: unknown, rc: number) => {
            if (err) resolve(failed(NVML_ERROR_UNKNOWN));
            else resolve(rc === NVML_SUCCESS ? okResult({ gpu: Number(out.gpu), memory: Number(out.memory) }) : failed(rc));
          });
        } catch {
          resolve(failed(NVML_ERROR_UNKNOWN));
        }
      });
    },
    migMode(h) {
      const f = fn('nvmlDeviceGetMigMode');
      if (!f) return ABSENT;
      const cur: unknown[] = [0];
      const pending: unknown[] = [0];
      const rc = f(h, cur, pending) as number;
      return rc === NVML_SUCCESS ? okResult(Number(cur[0])) : failed(rc);
    },
    has: (symbol) => fn(symbol) !== null,
    totalEnergyMj: hot('nvmlDeviceGetTotalEnergyConsumption'),
    powerUsageMw: hot('nvmlDeviceGetPowerUsage'),
  };
}
