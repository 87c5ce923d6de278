import { createServer, type Server } from 'node:http';
import { describe, expect, it } from 'vitest';
import { runDemoCommand } from '../../src/commands/demo.js';

describe('inferwatt demo', () => {
  it('runs the whole pipeline for a few seconds: live request lines, working /metrics and records, a summary and a projection', async () => {
    let out = '';
    let err = '';
    let metricsUrl: string | undefined;
    let scraped: { metrics: string; records: { requests: { id: string; energyJ: { total: number } }[] } } | undefined;
    let resolveScraped!: () => void;
    const scrapedDone = new Promise<void>((r) => { resolveScraped = r; });
    const stdout = (s: string) => {
      out += s;
      const m = /metrics\s+(http:\/\/\S+)\/metrics/.exec(out);
      // Once two requests have finished, look at the running agent the way a user would.
      if (m && !metricsUrl && (out.match(/ ok\n/g) ?? []).length >= 2) {
        metricsUrl = m[1];
        void (async () => {
          const metrics = await (await fetch(`${metricsUrl}/metrics`)).text();
          const records = (await (await fetch(`${metricsUrl}/api/requests?limit=5`)).json()) as { requests: { id: string; energyJ: { total: number } }[] };
          scraped = { metrics, records };
          resolveScraped();
        })();
      }
    };
    const code = await runDemoCommand(
      ['--duration', '4', '--concurrency', '4', '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--region', 'FR'],
      { stdout, stderr: (s) => { err += s; }, env: {} },
    );
    await scrapedDone;
    expect(code).toBe(0);
    expect(err).not.toMatch(/ERROR/);

    const lines = out.split('\n').filter((l) => / J .* mgCO2e .* mL {2}(ok|error|aborted)$/.test(l));
    expect(lines.length).toBeGreaterThanOrEqual(4);
    for (const l of lines) {
      const [, joules] = / ([\d.]+) J /.exec(l)!;
      expect(Number(joules)).toBeGreaterThan(0);
    }
    expect(out).toMatch(/Summary per model:/);
    expect(out).toMatch(/1 billion users × 10 queries a day would use [\d.]+ TWh and emit [\d,]+ tCO2e a year \(FR grid/);

    expect(scraped!.metrics).toMatch(/^inferwatt_device_power_watts\{device="sim-gpu0",kind="gpu",method="simulated"\} [\d.]+$/m);
    expect(scraped!.metrics).toMatch(/^inferwatt_requests_total\{model="[^"]+",tenant="team-[1-3]",pool="default",outcome="ok"\} [1-9]/m);
    expect(scraped!.records.requests.length).toBeGreaterThanOrEqual(2);
    expect(scraped!.records.requests[0]!.energyJ.total).toBeGreaterThan(0);
  }, 60_000);
});

describe('inferwatt demo beside a running agent (issue 13)', () => {
  it('takes free ports when its default ones are in use, and prints them; an explicit --listen still fails loudly', async () => {
    // Hold the defaults (or find them held already: either way they are in use).
    const held: Server[] = [];
    for (const port of [8790, 9477]) {
      const s = createServer();
      const ok = await new Promise<boolean>((r) => { s.once('error', () => r(false)); s.listen(port, '127.0.0.1', () => r(true)); });
      if (ok) held.push(s);
    }
    try {
      let out = '';
      const code = await runDemoCommand(['--duration', '0.5', '--concurrency', '1'], { stdout: (s) => { out += s; }, stderr: () => {}, env: {} });
      expect(code).toBe(0);
      const proxy = /^ {2}proxy +http:\/\/127\.0\.0\.1:(\d+)/m.exec(out);
      const metrics = /^ {2}metrics +http:\/\/127\.0\.0\.1:(\d+)\/metrics/m.exec(out);
      expect(Number(proxy?.[1])).not.toBe(8790);
      expect(Number(metrics?.[1])).not.toBe(9477);
      expect(out).toMatch(/^ {2}ports +127\.0\.0\.1:8790 and 127\.0\.0\.1:9477 were in use \(another inferwatt\?\), so the demo took free ones/m);

      const explicit = await runDemoCommand(['--duration', '0.5', '--listen', '127.0.0.1:8790'], { stdout: () => {}, stderr: () => {}, env: {} }).catch((err: Error) => err);
      expect(explicit).toBeInstanceOf(Error);
      expect((explicit as Error).message).toMatch(/cannot listen on 127\.0\.0\.1:8790: (address already in use|EADDRINUSE)/);
    } finally {
      await Promise.all(held.map((s) => new Promise<void>((r) => s.close(() => r()))));
    }
  }, 30_000);
});
