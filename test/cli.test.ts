import { describe, expect, it } from 'vitest';
import { main } from '../src/cli.js';

async function cli(argv: string[], env: Record<string, string> = {}) {
  let out = '';
  let err = '';
  const code = await main(argv, { stdout: (s) => { out += s; }, stderr: (s) => { err += s; }, env });
  return { code, out, err };
}

describe('inferwatt CLI', () => {
  it('exits 2 on bad configuration and lists every problem at once', async () => {
    const { code, err } = await cli(['run', '--interval-ms', 'fast', '--attribution', 'vibes', '--metrics-listen', 'nowhere', '--bogus'], { INFERWATT_IDLE: 'sometimes' });
    expect(code).toBe(2);
    expect(err).toMatch(/invalid configuration \(\d+ problems\)/);
    expect(err).toMatch(/unknown flag --bogus/);
    const flagErr = await cli(['run', '--interval-ms', 'fast', '--attribution', 'vibes', '--metrics-listen', 'nowhere'], { INFERWATT_IDLE: 'sometimes' });
    expect(flagErr.code).toBe(2);
    expect(flagErr.err).toMatch(/--interval-ms: "fast" is not a whole number/);
    expect(flagErr.err).toMatch(/attribution\.policy/);
    expect(flagErr.err).toMatch(/attribution\.idle/);
    expect(flagErr.err).toMatch(/metrics\.listen/);
  });

  it('exits 2 for an unknown region, before anything starts, with near matches', async () => {
    const { code, err } = await cli(['run', '--region', 'aws:eu-wset-1', '--sensors', 'simulated', '--proxy=false', '--metrics-listen', '127.0.0.1:0']);
    expect(code).toBe(2);
    expect(err).toMatch(/aws:eu-west-1/);
  });

  it('exits 2 for an unknown command and shows the usage', async () => {
    const { code, err } = await cli(['frobnicate']);
    expect(code).toBe(2);
    expect(err).toMatch(/unknown command "frobnicate"/);
    expect(err).toMatch(/Commands:/);
  });

  it('prints help and version', async () => {
    const help = await cli(['help']);
    expect(help.code).toBe(0);
    for (const c of ['run', 'demo', 'sensors', 'factors', 'project']) expect(help.out).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
    expect(help.out).toMatch(/--metrics-listen .*\[INFERWATT_METRICS_LISTEN\]/);
    const v = await cli(['version']);
    expect(v.out).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it('bare `inferwatt` prints the help instead of starting the agent', async () => {
    const r = await Promise.race([
      cli([]),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('bare inferwatt did not return: it started the agent')), 3000)),
    ]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Usage: inferwatt <command> \[flags\]$/m);
    expect(r.out).not.toMatch(/inferwatt: metrics http/);
  });

  it("each command's --help prints its own flags", async () => {
    const global = (await cli(['help'])).out;
    const help = async (...argv: string[]) => { const r = await cli(argv); expect(r.code).toBe(0); expect(r.out).not.toBe(global); return r.out; };
    const run = await help('run', '--help');
    expect(run).toMatch(/^Usage: inferwatt run \[flags\]/);
    for (const f of ['--upstream', '--listen', '--metrics-listen', '--records', '--region', '--sensors', '--config']) expect(run).toContain(f);
    expect(run).not.toContain('--duration');

    const sensors = await help('sensors', '--help');
    expect(sensors).toMatch(/^Usage: inferwatt sensors \[flags\]/);
    for (const f of ['--json', '--seconds', '--sensors', '--nvidia-smi', '--nvml-lib', '--powercap-root', '--cpu-tdp-w']) expect(sensors).toContain(f);
    for (const f of ['--upstream', '--listen', '--records', '--region']) expect(sensors).not.toContain(f);

    const demo = await help('demo', '-h');
    expect(demo).toMatch(/^Usage: inferwatt demo \[flags\]/);
    for (const f of ['--duration', '--concurrency', '--region', '--listen', '--metrics-listen']) expect(demo).toContain(f);
    expect(demo).not.toContain('--upstream');

    expect(await help('factors', '--help')).toMatch(/^usage: inferwatt factors \[REGION\]/i);
    expect(await help('project', '--help')).toMatch(/^Usage: inferwatt project \[flags\][\s\S]*--users N/);
    expect(await help('help', 'sensors')).toBe(sensors);
  });
});
