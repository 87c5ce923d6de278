import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { runSensorsCommand } from '../../src/commands/sensors.js';
import { RECORDED_POWERCAP_ROOT } from '../helpers/powercap-tree.js';
import { COMPOSE_DIR, K8S_DIR, type Doc } from './manifests.js';

/**
 * The RAPL mount that the DaemonSet and the CPU compose file use, replayed on a fake filesystem: a host
 * /sys laid out like the kernel's (/sys/class/powercap/<zone> are relative links to
 * ../../devices/virtual/powercap/intel-rapl/<zone>), built from the recorded node_exporter tree.
 *  - The container's own /sys, where the runtime masks /sys/devices/virtual/powercap
 *    (GHSA-jq35-85cj-fj4p): the links dangle and RAPL is skipped, with the fix named.
 *  - The host's /sys mounted at /host/sys with INFERWATT_POWERCAP_ROOT from the manifests: RAPL is read.
 * (The tests run as root, so the 0400 energy_uj files are readable, as for the DaemonSet's uid 0.)
 */
function fakeHostSys(): string {
  const sys = join(mkdtempSync(join(tmpdir(), 'inferwatt-hostsys-')), 'sys');
  const devices = join(sys, 'devices', 'virtual', 'powercap', 'intel-rapl');
  mkdirSync(devices, { recursive: true });
  mkdirSync(join(sys, 'class', 'powercap'), { recursive: true });
  for (const zone of readdirSync(RECORDED_POWERCAP_ROOT).filter((z) => z.startsWith('intel-rapl:'))) {
    cpSync(join(RECORDED_POWERCAP_ROOT, zone), join(devices, zone), { recursive: true });
    symlinkSync(`../../devices/virtual/powercap/intel-rapl/${zone}`, join(sys, 'class', 'powercap', zone));
  }
  return sys;
}

async function sensorsJson(env: Record<string, string>): Promise<{ active: { name: string; devices: string[] }[]; skipped: { name: string; reason: string }[] }> {
  let out = '';
  const code = await runSensorsCommand(['--sensors', 'rapl', '--json', '--seconds', '0'], { stdout: (s) => { out += s; }, stderr: () => {}, env });
  expect(code).toBe(0);
  return JSON.parse(out) as { active: { name: string; devices: string[] }[]; skipped: { name: string; reason: string }[] };
}

const daemonSetEnv = (): Record<string, string> => {
  const ds = parse(readFileSync(join(K8S_DIR, 'daemonset', 'daemonset.yaml'), 'utf8')) as Doc;
  const c = (ds.spec.template.spec.containers as Doc[]).find((x) => x.name === 'inferwatt')!;
  return Object.fromEntries((c.env as { name: string; value: string }[]).map((e) => [e.name, e.value]));
};
const composeCpuEnv = (): Record<string, string> =>
  (parse(readFileSync(join(COMPOSE_DIR, 'docker-compose.cpu.yml'), 'utf8')) as Doc).services.inferwatt.environment as Record<string, string>;

describe('RAPL in a container, through the host /sys mounted at /host/sys', () => {
  it('the container\'s own masked /sys: zones listed but unreadable, RAPL skipped with the /host/sys fix named', async () => {
    const host = fakeHostSys();
    // A container root whose /sys has the class links but an empty (masked) devices/virtual/powercap.
    const container = mkdtempSync(join(tmpdir(), 'inferwatt-container-'));
    mkdirSync(join(container, 'sys', 'devices', 'virtual', 'powercap'), { recursive: true });
    cpSync(join(host, 'class'), join(container, 'sys', 'class'), { recursive: true, verbatimSymlinks: true });
    const r = await sensorsJson({ INFERWATT_POWERCAP_ROOT: join(container, 'sys', 'class', 'powercap') });
    expect(r.active).toEqual([]);
    expect(r.skipped.find((s) => s.name === 'rapl')?.reason).toMatch(/GHSA-jq35-85cj-fj4p.*\/host\/sys/);
  });

  it.each([
    ['the DaemonSet', daemonSetEnv],
    ['the CPU compose file', composeCpuEnv],
  ])('%s: INFERWATT_POWERCAP_ROOT inside the /host/sys mount reads the package zones', async (_name, envOf) => {
    const host = fakeHostSys();
    const root = envOf().INFERWATT_POWERCAP_ROOT!;
    expect(root).toBe('/host/sys/class/powercap');
    // The bind mount host:/sys → container:/host/sys, stood in for by a link.
    const container = mkdtempSync(join(tmpdir(), 'inferwatt-container-'));
    mkdirSync(join(container, 'host'));
    symlinkSync(host, join(container, 'host', 'sys'));
    const r = await sensorsJson({ INFERWATT_POWERCAP_ROOT: join(container, root) });
    expect(r.skipped).toEqual([]);
    expect(r.active).toEqual([expect.objectContaining({ name: 'rapl', devices: expect.arrayContaining(['package-0']) })]);
  });
});
