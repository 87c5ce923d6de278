import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createFakeClock } from '../../src/core/clock.js';
import { createLogger, silentLogger } from '../../src/core/logger.js';
import { createLiveGridIntensity, parseIntensity, type LiveGridOptions } from '../../src/impacts/live-grid.js';
import type { Factors } from '../../src/impacts/types.js';

const fixture = (name: string) => readFileSync(resolve(__dirname, '../fixtures/api-shapes', name), 'utf8');

const STATIC: Factors = { region: 'FR', gridGCo2ePerKWh: 44.18, pue: 1.56, wue: 0.55, ewif: 3.6737, source: 'static:ember', year: 2024, resolution: 'region' };

/** One local server; each test sets what it answers. */
type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let handler: Handler = (_req, res) => { res.statusCode = 500; res.end(); };
const seen: { url: string; token: string | undefined }[] = [];
let arrived: () => void = () => {};
let server: Server;
let baseUrl: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push({ url: req.url ?? '', token: req.headers['auth-token'] as string | undefined });
    arrived();
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});
beforeEach(() => { seen.length = 0; });

const json = (status: number, body: string, headers: Record<string, string> = {}): Handler => (_req, res) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(body);
};

function make(over: Partial<LiveGridOptions> = {}) {
  const clock = createFakeClock();
  const lines: string[] = [];
  const logger = createLogger({ level: 'warn', write: (l) => lines.push(l), nowMs: () => clock.wallMs() });
  const live = createLiveGridIntensity({
    provider: 'electricitymaps', zone: 'FR', token: 'secret-token', baseUrl, refreshMs: 60_000, timeoutMs: 2_000,
    clock, logger, fallback: STATIC, ...over,
  });
  return { live, clock, lines };
}

