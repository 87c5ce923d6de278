import { afterEach, describe, expect, it } from 'vitest';
import { symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { createFakeClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { createEnergyTimeline } from '../../src/energy/timeline.js';
import { nodePowercapFs, probeRapl, type PowercapFs } from '../../src/sensors/rapl.js';
import type { Reading, Sensor } from '../../src/sensors/types.js';
import {
  RECORDED_MAX_RANGE_UJ, RECORDED_POWERCAP_ROOT, addZones, copyRecordedTree, createPowercapTree, removeFile,
  type PowercapTree,
} from '../helpers/powercap-tree.js';

const trees: PowercapTree[] = [];
afterEach(async () => {
  while (trees.length) await trees.pop()!.remove();
});
const track = (t: PowercapTree) => (trees.push(t), t);

async function probeOk(root: string, clock = createFakeClock(), extra: Partial<Parameters<typeof probeRapl>[0]> = {}): Promise<Sensor> {
  const r = await probeRapl({ root, clock, logger: silentLogger, ...extra });
  if (!r.ok) throw new Error(`probe failed: ${r.reason}`);
  return r.sensor;
}
const byDevice = (rs: readonly Reading[]) => Object.fromEntries(rs.map((r) => [r.device, r.energyJ]));
const ids = (s: Sensor) => s.devices().map((d) => d.id);

// The recorded zone (node_exporter fixture): package-0 at 240422366267 µJ, range 262143328850 µJ, and a core subzone.
const PKG0_UJ = 240422366267;
const CORE_UJ = 118821284256;

describe('RAPL on the recorded node_exporter powercap tree', () => {
  it('replays the real tree: one package device, core subzone not counted, counter readings from 0 J', async () => {
    const clock = createFakeClock();
    const s = await probeOk(RECORDED_POWERCAP_ROOT, clock);
    expect(s.devices()).toEqual([
      expect.objectContaining({ id: 'package-0', kind: 'cpu', method: 'counter', sensor: 'rapl', name: 'RAPL package-0' }),
    ]);
    const first = await s.read();
    clock.advance(250);
    const second = await s.read();
    expect(first).toEqual([{ device: 'package-0', tMs: 0, energyJ: 0 }]);
    // The recorded counter does not move, so no energy is added.
    expect(second).toEqual([{ device: 'package-0', tMs: 250, energyJ: 0 }]);
    expect(s.health()).toMatchObject({ up: true, lastSampleMs: 250, errors: {} });
  });

  it('wraps across samples: cumulative energy keeps growing at the zone\'s true rate (95 W, the zone\'s max power)', async () => {
    const tree = track(await copyRecordedTree());
    const clock = createFakeClock();
    const s = await probeOk(tree.root, clock);
    const powerW = 95; // constraint_0_max_power_uw of the recorded zone
    const stepUj = powerW * 2e6; // one sample every 2 s
    let raw = PKG0_UJ;
    let wraps = 0;
    const seen: number[] = [];
    for (let k = 0; k <= 200; k++) {
      if (k > 0) {
        clock.advance(2000);
        raw += stepUj;
        if (raw >= RECORDED_MAX_RANGE_UJ) { raw -= RECORDED_MAX_RANGE_UJ; wraps++; }
        await tree.setEnergyUj('intel-rapl:0', raw);
      }
      const [r] = await s.read();
      seen.push(r!.energyJ!);
      expect(r!.energyJ).toBeCloseTo(powerW * 2 * k, 6);
    }
    // 21,721 J of headroom at 95 W: the counter wraps once, near t = 229 s, and energy never went down.
    expect(wraps).toBe(1);
    expect(seen.every((e, i) => i === 0 || e > seen[i - 1]!)).toBe(true);
    expect(s.health().errors).toEqual({ wrap: 1 });
  });
});

describe('RAPL through the energy timeline', () => {
  it('a wrapping recorded zone: the timeline\'s energy over any window is the zone\'s true power × time', async () => {
    const tree = track(await copyRecordedTree());
    const clock = createFakeClock();
    const s = await probeOk(tree.root, clock);
    const timeline = createEnergyTimeline({ devices: s.devices() });
    // 80 W for 150 s, then 120 W for 150 s, sampled every second: the counter wraps at ≈ 231 s.
    let raw = PKG0_UJ;
    let wraps = 0;
    for (let k = 0; k <= 300; k++) {
      if (k > 0) {
        clock.advance(1000);
        raw += (clock.nowMs() <= 150_000 ? 80 : 120) * 1e6;
        if (raw >= RECORDED_MAX_RANGE_UJ) { raw -= RECORDED_MAX_RANGE_UJ; wraps++; }
        await tree.setEnergyUj('intel-rapl:0', raw);
      }
      for (const r of await s.read()) timeline.append(r);
    }
    expect(wraps).toBe(1);
    expect(timeline.energyBetween('package-0', 0, 150_000)).toBeCloseTo(80 * 150, 6);
    expect(timeline.energyBetween('package-0', 200_000, 250_000)).toBeCloseTo(120 * 50, 6); // across the wrap
    expect(timeline.energyBetween('package-0', 0, 300_000)).toBeCloseTo(80 * 150 + 120 * 150, 6);
    expect(Object.values(timeline.dropped()).every((n) => n === 0)).toBe(true);
  });
});

describe('RAPL permission problems (energy_uj root-only since Linux 5.10)', () => {
  // Tests may run as root, where `chmod 000` does not deny reads; EACCES is injected through the fs seam.
  const denyEnergy = (deny: () => boolean): PowercapFs => ({
    readdir: (p) => nodePowercapFs.readdir(p),
    async readFile(p) {
      if (p.endsWith('energy_uj') && deny()) {
        throw Object.assign(new Error(`EACCES: permission denied, open '${p}'`), { code: 'EACCES' });
      }
      return nodePowercapFs.readFile(p);
    },
  });

  it('EACCES at the trial read fails the probe with a reason naming every fix', async () => {
    const r = await probeRapl({ root: RECORDED_POWERCAP_ROOT, clock: createFakeClock(), logger: silentLogger, fs: denyEnergy(() => true) });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.name).toBe('rapl');
    expect(r.reason).toContain(join(RECORDED_POWERCAP_ROOT, 'intel-rapl:0', 'energy_uj'));
    for (const needle of ['Linux 5.10', 'CVE-2020-8694', 'as root', 'chmod a+r', 'udev', 'CAP_DAC_READ_SEARCH', '-v /sys:/host/sys:ro', '--powercap-root', 'GHSA-jq35-85cj-fj4p']) {
      expect(r.reason).toContain(needle);
    }
  });

  it('EACCES during sampling: no reading, counted as permission, the first delta after it dropped', async () => {
    const tree = track(await copyRecordedTree());
    const clock = createFakeClock();
    let deny = false;
    const s = await probeOk(tree.root, clock, { fs: denyEnergy(() => deny) });
    await s.read();
    clock.advance(1000);
    await tree.setEnergyUj('intel-rapl:0', PKG0_UJ + 50e6);
    expect(byDevice(await s.read())).toEqual({ 'package-0': 50 });
    deny = true;
    clock.advance(1000);
    expect(await s.read()).toEqual([]);
    expect(s.health()).toMatchObject({ up: false, errors: { permission: 1 } });
    deny = false;
    clock.advance(1000);
    await tree.setEnergyUj('intel-rapl:0', PKG0_UJ + 150e6);
    expect(byDevice(await s.read())).toEqual({ 'package-0': 50 }); // dropped: unknown what happened meanwhile
    clock.advance(1000);
    await tree.setEnergyUj('intel-rapl:0', PKG0_UJ + 200e6);
    expect(byDevice(await s.read())).toEqual({ 'package-0': 100 });
    expect(s.health()).toMatchObject({ up: true, errors: { permission: 1, reset: 1 } });
  });

  it('an unreadable energy_uj (a directory: EISDIR, real filesystem) during sampling is counted, then recovered', async () => {
    const tree = track(await copyRecordedTree());
    const clock = createFakeClock();
    const s = await probeOk(tree.root, clock);
    await s.read();
    await tree.breakEnergyFile('intel-rapl:0');
    clock.advance(1000);
    expect(await s.read()).toEqual([]);
    expect(s.health().errors).toEqual({ read_failed: 1 });
    await tree.repairEnergyFile('intel-rapl:0', PKG0_UJ + 10e6);
    clock.advance(1000);
    expect(byDevice(await s.read())).toEqual({ 'package-0': 0 });
    await tree.setEnergyUj('intel-rapl:0', PKG0_UJ + 40e6);
    clock.advance(1000);
    expect(byDevice(await s.read())).toEqual({ 'package-0': 30 });
  });

  it('a zone whose energy_uj cannot be read at probe time is left out; with no zone left the probe fails', async () => {
    const tree = track(await copyRecordedTree());
    await tree.breakEnergyFile('intel-rapl:0');
    const r = await probeRapl({ root: tree.root, clock: createFakeClock(), logger: silentLogger });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/no RAPL zone could be read: .*intel-rapl:0\/energy_uj/);
  });
});

