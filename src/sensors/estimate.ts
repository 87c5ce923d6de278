import type { Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { createCpuLoadReader } from './cpu-load.js';
import { lookupCpuTdp } from './cpu-tdp.js';
import { createHealthTracker } from './health.js';
import type { DeviceInfo, ProbeResult, Reading, Sensor } from './types.js';

/**
 * Fallback CPU power where RAPL is absent (VMs, containers, non-x86): a linear model of CPU load,
 *
 *   P = N × (idle + (max − idle) × load),   load ∈ [0, 1] from /proc/stat (cpu-load.ts),
 *
 * with either N = sockets, max = the CPU's TDP (configured `tdpW`, or looked up in cpu-tdp.ts) and
 * idle = idleFraction × TDP; or, for an unknown CPU or a VM, N = logical CPUs and Cloud Carbon Footprint's
 * per-vCPU coefficients. Gauge readings (powerW), marked `estimated`.
 *
 * Why this model, from the CodeCarbon load-vs-RAPL recordings (test/fixtures/cpu-load-vs-rapl, five hosts,
 * 0–100 % load in ~30 s steps; see test/sensors/estimate.test.ts, which prints the figures):
 * - idle package power / TDP measured 0.08–0.25, median 0.11: hence `idleFraction` 0.1 by default;
 * - full-load package power / TDP measured 0.51 (EPYC 8024P) to 0.93 (Threadripper 1950X), and 1.40 on a
 *   host whose label is doubtful; power rises steeply at low load and flattens, on some CPUs from 30 %.
 * No single curve in load × TDP fits all of them (a concave one fits the Threadripper and is worse on the
 * others), so the plain linear model is kept: it is what users of TDP tables expect, and it is honest about
 * being a rough estimate. Its energy error against RAPL on the recordings ranges from −45 % to +54 %
 * (printed by the test): treat it as a factor-of-two estimate, and prefer RAPL wherever it can be read.
 */
export const DEFAULT_IDLE_FRACTION = 0.1;

/**
 * Per-vCPU coefficients for unknown CPUs and VMs: Cloud Carbon Footprint's AWS averages (SPECpower-derived),
 * 0.74 W at idle and 3.5 W at full load per vCPU (cloud-carbon-footprint AwsFootprintEstimationConstants.ts;
 * the team's hardware_power_reference.csv).
 */
export const PER_VCPU_IDLE_W = 0.74;
export const PER_VCPU_MAX_W = 3.5;

export interface CpuInfo {
  /** Brand string, e.g. "Intel(R) Xeon(R) CPU E5-2620 v3 @ 2.40GHz"; '' if unknown. */
  readonly brand: string;
  /** Physical packages (sockets). */
  readonly sockets: number;
  /** Logical CPUs visible to this OS (vCPUs in a VM). */
  readonly logicalCpus: number;
  /** Whether this OS runs in a virtual machine. */
  readonly virtual: boolean;
}

export interface EstimateProbeOptions {
  clock: Clock;
  logger: Logger;
  /** TDP per socket in W; wins over the table. */
  tdpW?: number;
  /** CPU brand string for the table lookup; default from systeminformation. */
  cpuModel?: string;
  /** Socket count; default from systeminformation. */
  sockets?: number;
  /** CPU load in [0, 1] since the previous call; default cpu-load.ts (/proc/stat, else os.cpus()). */
  load?: () => Promise<number>;
  /** Idle power as a fraction of TDP; default 0.1. */
  idleFraction?: number;
  /** CPU facts; default from systeminformation cpu() and system(). */
  cpuInfo?: () => Promise<CpuInfo>;
}

export interface CpuPowerModel {
  readonly idleW: number;
  readonly maxW: number;
  readonly notes: readonly string[];
}

/** P = idle + (max − idle) × load, load clamped to [0, 1]. */
export function estimateCpuPowerW(model: Pick<CpuPowerModel, 'idleW' | 'maxW'>, load: number): number {
  const l = Math.min(1, Math.max(0, load));
  return model.idleW + (model.maxW - model.idleW) * l;
}

/** Chooses the model's idle and max power from what is known about the CPU; every choice is noted. */
export function chooseCpuPowerModel(info: CpuInfo, opts: Pick<EstimateProbeOptions, 'tdpW' | 'cpuModel' | 'sockets' | 'idleFraction'>): CpuPowerModel {
  const idleFraction = opts.idleFraction ?? DEFAULT_IDLE_FRACTION;
  const brand = opts.cpuModel ?? info.brand;
  const sockets = Math.max(1, Math.round(opts.sockets ?? info.sockets));
  const socketNote = sockets > 1 ? ` × ${sockets} sockets` : '';
  const idleNote = `idle = ${idleFraction} × TDP`;
  if (opts.tdpW !== undefined) {
    return {
      idleW: sockets * opts.tdpW * idleFraction, maxW: sockets * opts.tdpW,
      notes: [`power estimated from CPU load × configured TDP ${opts.tdpW} W${socketNote}; ${idleNote}`],
    };
  }
  const vcpus = Math.max(1, Math.round(info.logicalCpus));
  const perVcpu = (why: string): CpuPowerModel => ({
    idleW: vcpus * PER_VCPU_IDLE_W, maxW: vcpus * PER_VCPU_MAX_W,
    notes: [
      `${why}: power estimated from CPU load with per-vCPU defaults ${PER_VCPU_IDLE_W}–${PER_VCPU_MAX_W} W × ${vcpus} logical CPUs (Cloud Carbon Footprint, AWS average); set --cpu-tdp-w (sensors.cpuTdpW) to override`,
    ],
  });
  if (info.virtual) return perVcpu(`virtual machine ("${brand || 'unknown CPU'}"): the host socket's TDP would be charged to this VM`);
  const row = brand ? lookupCpuTdp(brand) : undefined;
  if (!row) return perVcpu(`unknown CPU "${brand || '(no brand string)'}"`);
  return {
    idleW: sockets * row.tdpW * idleFraction, maxW: sockets * row.tdpW,
    notes: [`power estimated from CPU load × TDP ${row.tdpW} W of ${row.model} (source: ${row.source})${socketNote}; ${idleNote}`],
  };
}

async function systemCpuInfo(): Promise<CpuInfo> {
  const si = await import('systeminformation');
  const [cpu, system] = await Promise.all([si.cpu(), si.system()]);
  return {
    brand: [cpu.manufacturer, cpu.brand].filter((s) => s && s.trim()).join(' '),
    sockets: cpu.processors > 0 ? cpu.processors : 1,
    logicalCpus: cpu.cores > 0 ? cpu.cores : 1,
    virtual: system.virtual === true,
  };
}

export async function probeEstimate(opts: EstimateProbeOptions): Promise<ProbeResult> {
  const log = opts.logger.child('estimate');
  const load = opts.load ?? createCpuLoadReader();
  let info: CpuInfo;
  try {
    info = await (opts.cpuInfo ?? systemCpuInfo)();
  } catch (err) {
    if (opts.tdpW === undefined) return { ok: false, name: 'estimate', reason: `cannot identify the CPU: ${errorMessage(err)}` };
    info = { brand: opts.cpuModel ?? '', sockets: opts.sockets ?? 1, logicalCpus: 1, virtual: false };
  }
  if (opts.tdpW !== undefined && !(opts.tdpW > 0)) return { ok: false, name: 'estimate', reason: `tdpW must be > 0 W, got ${opts.tdpW}` };
  try {
    const l = await load();
    if (!Number.isFinite(l)) return { ok: false, name: 'estimate', reason: `CPU load is not a number (${l})` };
  } catch (err) {
    return { ok: false, name: 'estimate', reason: `cannot read CPU load: ${errorMessage(err)}` };
  }
  const model = chooseCpuPowerModel(info, opts);
  const device: DeviceInfo = {
    id: 'cpu', kind: 'cpu', method: 'estimated', sensor: 'estimate',
    name: opts.cpuModel ?? (info.brand || 'CPU'), notes: model.notes,
  };
  log.info('CPU power estimated', { idleW: model.idleW, maxW: model.maxW, note: model.notes[0] });
  return { ok: true, sensor: createEstimateSensor(device, model, load, opts.clock, log) };
}

function createEstimateSensor(device: DeviceInfo, model: CpuPowerModel, load: () => Promise<number>, clock: Clock, log: Logger): Sensor {
  const health = createHealthTracker(true);
  let closed = false;
  return {
    name: 'estimate',
    devices: () => [device],
    async read(): Promise<readonly Reading[]> {
      if (closed) return [];
      let l: number;
      try {
        l = await load();
      } catch (err) {
        health.fail('read_failed', errorMessage(err));
        log.rateLimited('warn', 'load', 'CPU load read failed', { error: errorMessage(err) });
        return [];
      }
      if (!Number.isFinite(l)) {
        health.fail('parse', `CPU load is not a number (${l})`);
        return [];
      }
      const tMs = clock.nowMs();
      health.ok(tMs);
      return [{ device: device.id, tMs, powerW: estimateCpuPowerW(model, l) }];
    },
    health: () => health.snapshot(),
    async close() {
      closed = true;
    },
  };
}
