import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Service } from '../core/service.js';
import { discoverSensors, type Discovery } from '../sensors/discovery.js';
import { isNvmlSensor } from '../sensors/nvml.js';
import type { DeviceInfo, Sensor, SensorHealth, SensorName } from '../sensors/types.js';
import { crossCheckEnergies, type CrossCheckEnergy } from './cross-check.js';
import { createSampler } from './sampler.js';
import { createEnergyTimeline } from './timeline.js';
import type { EnergyTimeline } from './types.js';

/** The sensor settings measurement needs (the configuration's `sensors` section). */
export interface MeasurementOptions {
  readonly enabled: 'auto' | readonly SensorName[];
  readonly gpuIntervalMs: number;
  readonly cpuIntervalMs: number;
  readonly nvidiaSmi: string;
  readonly nvmlLib: string | null;
  readonly gpuCrossCheck: boolean;
  readonly powercapRoot: string;
  readonly estimateGpuWithoutPower: boolean;
  readonly cpuTdpW: number | null;
  readonly simulatedGpus: number;
}

/**
 * The host's measurement: the sensors found (and those skipped, with why), the energy timeline they feed,
 * the samplers that read them on their own cadence (GPUs every `gpuIntervalMs`, CPU and DRAM every
 * `cpuIntervalMs`), and in cross-check mode a second timeline fed by nvidia-smi beside NVML.
 */
export interface Measurement {
  readonly discovery: Discovery;
  readonly timeline: EnergyTimeline;
  readonly devices: readonly DeviceInfo[];
  /** Called after each sample (the ledger advances there). */
  onSample(cb: () => void): void;
  /** Cross-check mode only: per GPU, both methods' energy over the span both cover. */
  readonly crossCheck: (() => CrossCheckEnergy[]) | undefined;
  sensorStatus(): { name: SensorName; health: SensorHealth }[];
  /** `/api/sensors`: active sensors with their samplers, skipped ones with why, the timeline's drops. */
  describe(): unknown;
  /** Why the agent is not ready yet as far as measuring goes (empty: it measures). */
  notReady(): string[];
  /** In start order: the sensors (closed at stop), then the samplers (a last tick at stop). */
  readonly services: readonly Service[];
}

const isGpuSensor = (s: Sensor) => s.name === 'nvml' || s.name === 'nvidia-smi' || s.name === 'simulated';

export async function createMeasurement(
  opts: MeasurementOptions,
  deps: { clock: Clock; logger: Logger; simulatedLoad: () => number },
): Promise<Measurement> {
  const { clock, logger } = deps;
  const discovery = await discoverSensors({ ...opts, simulatedLoad: deps.simulatedLoad, clock, logger });
  const devices = discovery.sensors.flatMap((s) => s.devices());
  const timeline = createEnergyTimeline({ devices, logger: logger.child('timeline') });
  const sampler = createSampler({
    sensors: discovery.sensors, timeline, clock, logger: logger.child('sampler'),
    intervalMs: (s) => (isGpuSensor(s) ? opts.gpuIntervalMs : opts.cpuIntervalMs),
  });
  const cc = discovery.crossCheck;
  const crossTimeline = cc ? createEnergyTimeline({ devices: cc.devices(), logger: logger.child('cross-check') }) : undefined;
  const crossSampler = cc && crossTimeline
    ? createSampler({ sensors: [cc], timeline: crossTimeline, clock, logger: logger.child('cross-check'), intervalMs: () => opts.gpuIntervalMs })
    : undefined;
  const allSensors = [...discovery.sensors, ...(cc ? [cc] : [])];
  return {
    discovery, timeline, devices,
    onSample: (cb) => sampler.onSample(cb),
    crossCheck: crossTimeline ? () => crossCheckEnergies(timeline, crossTimeline) : undefined,
    sensorStatus: () => discovery.sensors.map((s) => ({ name: s.name, health: s.health() })),
    describe: () => ({
      active: discovery.sensors.map((s) => ({
        name: s.name, devices: s.devices(), health: s.health(), sampler: sampler.stats(s.name),
        ...(isNvmlSensor(s) ? { deviceStatus: s.deviceStatus() } : {}),
      })),
      skipped: discovery.skipped,
      ...(cc ? { crossCheck: { name: cc.name, health: cc.health() } } : {}),
      timeline: { dropped: timeline.dropped() },
    }),
    notReady: () => {
      const reasons: string[] = [];
      if (!discovery.sensors.length) reasons.push('no sensor');
      for (const s of discovery.sensors) if (s.health().lastSampleMs === undefined) reasons.push(`sensor ${s.name} has not delivered a reading yet`);
      return reasons;
    },
    services: [
      { name: 'sensors', stop: async () => { await Promise.all(allSensors.map((s) => s.close())); } },
      {
        name: 'samplers',
        start: () => { sampler.start(); crossSampler?.start(); },
        stop: async () => {
          await sampler.stop();
          await crossSampler?.stop();
          // One last reading, so that the requests that just ended are covered.
          try { await sampler.tick(); } catch { /* sensors never throw; belt and braces at shutdown */ }
        },
      },
    ],
  };
}