describe('RAPL counter edge cases on derived trees', () => {
  it('missing max_energy_range_uj: a decrease is an unknown-range reset, dropped and counted', async () => {
    const tree = track(await copyRecordedTree());
    await removeFile(tree, 'intel-rapl:0', 'max_energy_range_uj');
    const clock = createFakeClock();
    const s = await probeOk(tree.root, clock);
    expect(s.devices()[0]!.notes).toContainEqual(expect.stringContaining('max_energy_range_uj missing'));
    await s.read();
    await tree.setEnergyUj('intel-rapl:0', PKG0_UJ + 20e6);
    clock.advance(1000);
    expect(byDevice(await s.read())).toEqual({ 'package-0': 20 });
    await tree.setEnergyUj('intel-rapl:0', 5e6); // went down, range unknown
    clock.advance(1000);
    expect(byDevice(await s.read())).toEqual({ 'package-0': 20 });
    await tree.setEnergyUj('intel-rapl:0', 25e6);
    clock.advance(1000);
    expect(byDevice(await s.read())).toEqual({ 'package-0': 40 });
    expect(s.health().errors).toEqual({ reset: 1 });
  });

  it('an implausible delta (above maxPlausibleW × dt) is dropped and counted; the next one counts', async () => {
    const tree = track(await copyRecordedTree());
    const clock = createFakeClock();
    const s = await probeOk(tree.root, clock, { maxPlausibleW: 500 });
    await s.read();
    await tree.setEnergyUj('intel-rapl:0', PKG0_UJ + 600e6); // 600 J in 1 s > 500 W
    clock.advance(1000);
    expect(byDevice(await s.read())).toEqual({ 'package-0': 0 });
    await tree.setEnergyUj('intel-rapl:0', PKG0_UJ + 700e6); // 100 J in 1 s
    clock.advance(1000);
    expect(byDevice(await s.read())).toEqual({ 'package-0': 100 });
    expect(s.health().errors).toEqual({ implausible: 1 });
  });

  it('a counter reset read as a near-full-range wrap is caught by the default 2000 W bound', async () => {
    const tree = track(await copyRecordedTree());
    const clock = createFakeClock();
    const s = await probeOk(tree.root, clock);
    await s.read();
    await tree.setEnergyUj('intel-rapl:0', PKG0_UJ - 1e6); // went down by 1 J: as a wrap, ≈262 kJ in 250 ms
    clock.advance(250);
    expect(byDevice(await s.read())).toEqual({ 'package-0': 0 });
    // A wrap that is then found implausible is not counted as a wrap.
    expect(s.health().errors).toEqual({ implausible: 1 });
  });

  it('intel-rapl-mmio duplicate of a package is dropped: energy follows the MSR zone only', async () => {
    const tree = track(await createPowercapTree([
      { dir: 'intel-rapl:0', name: 'package-0', energyUj: 1000e6 },
      { dir: 'intel-rapl:0:0', name: 'core', energyUj: 500e6 },
      { dir: 'intel-rapl-mmio:0', name: 'package-0', energyUj: 1000e6 },
    ]));
    const clock = createFakeClock();
    const s = await probeOk(tree.root, clock);
    expect(ids(s)).toEqual(['package-0']);
    expect(s.devices()[0]!.notes![0]).toContain('intel-rapl:0 (package-0)');
    await s.read();
    await tree.setEnergyUj('intel-rapl:0', 1030e6);
    await tree.setEnergyUj('intel-rapl-mmio:0', 1031e6);
    clock.advance(1000);
    expect(await s.read()).toEqual([{ device: 'package-0', tMs: 1000, energyJ: 30 }]);
  });

  it('an MMIO-only package (no MSR zone of that name) is used', async () => {
    const tree = track(await createPowercapTree([{ dir: 'intel-rapl-mmio:0', name: 'package-0', energyUj: 7e6 }]));
    const s = await probeOk(tree.root);
    expect(ids(s)).toEqual(['package-0']);
    expect(s.devices()[0]!.notes![0]).toContain('MMIO');
  });

  it('psys: not added to package zones by default; used alone when preferred or when it is the only zone', async () => {
    const zones = [
      { dir: 'intel-rapl:0', name: 'package-0', energyUj: 1e6 },
      { dir: 'intel-rapl:0:0', name: 'core', energyUj: 1e6 },
      { dir: 'intel-rapl:0:1', name: 'uncore', energyUj: 1e6 },
      { dir: 'intel-rapl:0:2', name: 'dram', energyUj: 1e6 },
      { dir: 'intel-rapl:1', name: 'psys', energyUj: 1e6 },
    ];
    const tree = track(await createPowercapTree(zones));
    expect(ids(await probeOk(tree.root))).toEqual(['package-0', 'dram-0']);
    expect(ids(await probeOk(tree.root, createFakeClock(), { psys: 'never' }))).toEqual(['package-0', 'dram-0']);

    const clock = createFakeClock();
    const preferred = await probeOk(tree.root, clock, { psys: 'prefer' });
    expect(preferred.devices()).toEqual([expect.objectContaining({ id: 'psys', kind: 'cpu', method: 'counter' })]);
    await preferred.read();
    await tree.setEnergyUj('intel-rapl:1', 1e6 + 12e6);
    await tree.setEnergyUj('intel-rapl:0', 1e6 + 8e6);
    clock.advance(1000);
    expect(byDevice(await preferred.read())).toEqual({ psys: 12 });

    const only = track(await createPowercapTree([{ dir: 'intel-rapl:0', name: 'psys', energyUj: 1e6 }]));
    const s = await probeOk(only.root);
    expect(ids(s)).toEqual(['psys']);
    expect(s.devices()[0]!.notes).toContainEqual(expect.stringContaining('no package zone'));
    const never = await probeRapl({ root: only.root, clock: createFakeClock(), logger: silentLogger, psys: 'never' });
    expect(never.ok).toBe(false);
    if (!never.ok) expect(never.reason).toContain('psys ignored by configuration');
  });

  it('two sockets with dram: devices named from the zone names, not the directory indexes', async () => {
    // Indexes deliberately crossed: intel-rapl:0 is package-1 and intel-rapl:1 is package-0.
    const tree = track(await createPowercapTree([
      { dir: 'intel-rapl:0', name: 'package-1', energyUj: 0 },
      { dir: 'intel-rapl:0:0', name: 'dram', energyUj: 0 },
      { dir: 'intel-rapl:1', name: 'package-0', energyUj: 0 },
      { dir: 'intel-rapl:1:0', name: 'dram', energyUj: 0 },
    ]));
    const clock = createFakeClock();
    const s = await probeOk(tree.root, clock);
    expect(s.devices().map((d) => [d.id, d.kind])).toEqual([
      ['package-1', 'cpu'], ['package-0', 'cpu'], ['dram-1', 'dram'], ['dram-0', 'dram'],
    ]);
    await s.read();
    await tree.setEnergyUj('intel-rapl:0', 100e6);
    await tree.setEnergyUj('intel-rapl:0:0', 10e6);
    await tree.setEnergyUj('intel-rapl:1', 200e6);
    await tree.setEnergyUj('intel-rapl:1:0', 20e6);
    clock.advance(1000);
    expect(byDevice(await s.read())).toEqual({ 'package-1': 100, 'dram-1': 10, 'package-0': 200, 'dram-0': 20 });
  });

  it('the recorded socket plus a second one: core/uncore subzones are never added on top of their package', async () => {
    const tree = track(await copyRecordedTree());
    await addZones(tree, [
      { dir: 'intel-rapl:0:1', name: 'uncore', energyUj: 1e6 },
      { dir: 'intel-rapl:1', name: 'package-1', energyUj: 1e6 },
      { dir: 'intel-rapl:1:0', name: 'core', energyUj: 1e6 },
    ]);
    const clock = createFakeClock();
    const s = await probeOk(tree.root, clock);
    expect(ids(s)).toEqual(['package-0', 'package-1']);
    await s.read();
    // 50 W per package, of which 30 W core and 5 W uncore, for 10 s.
    await tree.setEnergyUj('intel-rapl:0', PKG0_UJ + 500e6);
    await tree.setEnergyUj('intel-rapl:0:0', CORE_UJ + 300e6);
    await tree.setEnergyUj('intel-rapl:0:1', 1e6 + 50e6);
    await tree.setEnergyUj('intel-rapl:1', 1e6 + 500e6);
    await tree.setEnergyUj('intel-rapl:1:0', 1e6 + 300e6);
    clock.advance(10_000);
    const total = (await s.read()).reduce((sum, r) => sum + r.energyJ!, 0);
    expect(total).toBeCloseTo(2 * 50 * 10, 9);
  });
});

