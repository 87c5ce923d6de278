import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../core/clock.js';
import { asError, errnoCode, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { createHealthTracker } from './health.js';
import { createZoneCounter, type ZoneCounter } from './rapl-counter.js';
import { isRaplZoneDir, selectZones, type PsysPolicy, type RawZone, type SelectedZone } from './rapl-zones.js';
import type { DeviceInfo, ProbeResult, Reading, Sensor, SensorErrorReason } from './types.js';

/**
 * CPU package and DRAM energy from the Linux powercap RAPL counters (docs/sensors.md).
 * Zone rules (which zones count, psys, MMIO duplicates, AMD) are in rapl-zones.ts; counter rules (first
 * reading, wrap, reset, implausible deltas) in rapl-counter.ts. This file discovers, trial-reads and polls.
 */
export const DEFAULT_POWERCAP_ROOT = '/sys/class/powercap';

/**
 * Default plausibility bound per zone. The largest x86 server packages today are rated 500 W (AMD EPYC
 * 9965, Intel Xeon 6980P; vendor spec pages), and short-term limits (PL2) run to about 1.2–2 × that; no DRAM
 * zone comes near. 2000 W is 4 × the largest TDP, so a real delta is never dropped, while what it is meant
 * to catch is orders of magnitude above it: a counter reset read as a wrap of a 262,143 J range
 * (max_energy_range_uj of the recorded tree) over a 250 ms sample is about 1 MW.
 */
export const DEFAULT_MAX_PLAUSIBLE_W = 2000;

/** The two file operations the sensor needs; injectable so tests can simulate EACCES when run as root. */
export interface PowercapFs {
  readFile(path: string): Promise<string>;
  readdir(path: string): Promise<string[]>;
}

export const nodePowercapFs: PowercapFs = {
  // Synchronous on purpose: reading a sysfs counter never waits on a disk (the kernel reads an MSR and
  // formats a number), so it costs microseconds, where fs/promises' readFile takes five thread-pool round
  // trips (open, fstat, read, read, close) and showed as ~0.7 ms and a third of the agent's CPU per read
  // under load (docs/bench.md). Errors still arrive as rejections.
  readFile: (p) => {
    try {
      return Promise.resolve(readFileSync(p, 'utf8'));
    } catch (err) {
      return Promise.reject(asError(err));
    }
  },
  readdir: (p) => readdir(p),
};

export interface RaplProbeOptions {
  /** Powercap root; default /sys/class/powercap (`--powercap-root`). */
  root?: string;
  clock: Clock;
  logger: Logger;
  /** Per-zone plausibility bound in W; deltas above it × dt are dropped. Default 2000 W. */
  maxPlausibleW?: number;
  /** How psys is used; see rapl-zones.ts. Default 'fallback' (alone, only when no package zone exists). */
  psys?: PsysPolicy;
  fs?: PowercapFs;
}

/**
 * Why `energy_uj` is unreadable and how to fix it. Since Linux 5.10 (and stable backports) energy_uj is
 * mode 0400 root, after the Platypus power side-channel attack (CVE-2020-8694).
 */
export function raplPermissionMessage(path: string): string {
  return [
    `cannot read ${path}: permission denied. Since Linux 5.10, RAPL energy_uj is readable by root only`,
    '(mitigation of the Platypus attack, CVE-2020-8694). Fix one of:',
    '(1) run inferwatt as root;',
    "(2) make the counters world-readable: `sudo chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj` (lost at reboot),",
    'or persistently with a udev rule, e.g. /etc/udev/rules.d/99-inferwatt-rapl.rules:',
    'ACTION=="add", SUBSYSTEM=="powercap", KERNEL=="intel-rapl:*", RUN+="/bin/chmod a+r %S%p/energy_uj";',
    '(3) grant CAP_DAC_READ_SEARCH: to the node binary (`sudo setcap cap_dac_read_search+ep "$(readlink -f "$(which node)")"`,',
    'which applies to every node program), or in a container with --cap-add DAC_READ_SEARCH.',
    `In a container, also see: ${CONTAINER_HINT} Otherwise use --sensors estimate.`,
  ].join(' ');
}

/**
 * Container runtimes now hide the powercap tree: Docker 24.0.7/23.0.8, Podman 4.7.2 and Kubernetes (1.28+
 * backports) mask /sys/devices/virtual/powercap by default (GHSA-jq35-85cj-fj4p), so the
 * /sys/class/powercap symlinks dangle. A separate read-only bind mount of the host's /sys is not masked, and
 * its class symlinks resolve inside it.
 */
const CONTAINER_HINT =
  'container runtimes mask /sys/devices/virtual/powercap by default (Docker >= 24.0.7, Podman >= 4.7.2, Kubernetes;' +
  ' GHSA-jq35-85cj-fj4p): mount the host /sys read-only elsewhere (-v /sys:/host/sys:ro) and pass' +
  ' --powercap-root /host/sys/class/powercap.';

interface Zone extends SelectedZone {
  readonly energyPath: string;
  readonly counter: ZoneCounter;
  readonly device: DeviceInfo;
}

export async function probeRapl(opts: RaplProbeOptions): Promise<ProbeResult> {
  const root = opts.root ?? DEFAULT_POWERCAP_ROOT;
  const fs = opts.fs ?? nodePowercapFs;
  const log = opts.logger.child('rapl');
  const maxPlausibleW = opts.maxPlausibleW ?? DEFAULT_MAX_PLAUSIBLE_W;
  const fail = (reason: string): ProbeResult => ({ ok: false, name: 'rapl', reason });

  let entries: string[];
  try {
    entries = await fs.readdir(root);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') {
      return fail(`no powercap tree at ${root} (no RAPL: a VM, a container without /sys/class/powercap, or not Linux on x86)`);
    }
    if (code === 'EACCES') return fail(`cannot list ${root}: permission denied`);
    return fail(`cannot list ${root}: ${errorMessage(err)}`);
  }

  const raw: RawZone[] = [];
  const zoneDirs = entries.filter(isRaplZoneDir);
  let unreadable = 0;
  for (const dir of zoneDirs) {
    try {
      raw.push({ dir, name: (await fs.readFile(join(root, dir, 'name'))).trim() });
    } catch (err) {
      unreadable++;
      log.debug('zone without a readable name; skipped', { dir, error: errorMessage(err) });
    }
  }
  if (raw.length === 0 && unreadable > 0) {
    return fail(`RAPL zones listed under ${root} (${zoneDirs.join(', ')}) but none can be read; ${CONTAINER_HINT}`);
  }
  if (raw.length === 0) return fail(`no RAPL zones under ${root} (no intel-rapl:* zone)`);

  const { selected, skipped } = selectZones(root, raw, opts.psys ?? 'fallback');
  for (const s of skipped) log.debug('zone not counted', s);
  if (selected.length === 0) {
    return fail(`no countable RAPL zone under ${root}: ${skipped.map((s) => `${s.dir} (${s.name}): ${s.why}`).join('; ')}`);
  }

  // Trial read of every selected zone; EACCES on any is a configuration problem worth stopping for.
  const zones: Zone[] = [];
  const problems: string[] = [];
  for (const z of selected) {
    const energyPath = join(z.path, 'energy_uj');
    try {
      const v = parseCounter(await fs.readFile(energyPath));
      if (v === undefined) { problems.push(`${energyPath}: not a counter value`); continue; }
    } catch (err) {
      if (errnoCode(err) === 'EACCES' || errnoCode(err) === 'EPERM') return fail(raplPermissionMessage(energyPath));
      problems.push(`${energyPath}: ${errorMessage(err)}`);
      continue;
    }
    let maxEnergyRangeUj: number | undefined;
    const notes = [...z.notes];
    try {
      maxEnergyRangeUj = parseCounter(await fs.readFile(join(z.path, 'max_energy_range_uj')));
    } catch {
      maxEnergyRangeUj = undefined;
    }
    if (maxEnergyRangeUj === undefined || maxEnergyRangeUj <= 0) {
      maxEnergyRangeUj = undefined;
      notes.push('max_energy_range_uj missing: a counter decrease is treated as a reset and that delta is dropped');
    }
    zones.push({
      ...z,
      notes,
      energyPath,
      counter: createZoneCounter({ maxEnergyRangeUj, maxPlausibleW }),
      device: {
        id: z.deviceId, kind: z.kind, method: 'counter', sensor: 'rapl',
        name: z.zoneName === 'psys' ? 'RAPL psys (platform)' : `RAPL ${z.zoneName}`, notes,
      },
    });
  }
  if (zones.length === 0) return fail(`no RAPL zone could be read: ${problems.join('; ')}`);
  for (const p of problems) log.warn('RAPL zone skipped: trial read failed', { problem: p });

  log.info('RAPL zones', { devices: zones.map((z) => `${z.deviceId}=${z.dir}`).join(','), skipped: skipped.length });
  return { ok: true, sensor: createRaplSensor(zones, fs, opts.clock, log) };
}

