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
});
