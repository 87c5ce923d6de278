import type { ExtraFlag } from '../config/argv.js';
import { configFromArgv } from '../config/from-argv.js';
import { createSystemClock } from '../core/clock.js';
import { createLogger } from '../core/logger.js';
import { createSampler } from '../energy/sampler.js';
import { createEnergyTimeline } from '../energy/timeline.js';
import { discoverSensors } from '../sensors/discovery.js';

export const SENSORS_FLAGS: readonly ExtraFlag[] = [
  { flag: 'json', type: 'bool', help: 'machine-readable output' },
  { flag: 'seconds', type: 'string', help: 'how long to sample for the live readings (default 2)' },
];

/** `inferwatt sensors`: what was found, what was skipped and why, and a few live readings. */
export async function runSensorsCommand(
  argv: readonly string[],
  io: { stdout: (s: string) => void; stderr: (s: string) => void; env: Readonly<Record<string, string | undefined>> },
): Promise<number> {
  const { loaded, extra } = configFromArgv(argv, {
    env: io.env, extra: SENSORS_FLAGS,
    check: (x) => {
      const s = x.seconds === undefined ? 2 : Number(x.seconds);
      return Number.isFinite(s) && s >= 0 && s <= 60 ? [] : ['--seconds must be a number from 0 to 60'];
    },
  });
  const config = loaded.config;
  const json = extra.json === true;
  const seconds = extra.seconds === undefined ? 2 : Number(extra.seconds);
  const clock = createSystemClock();
  const logger = createLogger({ level: json ? 'error' : 'warn', format: config.log.format });
  const discovery = await discoverSensors({ ...config.sensors, clock, logger });
  const devices = discovery.sensors.flatMap((s) => s.devices());
  const timeline = createEnergyTimeline({ devices, logger });
  const sampler = createSampler({
    sensors: discovery.sensors, timeline, clock, logger,
    intervalMs: (s) => (s.name === 'rapl' || s.name === 'estimate' ? config.sensors.cpuIntervalMs : config.sensors.gpuIntervalMs),
  });
  const t0 = clock.nowMs();
  sampler.start();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  await sampler.stop();
  const t1 = clock.nowMs();
  const readings = devices.map((d) => {
    const e = timeline.series(d.id);
    const from = Math.max(t0, e?.retainedFromMs() ?? t1);
    const to = e?.coveredUntilMs() ?? from;
    const j = to > from ? timeline.energyBetween(d.id, from, to) : undefined;
    return { device: d.id, kind: d.kind, name: d.name, sensor: d.sensor, method: d.method, notes: d.notes ?? [],
      meanPowerW: j !== undefined && to > from ? j / ((to - from) / 1000) : null, latestPowerW: e?.latestPowerW() ?? null };
  });
  const result = {
    active: discovery.sensors.map((s) => ({ name: s.name, health: s.health(), devices: s.devices().map((d) => d.id) })),
    skipped: discovery.skipped,
    crossCheck: discovery.crossCheck ? discovery.crossCheck.name : null,
    sampledSeconds: (t1 - t0) / 1000,
    readings,
  };
  await Promise.all([...discovery.sensors, ...(discovery.crossCheck ? [discovery.crossCheck] : [])].map((s) => s.close()));

  if (json) {
    io.stdout(JSON.stringify(result, null, 2) + '\n');
    return 0;
  }
  const lines: string[] = [];
  lines.push(discovery.sensors.length ? 'Sensors in use:' : 'No sensor in use: energy cannot be measured on this host.');
  for (const s of result.active) {
    lines.push(`  ${s.name.padEnd(11)} ${s.health.up ? 'up  ' : 'DOWN'} devices: ${s.devices.join(', ')}${s.health.message ? `  (${s.health.message})` : ''}`);
  }
  if (result.skipped.length) {
    lines.push('', 'Skipped:');
    for (const s of result.skipped) lines.push(`  ${s.name.padEnd(11)} ${s.reason}`);
  }
  if (readings.length) {
    lines.push('', `Live readings over ${result.sampledSeconds.toFixed(1)} s:`);
    for (const r of readings) {
      const p = r.meanPowerW ?? r.latestPowerW;
      lines.push(`  ${r.device.padEnd(12)} ${r.kind.padEnd(4)} ${p === null ? '   (no reading yet)' : `${p.toFixed(1).padStart(8)} W`}  ${r.method.padEnd(10)} ${r.name}${r.notes.length ? `  [${r.notes.join('; ')}]` : ''}`);
    }
  }
  io.stdout(lines.join('\n') + '\n');
  return 0;
}