describe('Electricity Maps', () => {
  it('success: the recorded latest response becomes the live intensity, source electricitymaps:live', async () => {
    handler = json(200, fixture('electricitymaps-latest-FR.json'));
    const { live } = make();
    expect(live.current()).toBe(STATIC); // before the first answer: the static factor
    await live.refresh();
    const f = live.current();
    expect(f.gridGCo2ePerKWh).toBeCloseTo(58.765447504659946, 12);
    expect(f).toMatchObject({ source: 'electricitymaps:live', resolution: 'live', region: 'FR', pue: 1.56, wue: 0.55, ewif: 3.6737 });
    expect(seen[0]).toEqual({ url: '/v3/carbon-intensity/latest?zone=FR', token: 'secret-token' });
    expect(live.status()).toMatchObject({ live: true, successes: 1, lastError: null });
  });

  it('a response with every optional field parses too', async () => {
    handler = json(200, fixture('electricitymaps-latest-DE-full.json'));
    const { live } = make({ zone: 'DE' });
    await live.refresh();
    expect(live.current().gridGCo2ePerKWh).toBe(322);
  });

  it('429: falls back to the static factor, counts the reason, does not log the token', async () => {
    handler = json(200, fixture('electricitymaps-latest-FR.json'));
    const { live, lines } = make();
    await live.refresh();
    expect(live.current().source).toBe('electricitymaps:live');
    handler = json(429, fixture('electricitymaps-error.json'), { 'retry-after': '120' });
    await live.refresh();
    expect(live.current()).toBe(STATIC);
    expect(live.current().source).toBe('static:ember');
    expect(live.status()).toMatchObject({ live: false, lastError: 'http_429', failures: { http_429: 1 } });
    expect(lines.join('\n')).toMatch(/live grid intensity unavailable/);
    expect(lines.join('\n')).not.toMatch(/secret-token/);
  });

  it('malformed body (not JSON) and a null intensity fall back', async () => {
    handler = (_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"zone":"FR","carbonIntens'); };
    const { live } = make();
    await live.refresh();
    expect(live.current()).toBe(STATIC);
    expect(live.status().lastError).toBe('malformed');
    handler = json(200, fixture('electricitymaps-latest-null.json'));
    await live.refresh();
    expect(live.current()).toBe(STATIC);
    expect(live.status().lastError).toBe('null_value');
  });

  it('timeout: a provider that never answers is abandoned after timeoutMs of the injected clock', async () => {
    handler = () => { /* never answers */ };
    const { live, clock } = make();
    const gotThere = new Promise<void>((r) => { arrived = r; });
    const done = live.refresh();
    await gotThere;
    clock.advance(2_000);
    await done;
    expect(live.current()).toBe(STATIC);
    expect(live.status().lastError).toBe('timeout');
  });

  it('a network error (nothing listening) falls back', async () => {
    const { live } = make({ baseUrl: 'http://127.0.0.1:1' });
    await live.refresh();
    expect(live.current()).toBe(STATIC);
    expect(live.status().lastError).toBe('network');
  });

  it('without a token it never calls the API and uses the static factor', async () => {
    const { live, lines } = make({ token: undefined });
    await live.refresh();
    expect(seen).toHaveLength(0);
    expect(live.current()).toBe(STATIC);
    expect(lines.join('\n')).toMatch(/needs an API token/);
  });

  it('an explicit gridGCo2ePerKWh override wins: live intensity is not fetched nor used', async () => {
    handler = json(200, fixture('electricitymaps-latest-FR.json'));
    const OVERRIDE: Factors = { ...STATIC, gridGCo2ePerKWh: 300, source: 'override', resolution: 'override' };
    const { live, lines } = make({ fallback: OVERRIDE });
    await live.refresh();
    expect(seen).toHaveLength(0);
    expect(live.current()).toBe(OVERRIDE);
    expect(lines.join('\n')).toMatch(/override.*wins/i);
  });

  it('a live value older than maxAgeMs is not used', async () => {
    handler = json(200, fixture('electricitymaps-latest-FR.json'));
    const { live, clock } = make({ maxAgeMs: 10_000 });
    await live.refresh();
    expect(live.current().source).toBe('electricitymaps:live');
    clock.advance(10_001);
    expect(live.current()).toBe(STATIC);
  });
});

describe('GB Carbon Intensity API', () => {
  it('national /intensity: actual when present', async () => {
    handler = json(200, fixture('gb-intensity.json'));
    const { live } = make({ provider: 'gb-carbon-intensity', zone: 'GB', token: undefined, fallback: { ...STATIC, region: 'GB' } });
    await live.refresh();
    expect(seen[0]!.url).toBe('/intensity');
    expect(live.current()).toMatchObject({ gridGCo2ePerKWh: 263, source: 'gb-carbon-intensity:live', region: 'GB' });
  });

  it('actual null (latest half hour): uses the forecast', async () => {
    handler = json(200, fixture('gb-intensity-actual-null.json'));
    const { live } = make({ provider: 'gb-carbon-intensity', zone: 'GB', token: undefined });
    await live.refresh();
    expect(live.current().gridGCo2ePerKWh).toBe(266);
  });

  it('a region id queries /regional/regionid/{id}', async () => {
    handler = json(200, fixture('gb-regional-regionid.json'));
    const { live } = make({ provider: 'gb-carbon-intensity', zone: '3', token: undefined });
    await live.refresh();
    expect(seen[0]!.url).toBe('/regional/regionid/3');
    expect(live.current().gridGCo2ePerKWh).toBe(266);
  });

  it('an error body with HTTP 400 falls back', async () => {
    handler = json(400, fixture('gb-error.json'));
    const { live } = make({ provider: 'gb-carbon-intensity', zone: 'GB', token: undefined });
    await live.refresh();
    expect(live.current()).toBe(STATIC);
    expect(live.status().lastError).toBe('http_400');
  });
});

describe('scheduling', () => {
  it('start() fetches now and then every refreshMs, never overlapping; stop() ends it', async () => {
    let calls = 0;
    const fakeFetch = (async () => { calls++; return new Response(fixture('electricitymaps-latest-FR.json'), { status: 200 }); }) as typeof fetch;
    const clock = createFakeClock();
    const live = createLiveGridIntensity({ provider: 'electricitymaps', zone: 'FR', token: 't', refreshMs: 1_000, timeoutMs: 500, clock, logger: silentLogger, fetch: fakeFetch, fallback: STATIC });
    live.start();
    await live.refresh(); // joins the in-flight first fetch
    expect(calls).toBe(1);
    await clock.advanceAsync(1_000);
    expect(calls).toBe(2);
    await clock.advanceAsync(1_000);
    expect(calls).toBe(3);
    live.stop();
    await clock.advanceAsync(5_000);
    expect(calls).toBe(3);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('after a 429 with Retry-After the next attempt waits at least that long', async () => {
    let calls = 0;
    const fakeFetch = (async () => { calls++; return new Response('{}', { status: 429, headers: { 'retry-after': '5' } }); }) as typeof fetch;
    const clock = createFakeClock();
    const live = createLiveGridIntensity({ provider: 'electricitymaps', zone: 'FR', token: 't', refreshMs: 1_000, timeoutMs: 500, clock, logger: silentLogger, fetch: fakeFetch, fallback: STATIC });
    live.start();
    await live.refresh();
    await clock.advanceAsync(4_000);
    expect(calls).toBe(1);
    await clock.advanceAsync(1_000);
    expect(calls).toBe(2);
    live.stop();
  });
});

describe('parseIntensity', () => {
  it('rejects shapes that are not the documented ones', () => {
    expect(() => parseIntensity('electricitymaps', { zone: 'FR' })).toThrow(/no carbonIntensity/);
    expect(() => parseIntensity('electricitymaps', { carbonIntensity: '58' })).toThrow(/not a number/);
    expect(() => parseIntensity('gb-carbon-intensity', { data: [] })).toThrow(/no data\[0\]/);
    expect(() => parseIntensity('gb-carbon-intensity', { data: [{ intensity: { forecast: -3 } }] })).toThrow(/not a number/);
  });
});