function createRaplSensor(zones: readonly Zone[], fs: PowercapFs, clock: Clock, log: Logger): Sensor {
  const health = createHealthTracker(true);
  const devices = zones.map((z) => z.device);
  let closed = false;

  const readZone = async (z: Zone): Promise<number | SensorErrorReason> => {
    try {
      const v = parseCounter(await fs.readFile(z.energyPath));
      return v === undefined ? 'parse' : v;
    } catch (err) {
      const code = errnoCode(err);
      return code === 'EACCES' || code === 'EPERM' ? 'permission' : 'read_failed';
    }
  };

  return {
    name: 'rapl',
    devices: () => devices,
    async read() {
      if (closed) return [];
      try {
        const t0 = clock.nowMs();
        const values = await Promise.all(zones.map(readZone));
        // The zones were read concurrently somewhere in [t0, t1]; the midpoint is the best single stamp.
        const tMs = (t0 + clock.nowMs()) / 2;
        const out: Reading[] = [];
        let failures = 0;
        values.forEach((v, i) => {
          const z = zones[i]!;
          if (typeof v !== 'number') {
            failures++;
            z.counter.markError();
            health.count(v, `${z.energyPath}: ${v}`);
            log.rateLimited('warn', `read:${z.dir}:${v}`, 'RAPL read failed; next delta will be dropped', { zone: z.dir, reason: v });
            return;
          }
          const r = z.counter.update(v, tMs);
          if (r.wrapped) health.count('wrap');
          if (r.dropped) {
            health.count(r.dropped, `${z.deviceId}: ${r.dropped} delta dropped`);
            log.rateLimited('warn', `drop:${z.dir}:${r.dropped}`, 'RAPL delta dropped', { zone: z.dir, reason: r.dropped });
          }
          out.push({ device: z.deviceId, tMs, energyJ: r.energyJ });
        });
        if (failures === zones.length) health.setUp(false, 'every RAPL zone failed to read');
        else health.ok(tMs);
        return out;
      } catch (err) {
        // Not expected (readZone catches); kept so that read() never throws into the sampler.
        health.fail('read_failed', errorMessage(err));
        return [];
      }
    },
    health: () => health.snapshot(),
    async close() {
      closed = true;
    },
  };
}

/** energy_uj and max_energy_range_uj are unsigned decimal integers (µJ). */
function parseCounter(text: string): number | undefined {
  const s = text.trim();
  if (!/^\d+$/.test(s)) return undefined;
  const v = Number(s);
  return Number.isSafeInteger(v) ? v : undefined;
}
