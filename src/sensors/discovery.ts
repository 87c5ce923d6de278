import type { Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { probeEstimate } from './estimate.js';
import { readGpuInventory } from './gpu-inventory.js';
import { probeNvidiaSmi } from './nvidia-smi.js';
import { probeNvml } from './nvml.js';
import { probeRapl } from './rapl.js';
import { createSimulatedSensor } from './simulated.js';
import type { ProbeResult, Sensor, SensorName } from './types.js';

/**
 * Finds the sensors this host has, Kepler-style: each backend is tried in preference order with a
 * trial read, and the reason each one was skipped is kept for `inferwatt sensors`, /api/sensors and
 * the logs.
 *
 * auto: GPUs from nvml (hardware energy counter) else nvidia-smi; CPU/DRAM from RAPL else the load
 * estimate. `simulated` is never picked by auto: it is for the demo and tests, on purpose only.
 */
export interface DiscoveryOptions {
  enabled: 'auto' | readonly SensorName[];
  gpuIntervalMs: number;
  nvidiaSmi: string;
  nvmlLib: string | null;
  gpuCrossCheck: boolean;
  powercapRoot: string;
  estimateGpuWithoutPower: boolean;
  cpuTdpW: number | null;
  simulatedGpus: number;
  /** In-flight requests, for the simulated sensor's load. */
  simulatedLoad?: () => number;
  clock: Clock;
  logger: Logger;
}

export interface SkippedSensor {
  readonly name: SensorName;
  readonly reason: string;
}

export interface Discovery {
  /** The sensors whose devices feed the timeline. */
  readonly sensors: readonly Sensor[];
  /** Cross-check mode only: nvidia-smi run beside nvml, kept off the timeline. */
  readonly crossCheck?: Sensor;
  readonly skipped: readonly SkippedSensor[];
}

async function tryProbe(name: SensorName, f: () => Promise<ProbeResult>): Promise<ProbeResult> {
  try {
    return await f();
  } catch (err) {
    return { ok: false, name, reason: `probe failed: ${errorMessage(err)}` };
  }
}

export async function discoverSensors(o: DiscoveryOptions): Promise<Discovery> {
  const wanted = (n: SensorName) => o.enabled === 'auto' ? n !== 'simulated' : o.enabled.includes(n);
  const sensors: Sensor[] = [];
  const skipped: SkippedSensor[] = [];
  let crossCheck: Sensor | undefined;
  const log = o.logger.child('discovery');
  const take = (r: ProbeResult): Sensor | undefined => {
    if (r.ok) return r.sensor;
    skipped.push({ name: r.name, reason: r.reason });
    return undefined;
  };

  // GPUs: nvml first (counter, no child process), then nvidia-smi.
  let gpuSensor: Sensor | undefined;
  if (wanted('nvml')) {
    gpuSensor = take(await tryProbe('nvml', () => probeNvml({ ...(o.nvmlLib ? { libPath: o.nvmlLib } : {}), estimateWhenNoPower: o.estimateGpuWithoutPower, clock: o.clock, logger: o.logger.child('nvml') })));
    if (gpuSensor) sensors.push(gpuSensor);
  }
  if (wanted('nvidia-smi') || (o.gpuCrossCheck && gpuSensor)) {
    if (gpuSensor && !o.gpuCrossCheck && o.enabled === 'auto') {
      skipped.push({ name: 'nvidia-smi', reason: 'the GPUs are measured by nvml (hardware energy counter, preferred); --gpu-cross-check runs both' });
    } else {
      const inventory = await readGpuInventory({ path: o.nvidiaSmi, logger: o.logger.child('inventory') }).catch(() => []);
      const smi = take(await tryProbe('nvidia-smi', () => probeNvidiaSmi({
        path: o.nvidiaSmi, intervalMs: o.gpuIntervalMs, clock: o.clock, logger: o.logger.child('nvidia-smi'),
        estimateWhenNoPower: o.estimateGpuWithoutPower, inventory,
      })));
      if (smi && gpuSensor && o.gpuCrossCheck) crossCheck = smi;
      else if (smi && gpuSensor) {
        // Both named explicitly without cross-check: the same GPUs would be counted twice.
        skipped.push({ name: 'nvidia-smi', reason: 'the GPUs are already measured by nvml; counting them twice would double their energy' });
        await smi.close();
      } else if (smi) sensors.push(smi);
    }
  }

  // CPU and DRAM: RAPL, else (auto) the load estimate.
  let cpuSensor: Sensor | undefined;
  if (wanted('rapl')) {
    cpuSensor = take(await tryProbe('rapl', () => probeRapl({ root: o.powercapRoot, clock: o.clock, logger: o.logger.child('rapl') })));
    if (cpuSensor) sensors.push(cpuSensor);
  }
  if (wanted('estimate')) {
    if (cpuSensor) {
      // Named together with rapl, the estimate is its fallback: both would count the CPU twice.
      skipped.push({ name: 'estimate', reason: o.enabled === 'auto' ? 'the CPU is measured by RAPL' : 'the CPU is already measured by RAPL; counting it twice would double its energy' });
    } else {
      const est = take(await tryProbe('estimate', () => probeEstimate({ clock: o.clock, logger: o.logger.child('estimate'), ...(o.cpuTdpW !== null ? { tdpW: o.cpuTdpW } : {}) })));
      if (est) sensors.push(est);
    }
  }

  if (o.enabled !== 'auto' && o.enabled.includes('simulated')) {
    sensors.push(createSimulatedSensor({ clock: o.clock, load: o.simulatedLoad ?? (() => 0), gpus: o.simulatedGpus }));
  }

  for (const s of skipped) log.info(`sensor ${s.name} not used: ${s.reason}`);
  for (const s of sensors) log.info(`sensor ${s.name}: ${s.devices().map((d) => `${d.id} (${d.name}, ${d.method})`).join(', ')}`);
  if (!sensors.length) log.warn('no sensor is available: energy cannot be measured on this host (see `inferwatt sensors`)');
  return { sensors, skipped, ...(crossCheck ? { crossCheck } : {}) };
}