describe('RAPL discovery failures keep their reason', () => {
  it('no powercap tree at the root', async () => {
    const r = await probeRapl({ root: '/nonexistent/powercap', clock: createFakeClock(), logger: silentLogger });
    expect(r).toEqual({ ok: false, name: 'rapl', reason: expect.stringContaining('no powercap tree at /nonexistent/powercap') });
  });

  it('a container-masked tree (zone symlinks dangle) says so and names the bind-mount fix', async () => {
    const tree = track(await createPowercapTree([]));
    // As /sys/class/powercap looks when the runtime masks /sys/devices/virtual/powercap.
    await symlink('../../devices/virtual/powercap/intel-rapl/intel-rapl:0', join(tree.root, 'intel-rapl:0'));
    const r = await probeRapl({ root: tree.root, clock: createFakeClock(), logger: silentLogger });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reason).toContain('RAPL zones listed under');
      expect(r.reason).toContain('intel-rapl:0');
      expect(r.reason).toContain('--powercap-root /host/sys/class/powercap');
    }
  });

  it('a tree with only the control-type directory has no zones', async () => {
    const tree = track(await createPowercapTree([]));
    const r = await probeRapl({ root: tree.root, clock: createFakeClock(), logger: silentLogger });
    expect(r).toEqual({ ok: false, name: 'rapl', reason: expect.stringContaining('no RAPL zones under') });
  });

  it('read() after close returns nothing and does not throw', async () => {
    const s = await probeOk(RECORDED_POWERCAP_ROOT);
    await s.close();
    await s.close();
    expect(await s.read()).toEqual([]);
  });
});
