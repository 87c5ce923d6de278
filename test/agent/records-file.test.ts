/**
 * The records file (issue 13): a path that cannot be opened at start-up is a configuration error (exit 2,
 * nothing started); a missing parent directory is created; a write that fails later makes /readyz fail and
 * is counted in inferwatt_records_write_errors_total, while the agent keeps serving.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startAgent } from '../../src/agent.js';
import { main } from '../../src/cli.js';
import { ConfigError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';

const base = ['--sensors', 'simulated', '--proxy=false', '--metrics-listen', '127.0.0.1:0', '--interval-ms', '20', '--cpu-interval-ms', '20'];

async function startProblems(argv: string[]): Promise<string[]> {
  try {
    const a = await startAgent(argv, { env: {}, logger: silentLogger });
    await a.stop();
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

describe('--records FILE', () => {
  it('naming a directory is a configuration error, before anything starts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inferwatt-records-dir-'));
    expect(await startProblems([...base, '--records', dir])).toEqual([
      `records.file (--records, INFERWATT_RECORDS): cannot open "${dir}" to append records: it is a directory`,
    ]);
    let err = '';
    const code = await main(['run', ...base, '--records', dir], { stdout: () => {}, stderr: (s) => { err += s; }, env: {} });
    expect(code).toBe(2);
    expect(err).toMatch(/inferwatt run: invalid configuration \(1 problem\):\n {2}- records\.file .*it is a directory/);
  });

  it('a missing parent directory is created', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'inferwatt-records-parent-')), 'a', 'b', 'records.jsonl');
    expect(await startProblems([...base, '--records', file])).toEqual([]);
    expect(existsSync(file)).toBe(true);
  });

  it('a write that fails later (a full disk) makes /readyz fail and is counted; the agent keeps serving', async () => {
    const agent = await startAgent([...base, '--records', '/dev/full'], { env: {}, logger: silentLogger });
    try {
      const metric = async () => {
        const text = await (await fetch(`${agent.metricsUrl}/metrics`)).text();
        const line = text.split('\n').find((l) => l.startsWith('inferwatt_records_write_errors_total '));
        return Number(line?.split(' ')[1]);
      };
      expect(await metric()).toBe(0);
      for (let i = 0; i < 100 && (await fetch(`${agent.metricsUrl}/readyz`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 20));
      expect((await fetch(`${agent.metricsUrl}/readyz`)).status).toBe(200);

      const t0 = agent.clock.nowMs();
      const w = agent.tracker.open({ id: 'r1', pool: 'default', startMs: t0, model: 'm' });
      w.end({ endMs: t0 + 1, status: 200, outcome: 'ok' });
      let ready = await fetch(`${agent.metricsUrl}/readyz`);
      for (let i = 0; i < 200 && ready.status === 200; i++) {
        await new Promise((r) => setTimeout(r, 20));
        ready = await fetch(`${agent.metricsUrl}/readyz`);
      }
      expect(ready.status).toBe(503);
      const body = (await ready.json()) as { reasons: string[] };
      expect(body.reasons.join('\n')).toMatch(/records file \/dev\/full cannot be written: ENOSPC/);
      expect(await metric()).toBe(1);
      expect((await fetch(`${agent.metricsUrl}/api/requests/r1`)).status).toBe(200); // still served from memory
    } finally {
      await agent.stop();
    }
  });
});
