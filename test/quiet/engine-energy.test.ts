/**
 * The learned policy and `inferwatt calibrate` on a real inference engine (llama.cpp through
 * node-llama-cpp, test/engine/), measured with the `estimate` sensor: power follows the host's CPU load,
 * and on this CPU engine the CPU load is the tokens' work. Run alone (vitest.quiet.config.ts), after the
 * main suite, so that no other test's CPU time is counted as the engine's.
 *
 * - calibrate against the engine finds a prompt token cheaper than a completion token, and writes costs
 *   that `run` loads;
 * - under `--attribution learned`, after a warm-up of mixed traffic, the energy of a request served among
 *   others comes within 15 % of the same request's energy measured when it runs alone.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type Agent } from '../../src/agent.js';
import { runCalibrateCommand, type CalibrationResult } from '../../src/commands/calibrate.js';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/logger.js';
import { mulberry32 } from '../../src/core/prng.js';
import { ENGINE_MODEL, startEngine, type EngineProcess } from '../helpers/engine.js';
import { finalRecord } from '../helpers/records.js';

/** The estimate sensor's TDP: a round figure, so that J are easy to read; only ratios are asserted. */
const TDP = ['--sensors', 'estimate', '--cpu-tdp-w', '100', '--cpu-interval-ms', '100'];

let engine: EngineProcess;
let dir: string;

beforeAll(async () => {
  engine = await startEngine(['--parallel', '4']);
  dir = mkdtempSync(join(tmpdir(), 'inferwatt-quiet-'));
});

afterAll(async () => {
  await engine?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('inferwatt calibrate against llama.cpp', () => {
  it('finds a prompt token cheaper than a completion token and writes costs that run loads', async () => {
    let out = '';
    const file = join(dir, 'costs.yaml');
    const code = await runCalibrateCommand([
      '--upstream', engine.url, '--model', ENGINE_MODEL, ...TDP,
      '--prompt-lengths', '64,512', '--completion-lengths', '8,64', '--concurrency', '1,3', '--repeats', '2',
      '--idle-seconds', '2', '--json', '--out', file,
    ], { stdout: (s) => { out += s; }, stderr: () => {}, env: {} });
    expect(code).toBe(0);
    const r = JSON.parse(out) as CalibrationResult;
    console.log(`calibrate on llama.cpp (estimate sensor, TDP 100 W): prompt ${r.promptJ} ± ${r.promptSe} J, completion ${r.completionJ} ± ${r.completionSe} J, baseline ${r.baselineW} W, R² ${r.r2}, ${r.equations} equations; levels ${JSON.stringify(r.levels)}`);
    expect(r.failed).toBe(0);
    expect(r.completionJ).toBeGreaterThan(0);
    expect(r.promptJ).toBeLessThan(r.completionJ);
    expect(r.levels.map((l) => l.concurrency)).toEqual([1, 3]);
    const { config } = loadConfig({ configFile: file, env: {} });
    expect(config.attribution.policy).toBe('learned');
    expect(config.attribution.tokenCosts).toEqual([{ model: ENGINE_MODEL, promptJ: r.promptJ, completionJ: r.completionJ }]);
  });
});

describe('inferwatt run --attribution learned on llama.cpp', () => {
  let agent: Agent;

  beforeAll(async () => {
    // --queued-prefill: this engine, like llama.cpp's server, computes the prompts of requests that
    // arrive together one after another (docs/attribution.md, "Queued prefills").
    agent = await startAgent([
      ...TDP, '--attribution', 'learned', '--queued-prefill', '--upstream', engine.url,
      '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--region', 'FR',
    ], { env: {}, logger: silentLogger });
  });

  afterAll(async () => {
    await agent?.stop();
  });

  /** One streamed chat completion through the proxy; resolves with its request id. */
  async function chat(prompt: number, completion: number): Promise<string> {
    const res = await fetch(`${agent.proxyUrl}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: ENGINE_MODEL, messages: [{ role: 'user', content: 'x'.repeat(prompt) }], max_tokens: completion,
        ignore_eos: true, stream: true, stream_options: { include_usage: true },
      }),
    });
    await res.text();
    expect(res.status).toBe(200);
    return res.headers.get('x-inferwatt-request-id')!;
  }

  const recordOf = (id: string) => finalRecord(agent.metricsUrl, id);

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

  it('learns the engine\'s costs from mixed traffic, then a request among others costs within 15 % of the same request alone', async () => {
    // Warm-up: one to four requests of mixed lengths at a time, each group followed by a pause, so that
    // seconds mix busy and idle time: on this one-thread CPU engine the power is the same whatever it
    // computes, and only that mix separates the baseline from the tokens.
    // Then as long again: readiness means errors under 25 %, and the comparison below wants them smaller.
    const r = mulberry32(5);
    const deadline = Date.now() + 150_000;
    let ready = false;
    let readyAt: number | undefined;
    const started = Date.now();
    while (Date.now() < deadline && (readyAt === undefined || Date.now() - readyAt < readyAt - started)) {
      const n = r() < 0.4 ? 1 : 2 + Math.floor(r() * 3);
      await Promise.all(Array.from({ length: n }, () => chat(20 + Math.floor(r() * 600), 4 + Math.floor(r() * 60))));
      await new Promise((res) => setTimeout(res, 200 + r() * 700));
      const models = (await (await fetch(`${agent.metricsUrl}/api/models`)).json()) as { pools: { models: { model: string; ready: boolean }[] }[] };
      ready = models.pools[0]?.models.find((m) => m.model === ENGINE_MODEL)?.ready === true;
      if (ready) readyAt ??= Date.now();
    }
    const costs = (await (await fetch(`${agent.metricsUrl}/api/models`)).json());
    console.log(`learned on llama.cpp: ${JSON.stringify(costs)}`);
    expect(ready).toBe(true);

    // The same request (300-character prompt, 40 completion tokens), alone and beside three others.
    const alone: number[] = [];
    const among: number[] = [];
    for (let k = 0; k < 5; k++) {
      await new Promise((res) => setTimeout(res, 500));
      const a = await recordOf(await chat(300, 40));
      expect(a.attribution).toBe('learned');
      alone.push(a.energyJ.total);
      await new Promise((res) => setTimeout(res, 500));
      const [mine] = await Promise.all([chat(300, 40), chat(500, 20), chat(100, 60), chat(250, 40)]);
      const b = await recordOf(mine);
      expect(b.attribution).toBe('learned');
      among.push(b.energyJ.total);
    }
    const ratio = median(among) / median(alone);
    console.log(`the same request alone: ${alone.map((j) => j.toFixed(2)).join(', ')} J; among three others: ${among.map((j) => j.toFixed(2)).join(', ')} J; median ratio ${ratio.toFixed(3)}`);
    expect(Math.abs(ratio - 1)).toBeLessThan(0.15);
  });
});
