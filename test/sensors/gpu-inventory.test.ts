/**
 * GPU inventory from `nvidia-smi -q -x` on real XML captures (test/fixtures/nvidia-smi/xml, SOURCES.md):
 * one GPU, several, out of order, power N/A, vGPU, MIG; through a given path and through node-nvidia-smi
 * on PATH; and the best-effort failure.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from '../../src/core/logger.js';
import { readGpuInventory } from '../../src/sensors/gpu-inventory.js';

const XML = resolve(__dirname, '../fixtures/nvidia-smi/xml');
const FAKE = resolve(__dirname, '../helpers/fake-nvidia-smi.mjs');
const tmp = mkdtempSync(join(tmpdir(), 'inferwatt-inventory-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
/** A directory holding an executable named `nvidia-smi` that prints this XML capture for `-q -x`. */
function fakeDir(xmlFile: string): string {
  const dir = mkdtempSync(join(tmp, `bin${++n}-`));
  const path = join(dir, 'nvidia-smi');
  writeFileSync(path, `#!/bin/sh\nexport FAKE_NVSMI_XML='${resolve(XML, xmlFile)}'\nexec '${process.execPath}' '${FAKE}' "$@"\n`);
  chmodSync(path, 0o755);
  return dir;
}
const inventory = (xmlFile: string) => readGpuInventory({ path: join(fakeDir(xmlFile), 'nvidia-smi'), logger: silentLogger });

