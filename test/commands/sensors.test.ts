import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSensorsCommand } from '../../src/commands/sensors.js';

const empty = () => mkdtempSync(join(tmpdir(), 'inferwatt-nopowercap-'));
const run = async (argv: string[]) => {
  let out = '';
  let err = '';
  const code = await runSensorsCommand(argv, { stdout: (s) => { out += s; }, stderr: (s) => { err += s; }, env: {} });
  return { code, out, err };
};
const noHardware = () => ['--nvidia-smi', '/nonexistent/nvidia-smi', '--nvml-lib', '/nonexistent/libnvidia-ml.so.1', '--powercap-root', empty(), '--seconds', '0.6'];

describe('inferwatt sensors on a machine without GPU or RAPL', () => {
  it('explains what it skipped and why, and falls back to the estimate (--json)', async () => {
    const { code, out } = await run([...noHardware(), '--json']);
    expect(code).toBe(0);
    const r = JSON.parse(out) as { active: { name: string }[]; skipped: { name: string; reason: string }[]; readings: { device: string; method: string; meanPowerW: number | null }[] };
    expect(r.active.map((s) => s.name)).toEqual(['estimate']);
    const reasons = Object.fromEntries(r.skipped.map((s) => [s.name, s.reason]));
    expect(Object.keys(reasons).sort()).toEqual(['nvidia-smi', 'nvml', 'rapl']);
    expect(reasons.nvml).toMatch(/nonexistent\/libnvidia-ml\.so\.1/);
    expect(reasons['nvidia-smi']).toMatch(/nonexistent\/nvidia-smi|ENOENT|not found/i);
    expect(reasons.rapl).toMatch(/zone|powercap|RAPL/i);
    expect(r.readings).toHaveLength(1);
    expect(r.readings[0]).toMatchObject({ device: 'cpu', method: 'estimated' });
    expect(r.readings[0]!.meanPowerW).toBeGreaterThan(0);
  });

  it('prints the same as text for people', async () => {
    const { code, out } = await run(noHardware());
    expect(code).toBe(0);
    expect(out).toMatch(/Sensors in use:\n {2}estimate +up/);
    expect(out).toMatch(/Skipped:\n(.*\n)*? {2}rapl +\S/);
    expect(out).toMatch(/cpu +cpu +[\d.]+ W +estimated/);
  });

  it('rejects bad flags with every problem listed', async () => {
    await expect(run(['--interval-ms', 'fast', '--sensors', 'gpu-magic'])).rejects.toThrow(/interval-ms[\s\S]*sensors\.enabled/);
  });
});
