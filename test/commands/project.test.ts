import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProjectCommand } from '../../src/commands/project.js';

/** A port that nothing listens on: taken from the system, then released. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function run(argv: string[]) {
  let out = '';
  let err = '';
  const code = await runProjectCommand(argv, { stdout: (s) => { out += s; }, stderr: (s) => { err += s; } });
  return { code, out, err };
}

describe('inferwatt project --preset article', () => {
  it('prints the projection with the article\'s inputs (its table is pinned row by row in test/impacts/reference-points.test.ts)', async () => {
    const r = await run(['--preset', 'article']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/queries per year +38\.33 trillion/);
    expect(r.out).toMatch(/energy per query +2\.17 Wh IT, 2\.474 Wh facility/);
    expect(r.out).toMatch(/IT energy +83\.17 TWh a year/);
    expect(r.out).toMatch(/facility energy +94\.82 TWh a year at PUE 1\.14/);
    expect(r.out).toMatch(/operational +45\.89 million tCO2e a year/);
    expect(r.out).toMatch(/embodied +1\.441 million tCO2e a year: 1,947,615 servers × 3,700 kgCO2e over 5 years/);
    expect(r.out).toMatch(/training +6,229 tCO2e a year: 10 models × 1,287,000 kWh/);
    expect(r.out).toMatch(/total +47\.34 million tCO2e a year/);
    expect(r.out).toMatch(/water +383\.3 billion L a year, 10 mL a query/);
    expect(r.out).toMatch(/share of global +0\.118 % of 40 GtCO2e/);
    expect(r.out).toMatch(/person-equivalents +4\.304 million Danes' yearly emissions/);
    expect(r.err).toBe('');
  });

  it('--json carries the same numbers, and flags override the preset', async () => {
    const r = await run(['--preset', 'article', '--json']);
    const j = JSON.parse(r.out);
    expect(j.result.co2eTonnes.total).toBeCloseTo(47_338_952.04, 1);
    expect(j.result.waterLiters.perYear).toBeCloseTo(3.8325e11, -3);
    const half = JSON.parse((await run(['--preset', 'article', '--json', '--users', '1.75e9'])).out);
    expect(half.result.co2eTonnes.operational).toBeCloseTo(45_891_487.58 / 2, 1);
    const two = JSON.parse((await run(['--preset', 'article', '--json', '--models-per-year', '2'])).out);
    expect(two.result.co2eTonnes.training).toBeCloseTo(2 * 622.908, 6);
    expect(two.article.changedInputs).toBe(true);
  });
});

describe('inferwatt project --preset article with server flags', () => {
  const wh = (kw: number, util: number, qpspd: number) => (kw * 1000 * util * 24) / qpspd;
  const articleQpspd = 195e6 / 3617;

  it('--utilization, --server-power-kw and --queries-per-server-per-day override the preset\'s servers', async () => {
    const util = JSON.parse((await run(['--preset', 'article', '--json', '--utilization', '0.375'])).out);
    expect(util.result.energy.itWhPerQuery).toBeCloseTo(wh(6.5, 0.375, articleQpspd), 12);
    const kw = await run(['--preset', 'article', '--json', '--server-power-kw', '3.25']);
    expect(kw.code).toBe(0);
    expect(JSON.parse(kw.out).result.energy.itWhPerQuery).toBeCloseTo(wh(3.25, 0.75, articleQpspd), 12);
    const q = JSON.parse((await run(['--preset', 'article', '--json', '--queries-per-server-per-day', '100000'])).out);
    expect(q.result.energy.itWhPerQuery).toBeCloseTo(wh(6.5, 0.75, 100_000), 12);
    expect(q.result.servers).toBe(Math.ceil((3.5e9 * 30) / 100_000)); // the same servers size the fleet
  });

  it('--utilization without server-based energy is a usage error, not silently ignored', async () => {
    const r = await run(['--users', '1', '--queries-per-user-per-day', '1', '--wh-per-query', '1', '--utilization', '0.5']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--utilization applies only to server-based energy/);
  });
});

describe('inferwatt project with flags', () => {
  it('--wh-per-query with --intensity, --pue, --wue/--ewif (hand computed)', async () => {
    const r = await run(['--users', '1000', '--queries-per-user-per-day', '10', '--wh-per-query', '1', '--pue', '1.5', '--intensity', '400', '--wue', '0.5', '--ewif', '2', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.result.co2eTonnes.operational).toBeCloseTo(2.19, 12);
    expect(j.result.waterLiters.perYear).toBeCloseTo(12_775, 9);
    expect(j.result.co2eTonnes.embodied).toBeNull();
    expect(j.warnings).toEqual([]);
  });

  it('--region fills intensity, PUE, WUE and EWIF from the tables and names their sources', async () => {
    const r = await run(['--users', '1000', '--queries-per-user-per-day', '10', '--wh-per-query', '1', '--region', 'aws:eu-west-1']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/grid intensity +352 gCO2e\/kWh\n {4}from +Electricity Maps 2024/);
    expect(r.out).toMatch(/at PUE 1\.15\n {4}PUE from +AWS global PUE 2024/);
    // 3650 kWh IT × 0.03 = 109.5 L on-site; 4197.5 kWh × 1.4769 = 6199.29 L off-site (4 figures: 6,199 L)
    expect(r.out).toMatch(/on-site \/ off-site +109\.5 L \/ 6,199 L/);
  });

  it('server-based energy with embodied and training', async () => {
    const r = await run(['--users', '1000', '--queries-per-user-per-day', '10', '--server-power-kw', '1', '--utilization', '0.5', '--queries-per-server-per-day', '1200',
      '--intensity', '400', '--pue', '1', '--water-ml-per-query', '5', '--server-embodied-kg', '1000', '--server-life-years', '4', '--training-kwh', '10000', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.result.energy.itWhPerQuery).toBeCloseTo(10, 12);
    expect(j.result.servers).toBe(9); // ceil(10,000 / 1,200)
    expect(j.result.co2eTonnes.embodied).toBeCloseTo(9 * 1000 / 4 / 1000, 12);
    expect(j.result.co2eTonnes.training).toBeCloseTo(4, 12);
    expect(j.result.waterLiters.perYear).toBeCloseTo(3_650_000 * 0.005, 6);
  });

  it('no region and no intensity: world average, with a warning on stderr', async () => {
    const r = await run(['--users', '10', '--queries-per-user-per-day', '1', '--wh-per-query', '1']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/grid intensity +472\.94/);
    expect(r.err).toMatch(/warning: no region configured/);
  });

  it('configuration errors exit 2 and list every problem', async () => {
    const none = await run(['--users', '10']);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/no energy per query/);
    expect(none.err).toMatch(/--queries-per-user-per-day is required/);
    const both = await run(['--users', '1', '--queries-per-user-per-day', '1', '--wh-per-query', '1', '--records', 'x.jsonl']);
    expect(both.code).toBe(2);
    expect(both.err).toMatch(/give one energy source, not --wh-per-query and --records/);
    const srv = await run(['--users', '1', '--queries-per-user-per-day', '1', '--server-power-kw', '6.5']);
    expect(srv.code).toBe(2);
    expect(srv.err).toMatch(/needs --utilization and --queries-per-server-per-day/);
    const nan = await run(['--users', 'many', '--queries-per-user-per-day', '1', '--wh-per-query', '1']);
    expect(nan.code).toBe(2);
    expect(nan.err).toMatch(/--users: "many" is not a number/);
    expect((await run(['--preset', 'paper'])).code).toBe(2);
    expect((await run(['--nope'])).code).toBe(2);
  });

  it('an unknown region exits 2 with near matches', async () => {
    const r = await run(['--users', '1', '--queries-per-user-per-day', '1', '--wh-per-query', '1', '--region', 'US-CAL-CISCO']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/did you mean US-CAL-CISO/);
  });
});

describe('measured energy: --from a running agent, --records a file', () => {
  let server: Server;
  let base: string;
  let body = '';
  let status = 200;
  let paths: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => { paths.push(req.url ?? ''); res.writeHead(status, { 'content-type': 'application/json' }); res.end(body); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => { server.closeAllConnections(); await new Promise<void>((r) => server.close(() => r())); });
  const scale = ['--users', '1000', '--queries-per-user-per-day', '10', '--intensity', '400', '--pue', '1.5', '--water-ml-per-query', '1', '--json'];

  it('uses totals.meanEnergyJPerRequest of /api/summary and says so', async () => {
    status = 200;
    paths = [];
    body = JSON.stringify({ models: [{ model: 'm', requests: 4, meanEnergyJPerRequest: 3600, meanEnergyJPerToken: 3 }], totals: { requests: 4, energyJ: 14400, meanEnergyJPerRequest: 3600 } });
    const r = await run(['--from', base, ...scale]);
    expect(r.code).toBe(0);
    expect(paths).toEqual(['/api/summary']); // a bare agent URL gets the route appended
    const j = JSON.parse(r.out);
    expect(j.result.energy.itWhPerQuery).toBeCloseTo(1, 12); // 3600 J = 1 Wh
    expect(j.result.energy.origin).toMatch(/totals\.meanEnergyJPerRequest 3600\.0 J over 4 requests/);
    expect(j.measuredRequests).toBe(4);
    expect(j.result.co2eTonnes.operational).toBeCloseTo(2.19, 12);
  });

  it('tolerates summaries without the mean: energyJ ÷ requests, then models[]', async () => {
    body = JSON.stringify({ totals: { requests: 2, energyJ: 14400 } });
    let j = JSON.parse((await run(['--from', `${base}/api/summary`, ...scale])).out);
    expect(j.result.energy.itWhPerQuery).toBeCloseTo(2, 12);
    body = JSON.stringify({ models: [{ model: 'a', requests: 1, meanEnergyJPerRequest: 3600 }, { model: 'b', requests: 3, meanEnergyJPerRequest: 7200 }] });
    j = JSON.parse((await run(['--from', `${base}/api/summary`, ...scale])).out);
    expect(j.result.energy.itWhPerQuery).toBeCloseTo((1 * 1 + 3 * 2) / 4, 12);
  });

  it('a summary with no measured request, an HTTP error or a dead agent exits 1 with a clear reason', async () => {
    body = JSON.stringify({ models: [], totals: { requests: 0, energyJ: 0, meanEnergyJPerRequest: null } });
    let r = await run(['--from', base, ...scale]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/no usable energy per request/);
    status = 503;
    r = await run(['--from', base, ...scale]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/cannot read the agent's summary \(HTTP 503\)/);
    status = 200;
    r = await run(['--from', `http://127.0.0.1:${await closedPort()}/api/summary`, ...scale]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/cannot reach the agent at .*: connection refused/);
  });

  it('--records leaves out incomplete records (finalised with part of their energy), and says so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inferwatt-records-'));
    try {
      const file = join(dir, 'records.jsonl');
      writeFileSync(file, [
        JSON.stringify({ id: 'a', energyJ: { total: 7200 }, complete: true }),
        JSON.stringify({ id: 'b', energyJ: { total: 360 }, complete: false }),
      ].join('\n'));
      const r = await run(['--records', file, ...scale]);
      expect(r.code).toBe(0);
      const j = JSON.parse(r.out);
      expect(j.result.energy.itWhPerQuery).toBeCloseTo(2, 12); // 7200 J = 2 Wh; the partial 360 J is not averaged in
      expect(j.result.energy.origin).toMatch(/1 incomplete \(complete: false\) skipped/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--records averages energyJ.total and reports skipped lines', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inferwatt-records-'));
    try {
      const file = join(dir, 'records.jsonl');
      writeFileSync(file, [
        JSON.stringify({ id: 'a', energyJ: { gpu: 3000, cpu: 500, dram: 100, total: 3600 } }),
        JSON.stringify({ id: 'b', energyJ: { total: 10800 } }),
        JSON.stringify({ id: 'c', energyJ: { total: null }, complete: false }),
        '{not json',
        '',
      ].join('\n'));
      const r = await run(['--records', file, ...scale]);
      expect(r.code).toBe(0);
      const j = JSON.parse(r.out);
      expect(j.result.energy.itWhPerQuery).toBeCloseTo(2, 12); // (3600 + 10800) / 2 J = 2 Wh
      expect(j.result.energy.origin).toMatch(/2 records .*1 without energyJ\.total skipped, 1 malformed lines skipped/);
      const missing = await run(['--records', join(dir, 'nope.jsonl'), ...scale]);
      expect(missing.code).toBe(1);
      expect(missing.err).toMatch(/cannot read/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('errors: one style, every problem at once, 2 for usage and 1 for runtime (issue 13)', () => {
  const scale = ['--queries-per-user-per-day', '1', '--wh-per-query', '1', '--intensity', '400'];

  it('--users -5 is a value, reported as out of range, not as an ambiguous argument', async () => {
    const r = await run(['--users', '-5', ...scale]);
    expect(r.code).toBe(2);
    expect(r.err).toBe('inferwatt project: invalid configuration (1 problem):\n  - --users: -5 must be a positive number\n');
  });

  it('--users abc is one problem, not two', async () => {
    const r = await run(['--users', 'abc', ...scale]);
    expect(r.code).toBe(2);
    expect(r.err).toBe('inferwatt project: invalid configuration (1 problem):\n  - --users: "abc" is not a number\n');
  });

  it('--from "not a url" is a usage error (2), found before anything is fetched', async () => {
    const r = await run(['--users', '1', '--queries-per-user-per-day', '1', '--from', 'not a url']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--from: "not a url" is not an http:\/\/ or https:\/\/ URL \(e\.g\. http:\/\/127\.0\.0\.1:9477\)/);
  });

  it('every problem in one run: flags, ranges, region and URL together', async () => {
    const r = await run(['--users', '-5', '--queries-per-user-per-day', 'abc', '--from', 'nope', '--region', 'NOWHERE', '--pue', '0.5', '--bogus']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^inferwatt project: invalid configuration \(6 problems\):\n/);
    for (const p of [/unknown flag --bogus/, /--users: -5 must be a positive number/, /--queries-per-user-per-day: "abc" is not a number/,
      /--from: "nope" is not an http/, /--pue: 0\.5 must be at least 1/, /region "NOWHERE" is not in the factor tables/]) expect(r.err).toMatch(p);
  });

  it('a refused connection is a runtime error (1) that says what happened', async () => {
    const port = await closedPort();
    const r = await run(['--users', '1', '--queries-per-user-per-day', '1', '--intensity', '400', '--from', `http://127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`inferwatt project: cannot reach the agent at http://127.0.0.1:${port}/api/summary: connection refused (is \`inferwatt run\` listening there?)\n`);
  });
});

describe('output that reads well (issue 13)', () => {
  it('whole tonnes and people, one model, and one level of parentheses', async () => {
    const r = await run(['--users', '5e6', '--queries-per-user-per-day', '10', '--wh-per-query', '1', '--intensity', '400', '--pue', '1.5',
      '--water-ml-per-query', '5', '--training-kwh', '100']);
    expect(r.code).toBe(0);
    // 1.825e10 queries × 1 Wh = 18.25 GWh IT, × 1.5 = 27.375 GWh; × 400 g = 10,950 t; training 100 kWh × 400 g = 0.04 t
    expect(r.out).toMatch(/^ {2}operational +10,950 tCO2e a year$/m);
    expect(r.out).toMatch(/^ {2}training +40 kgCO2e a year: 1 model × 100 kWh$/m);
    expect(r.out).toMatch(/^ {2}person-equivalents +2,190 people's yearly emissions$/m);
    expect(r.out).toMatch(/^ {2}water +91\.25 million L a year, 5 mL a query$/m);
    expect(r.out).not.toMatch(/\(s\)/);
    for (const line of r.out.split('\n')) expect(line, line).not.toMatch(/\([^)]*\(/);
  });
});