describe('readGpuInventory', () => {
  it('one GPU (telegraf a10g): name, uuid, driver, enforced power limit', async () => {
    expect(await inventory('telegraf-a10g.xml')).toEqual([{
      index: 0, minorNumber: 0, name: 'NVIDIA A10G', uuid: 'GPU-9a9a6c50-2a47-2f51-a902-b82c3b127e94',
      pciBusId: '00000000:00:1E.0', driver: '515.105.01', powerLimitW: 300, migEnabled: false,
      virtualizationMode: 'Pass-Through', vgpu: false,
    }]);
  });

  it('several GPUs (schema v13, dual RTX 2070): an array, limits from <gpu_power_readings>', async () => {
    const inv = await inventory('telegraf-dual_2070-v13.xml');
    expect(inv.map((e) => [e.index, e.name, e.uuid, e.driver, e.powerLimitW])).toEqual([
      [0, 'NVIDIA GeForce RTX 2070', 'GPU-12345678-aaaa-bbbb-cccc-0123456789ab', '590.44.01', 175],
      [1, 'NVIDIA GeForce RTX 2070', 'GPU-12345678-aaaa-bbbb-cccc-0123456789cd', '590.44.01', 175],
    ]);
  });

  it('out-of-order minor numbers (openpai): index follows nvidia-smi order, minorNumber is kept per GPU', async () => {
    const inv = await inventory('openpai-nvidia_smi_out_of_order.xml');
    expect(inv.map((e) => [e.index, e.minorNumber, e.uuid, e.pciBusId])).toEqual([
      [0, 1, 'GPU-c3b26f7a-8dcb-619c-fa1b-8029265a4db0', '00001580:00:00.0'],
      [1, 2, 'GPU-b01b80eb-0f18-1df0-cf88-0725bd90f1e1', '00002DF7:00:00.0'],
      [2, 3, 'GPU-30bc2701-3bc2-5f35-0ebd-9867a077e138', '00004968:00:00.0'],
      [3, 0, 'GPU-3341aba2-f01d-2c1f-7dd4-e389779faec2', '0000F8D6:00:00.0'],
    ]);
    expect(inv.every((e) => e.powerLimitW === 149 && e.driver === '430.26')).toBe(true);
  });

  it('power N/A (GTX 1070 Ti): no power limit and no driver, absent rather than 0', async () => {
    const [e] = await inventory('telegraf-gtx-1070-ti.xml');
    expect(e!.name).toBe('GeForce GTX 1070 Ti');
    expect(e).not.toHaveProperty('powerLimitW');
    expect(e).not.toHaveProperty('driver');
  });

  it('vGPU guest (GRID P4-1Q): flagged vgpu, power limit and minor number absent', async () => {
    const [e] = await inventory('telegraf-tesla_p4.xml');
    expect(e).toMatchObject({ name: 'GRID P4-1Q', vgpu: true, virtualizationMode: 'VGPU', driver: '513.46' });
    expect(e).not.toHaveProperty('powerLimitW');
    expect(e).not.toHaveProperty('minorNumber');
  });

  it('MIG enabled (A100 SXM4, schema v12): flagged, limit from current_power_limit', async () => {
    const [e] = await inventory('telegraf-a100-sxm4-v12.xml');
    expect(e).toMatchObject({ name: 'NVIDIA A100-SXM4-80GB', migEnabled: true, powerLimitW: 500, minorNumber: 1 });
  });

  it('default path goes through node-nvidia-smi (nvidia-smi on PATH) and gives the same entries', async () => {
    const dir = fakeDir('openpai-nvidia_smi_sample.xml');
    const viaPath = await readGpuInventory({ path: join(dir, 'nvidia-smi'), logger: silentLogger });
    const oldPath = process.env['PATH'];
    process.env['PATH'] = `${dir}:${oldPath ?? ''}`;
    try {
      const viaPackage = await readGpuInventory({ logger: silentLogger });
      expect(viaPackage).toEqual(viaPath);
      expect(viaPackage.map((e) => e.uuid)).toEqual(['GPU-e511a7b2-f9d5-ba47-9b98-853732ca6c1b', 'GPU-28daffaf-8abe-aaf8-c298-4bd13aecb5e6']);
    } finally {
      process.env['PATH'] = oldPath;
    }
  });

  it('default path on a host whose -q -x exceeds node-nvidia-smi\'s 1 MiB buffer (v13 capture\'s GPUs repeated ×13)', async () => {
    const xml = readFileSync(join(XML, 'telegraf-dual_2070-v13.xml'), 'utf8');
    const first = xml.indexOf('<gpu id=');
    const last = xml.lastIndexOf('</gpu>') + '</gpu>'.length;
    const big = join(tmp, 'big-v13.xml');
    writeFileSync(big, xml.slice(0, first) + xml.slice(first, last).repeat(13) + xml.slice(last));
    expect(readFileSync(big).length).toBeGreaterThan(1024 * 1024);
    const dir = fakeDir(big);
    const oldPath = process.env['PATH'];
    process.env['PATH'] = `${dir}:${oldPath ?? ''}`;
    try {
      const inv = await readGpuInventory({ logger: silentLogger });
      expect(inv).toHaveLength(26);
      expect(inv[25]).toMatchObject({ index: 25, name: 'NVIDIA GeForce RTX 2070', powerLimitW: 175 });
    } finally {
      process.env['PATH'] = oldPath;
    }
  });

  it('is best-effort: a failing nvidia-smi gives [] and a warning', async () => {
    const lines: string[] = [];
    const failing = join(mkdtempSync(join(tmp, 'failing-')), 'nvidia-smi');
    writeFileSync(failing, '#!/bin/sh\necho "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver." >&2\nexit 9\n');
    chmodSync(failing, 0o755);
    const inv = await readGpuInventory({ path: failing, logger: createLogger({ level: 'warn', write: (l) => lines.push(l) }) });
    expect(inv).toEqual([]);
    expect(lines.join('\n')).toMatch(/GPU inventory unavailable .*couldn't communicate with the NVIDIA driver/);
  });

  it('no nvidia-smi at all (a host without GPUs): [] without a warning; the sensor\'s skip reason says it', async () => {
    for (const path of [join(tmp, 'missing-nvidia-smi'), undefined]) {
      const lines: string[] = [];
      const oldPath = process.env['PATH'];
      if (path === undefined) process.env['PATH'] = mkdtempSync(join(tmp, 'empty-path-')); // the default: nvidia-smi from PATH
      try {
        const inv = await readGpuInventory({ ...(path ? { path } : {}), logger: createLogger({ level: 'info', write: (l) => lines.push(l) }) });
        expect(inv).toEqual([]);
      } finally {
        process.env['PATH'] = oldPath;
      }
      expect(lines.join('\n'), String(path)).not.toMatch(/WARN/);
    }
  });
});
