import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { createLedger } from '../attribution/ledger.js';
import type { PoolCostReport } from '../attribution/learn/pool-learner.js';
import type { ExtraFlag } from '../config/argv.js';
import { configFromArgv } from '../config/from-argv.js';
import { createSystemClock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import { createLogger } from '../core/logger.js';
import { createSampler } from '../energy/sampler.js';
import { createEnergyTimeline } from '../energy/timeline.js';
import type { EnergyTimeline } from '../energy/types.js';
import { createProxy, listenProxy } from '../proxy/app.js';
import { discoverSensors } from '../sensors/discovery.js';
import { describeFetchError, runtimeError } from './cli-errors.js';
import { mulberry32 } from '../core/prng.js';

/**
 * `inferwatt calibrate --upstream URL --model NAME`: on an inference server that nothing else uses,
 * sends a designed sweep (prompt lengths × completion lengths × concurrency levels, in random order,
 * repeated) through an in-process proxy and ledger under the `learned` policy, the host's sensors
 * measuring, and fits the same model that `run` learns live: J per prompt token, J per completion token,
 * the baseline power while serving, R². Per concurrency level it also reports the J per completion
 * token of that level (all in, and net of the baseline and the prompts), a curve like ML.ENERGY's.
 * `--out FILE` writes the costs as configuration (`attribution.tokenCosts`) that `run` loads as a prior.
 * Ctrl-C stops after the requests in flight and reports what was fitted.
 */
export const CALIBRATE_FLAGS: readonly ExtraFlag[] = [
  { flag: 'model', type: 'string', help: 'the model to calibrate, as the server names it (required)' },
  { flag: 'prompt-lengths', type: 'string', help: 'prompt lengths to sweep, in tokens (default 128,512,2048)' },
  { flag: 'completion-lengths', type: 'string', help: 'completion lengths (max_tokens) to sweep (default 16,64,256)' },
  { flag: 'concurrency', type: 'string', help: 'concurrent requests per cell (default 1,2,4,8)' },
  { flag: 'repeats', type: 'string', help: 'times each cell is run (default 2)' },
  { flag: 'max-seconds', type: 'string', help: 'stop starting cells after this long (default 1800)' },
  { flag: 'idle-seconds', type: 'string', help: 'idle power measured before the sweep (default 3)' },
  { flag: 'ignore-eos', type: 'bool', help: 'ask the server to generate max_tokens whatever it says (default true; --no-ignore-eos for servers that refuse the field)' },
  { flag: 'seed', type: 'string', help: 'seed of the random cell order (default 1)' },
  { flag: 'out', type: 'string', help: 'write the costs to this YAML file (attribution.tokenCosts; use with --config)' },
  { flag: 'json', type: 'bool', help: 'print the result as JSON' },
];

interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: Readonly<Record<string, string | undefined>>;
}

interface Cell { prompt: number; completion: number; concurrency: number }
interface CellRun extends Cell { startMs: number; endMs: number; requests: number; failed: number; promptTokens: number; completionTokens: number; energyJ: number | undefined }

export interface CalibrationResult {
  model: string;
  upstream: string;
  devices: string[];
  requests: number;
  failed: number;
  seconds: number;
  idleW: number | null;
  promptJ: number; promptSe: number | null;
  completionJ: number; completionSe: number | null;
  cachedJ: number | null;
  baselineW: number; baselineSe: number | null;
  r2: number | null;
  equations: number;
  levels: { concurrency: number; requests: number; completionTokens: number; jPerCompletionToken: number | null; netJPerCompletionToken: number | null }[];
  interrupted: boolean;
}

function list(raw: string | boolean | undefined, def: number[], name: string, problems: string[]): number[] {
  if (raw === undefined) return def;
  const v = String(raw).split(',').map((x) => Number(x.trim()));
  if (v.length === 0 || v.some((x) => !Number.isInteger(x) || x < 1)) problems.push(`--${name}: "${raw}" is not a comma-separated list of whole numbers ≥ 1`);
  return v;
}

function num(raw: string | boolean | undefined, def: number, name: string, min: number, problems: string[]): number {
  if (raw === undefined) return def;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min) problems.push(`--${name}: "${raw}" must be a number ≥ ${min}`);
  return v;
}

/** Words of the prompt: a short common word is one token in most tokenizers; `tokensPerWord` corrects that. */
function promptOf(words: number): string {
  const w = ['the', 'energy', 'of', 'one', 'query', 'is', 'measured', 'here', 'and', 'now'];
  let s = 'Repeat after me:';
  for (let i = 0; i < words; i++) s += ` ${w[i % w.length]}`;
  return s;
}

export async function runCalibrateCommand(argv: readonly string[], io: Io): Promise<number> {
  let cells: Cell[] = [];
  let repeats = 2;
  let maxSeconds = 1800;
  let idleSeconds = 3;
  let seed = 1;
  const { loaded, extra } = configFromArgv(argv, {
    env: io.env, extra: CALIBRATE_FLAGS,
    check: (x) => {
      const p: string[] = [];
      if (typeof x.model !== 'string' || x.model === '') p.push('--model NAME is required (the model to calibrate, as the server names it)');
      const prompts = list(x['prompt-lengths'], [128, 512, 2048], 'prompt-lengths', p);
      const completions = list(x['completion-lengths'], [16, 64, 256], 'completion-lengths', p);
      const conc = list(x.concurrency, [1, 2, 4, 8], 'concurrency', p);
      repeats = num(x.repeats, 2, 'repeats', 1, p);
      maxSeconds = num(x['max-seconds'], 1800, 'max-seconds', 1, p);
      idleSeconds = num(x['idle-seconds'], 3, 'idle-seconds', 0, p);
      seed = num(x.seed, 1, 'seed', 0, p);
      cells = prompts.flatMap((prompt) => completions.flatMap((completion) => conc.map((concurrency) => ({ prompt, completion, concurrency }))));
      return p;
    },
  });
  const config = loaded.config;
  const model = String(extra.model);
  const upstream = config.proxy.upstream;
  const json = extra.json === true;
  const ignoreEos = extra['ignore-eos'] !== false;
  const say = (s: string) => { if (!json) io.stdout(s); };
  const clock = createSystemClock();
  const logger = createLogger({ level: json ? 'error' : 'warn', format: config.log.format });

  // The server must answer before anything is measured.
  try {
    const res = await fetch(new URL('/v1/models', upstream), { signal: AbortSignal.timeout(10_000) });
    await res.arrayBuffer();
  } catch (err) {
    throw runtimeError('UPSTREAM_UNREACHABLE', `cannot reach the inference server at ${upstream}: ${describeFetchError(err)}`, err);
  }

  let inFlight = () => 0;
  const discovery = await discoverSensors({ ...config.sensors, simulatedLoad: () => inFlight(), clock, logger });
  if (discovery.sensors.length === 0) {
    throw runtimeError('NO_SENSOR', `no sensor to measure with (${discovery.skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}); see inferwatt sensors`);
  }
  const devices = discovery.sensors.flatMap((s) => s.devices());
  const ids = devices.map((d) => d.id);
  const timeline = createEnergyTimeline({ devices, logger });
  // Calibration wants every equation of the sweep, equally weighted: no forgetting, and costs reported however few.
  const ledger = createLedger({
    timeline, pools: { default: ids }, clock, logger, policy: 'learned', idle: 'unattributed',
    lagBoundMs: config.attribution.lagBoundMs,
    learn: { ...config.attribution.learn, memoryS: 1e9, minSamples: 1 },
  });
  inFlight = () => ledger.inFlight();
  const sampler = createSampler({
    sensors: discovery.sensors, timeline, clock, logger,
    intervalMs: (s) => (s.name === 'rapl' || s.name === 'estimate' ? config.sensors.cpuIntervalMs : config.sensors.gpuIntervalMs),
  });
  sampler.onSample(() => ledger.advance());
  const proxy = createProxy({ upstreams: [{ name: 'default', url: upstream }], tracker: ledger, clock, logger, upstreamTimeoutMs: config.proxy.upstreamTimeoutMs });
  const { server, url: proxyUrl } = await listenProxy(proxy.app, '127.0.0.1', 0);

  let interrupted = false;
  const onSigint = () => {
    if (interrupted) return;
    interrupted = true;
    say('\nstopping after the requests in flight (Ctrl-C again has no further effect)\n');
  };
  process.on('SIGINT', onSigint);
  const runs: CellRun[] = [];
  let idleW: number | null = null;
  const t0 = clock.nowMs();
  try {
    sampler.start();
    say(`inferwatt calibrate: ${model} at ${upstream}, measured by ${discovery.sensors.map((s) => s.name).join(', ')} (${ids.join(', ')})\n`);
    if (idleSeconds > 0) {
      say(`measuring idle power for ${idleSeconds} s…\n`);
      const a = clock.nowMs();
      await new Promise((r) => setTimeout(r, idleSeconds * 1000));
      const j = energyBetween(timeline, ids, a + 1, clock.nowMs() - 1);
      idleW = j === undefined ? null : j / ((clock.nowMs() - a - 2) / 1000);
    }

    // Tokens per prompt word on this server's tokenizer, from one request.
    const probe = await send(proxyUrl, model, promptOf(100), 1, ignoreEos);
    if (!probe.ok) throw runtimeError('PROBE_FAILED', `the server did not answer a chat completion for model "${model}": ${probe.error}`);
    const tokensPerWord = Math.max(0.05, (probe.promptTokens - (await send(proxyUrl, model, promptOf(0), 1, ignoreEos)).promptTokens) / 100);

    const r = mulberry32(seed);
    const order: Cell[] = [];
    for (let k = 0; k < repeats; k++) {
      const round = [...cells];
      for (let i = round.length - 1; i > 0; i--) { const j = Math.floor(r() * (i + 1)); [round[i], round[j]] = [round[j]!, round[i]!]; }
      order.push(...round);
    }
    for (const [i, cell] of order.entries()) {
      if (interrupted || clock.nowMs() - t0 > maxSeconds * 1000) break;
      const startMs = clock.nowMs();
      const words = Math.max(1, Math.round(cell.prompt / tokensPerWord));
      const results = await Promise.all(Array.from({ length: cell.concurrency }, () => send(proxyUrl, model, promptOf(words), cell.completion, ignoreEos)));
      const run: CellRun = {
        ...cell, startMs, endMs: clock.nowMs(), requests: results.length, failed: results.filter((x) => !x.ok).length,
        promptTokens: results.reduce((s, x) => s + x.promptTokens, 0), completionTokens: results.reduce((s, x) => s + x.completionTokens, 0), energyJ: undefined,
      };
      runs.push(run);
      say(`[${i + 1}/${order.length}] prompt ~${cell.prompt}, completion ${cell.completion}, ×${cell.concurrency}: ${run.requests - run.failed}/${run.requests} ok, ${((run.endMs - run.startMs) / 1000).toFixed(1)} s\n`);
    }
    // Let the sensors cover the last requests, then settle everything.
    await new Promise((res) => setTimeout(res, 3 * Math.max(config.sensors.gpuIntervalMs, config.sensors.cpuIntervalMs) + 100));
  } finally {
    process.off('SIGINT', onSigint);
    await new Promise<void>((res) => server.close(() => res()));
    await proxy.close();
    await sampler.stop();
    ledger.advance();
    ledger.flush();
    await Promise.all([...discovery.sensors, ...(discovery.crossCheck ? [discovery.crossCheck] : [])].map((s) => s.close()));
  }
  for (const run of runs) run.energyJ = energyBetween(timeline, ids, run.startMs, run.endMs);

  const report = ledger.tokenCosts()?.[0];
  const result = summarize(model, upstream, ids, runs, report, idleW, (clock.nowMs() - t0) / 1000, interrupted);
  if (json) io.stdout(`${JSON.stringify(result, null, 2)}\n`);
  else io.stdout(format(result));
  if (typeof extra.out === 'string') {
    writeCosts(extra.out, result);
    say(`costs written to ${extra.out}: run with --config ${extra.out} (or copy its attribution section into your configuration)\n`);
  }
  if (result.requests - result.failed === 0) {
    io.stderr('inferwatt calibrate: no request succeeded; nothing was fitted\n');
    return 1;
  }
  return 0;
}

function energyBetween(timeline: EnergyTimeline, ids: readonly string[], a: number, b: number): number | undefined {
  let sum = 0;
  for (const id of ids) {
    const e = timeline.energyBetween(id, a, b);
    if (e === undefined) return undefined;
    sum += e;
  }
  return sum;
}

interface Sent { ok: boolean; error?: string; promptTokens: number; completionTokens: number }

/** One streamed chat completion through the proxy (the learned policy splits it at its first byte). */
async function send(base: string, model: string, prompt: string, maxTokens: number, ignoreEos: boolean): Promise<Sent> {
  try {
    const res = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model, messages: [{ role: 'user', content: prompt }], max_tokens: maxTokens, temperature: 0,
        stream: true, stream_options: { include_usage: true }, ...(ignoreEos ? { ignore_eos: true } : {}),
      }),
    });
    const text = await res.text();
    if (!res.ok) return { ok: false, error: `HTTP ${res.status}: ${text.slice(0, 200)}`, promptTokens: 0, completionTokens: 0 };
    let usage: { prompt_tokens?: number; completion_tokens?: number } | undefined;
    for (const line of text.split('\n')) {
      if (!line.startsWith('data: {')) continue;
      try {
        const doc = JSON.parse(line.slice(6)) as { usage?: typeof usage };
        if (doc.usage) usage = doc.usage;
      } catch { /* a line that is not JSON: skip */ }
    }
    if (!usage) return { ok: false, error: 'the stream reported no usage (stream_options.include_usage)', promptTokens: 0, completionTokens: 0 };
    return { ok: true, promptTokens: usage.prompt_tokens ?? 0, completionTokens: usage.completion_tokens ?? 0 };
  } catch (err) {
    return { ok: false, error: describeFetchError(err), promptTokens: 0, completionTokens: 0 };
  }
}

function summarize(model: string, upstream: string, devices: string[], runs: CellRun[], report: PoolCostReport | undefined, idleW: number | null, seconds: number, interrupted: boolean): CalibrationResult {
  const m = report?.models.find((x) => x.model === model);
  const baselineW = report?.baselineW ?? 0;
  const promptJ = m?.promptJ ?? 0;
  const levels = [...new Set(runs.map((r) => r.concurrency))].sort((a, b) => a - b).map((concurrency) => {
    const rs = runs.filter((r) => r.concurrency === concurrency && r.energyJ !== undefined);
    const c = rs.reduce((s, r) => s + r.completionTokens, 0);
    const e = rs.reduce((s, r) => s + r.energyJ!, 0);
    const secs = rs.reduce((s, r) => s + (r.endMs - r.startMs) / 1000, 0);
    const p = rs.reduce((s, r) => s + r.promptTokens, 0);
    return {
      concurrency,
      requests: rs.reduce((s, r) => s + r.requests - r.failed, 0),
      completionTokens: c,
      jPerCompletionToken: c > 0 ? e / c : null,
      netJPerCompletionToken: c > 0 && m ? (e - baselineW * secs - promptJ * p) / c : null,
    };
  });
  return {
    model, upstream, devices,
    requests: runs.reduce((s, r) => s + r.requests, 0),
    failed: runs.reduce((s, r) => s + r.failed, 0),
    seconds,
    idleW,
    promptJ, promptSe: m?.promptSe ?? null,
    completionJ: m?.completionJ ?? 0, completionSe: m?.completionSe ?? null,
    cachedJ: m && m.cachedJ > 0 ? m.cachedJ : null,
    baselineW, baselineSe: report?.baselineSe ?? null,
    r2: report?.r2 ?? null,
    equations: report?.rows ?? 0,
    levels,
    interrupted,
  };
}

const fmt = (v: number | null, digits = 4): string => (v === null || !Number.isFinite(v) ? '-' : Number(v.toPrecision(digits)).toString());

function format(r: CalibrationResult): string {
  const pm = (v: number | null) => (v === null ? '' : `± ${fmt(v, 2)}`);
  const rows = [
    `\n${r.model} at ${r.upstream}: ${r.requests - r.failed} requests${r.failed ? ` (${r.failed} failed)` : ''} in ${r.seconds.toFixed(0)} s${r.interrupted ? ', interrupted' : ''}; devices ${r.devices.join(', ')}\n`,
    `  J per prompt token        ${fmt(r.promptJ).padEnd(10)} ${pm(r.promptSe)}\n`,
    `  J per completion token    ${fmt(r.completionJ).padEnd(10)} ${pm(r.completionSe)}\n`,
    ...(r.cachedJ === null ? [] : [`  J per cached prompt token ${fmt(r.cachedJ)}\n`]),
    `  baseline while serving    ${fmt(r.baselineW)} W ${pm(r.baselineSe)}${r.idleW === null ? '' : `   (idle: ${fmt(r.idleW)} W)`}\n`,
    `  R²                        ${fmt(r.r2, 3)}   over ${fmt(r.equations, 3)} one-bucket equations\n`,
    `\n  concurrency  requests  completion tokens  J per completion token  (net of baseline and prompt)\n`,
    ...r.levels.map((l) => `  ${String(l.concurrency).padEnd(11)}  ${String(l.requests).padEnd(8)}  ${String(l.completionTokens).padEnd(17)}  ${fmt(l.jPerCompletionToken).padEnd(22)}  ${fmt(l.netJPerCompletionToken)}\n`),
  ];
  if (r.r2 !== null && r.r2 < 0.8) rows.push('\n  R² is low: something else used the devices meanwhile, or the sensors are too coarse for these requests (see docs/attribution.md).\n');
  return rows.join('');
}

function writeCosts(file: string, r: CalibrationResult): void {
  const body = stringify({
    attribution: {
      policy: 'learned',
      tokenCosts: [{ model: r.model, promptJ: r.promptJ, completionJ: r.completionJ, ...(r.cachedJ === null ? {} : { cachedJ: r.cachedJ }) }],
    },
  });
  try {
    writeFileSync(file, `# inferwatt calibrate: ${r.model} at ${r.upstream}, ${new Date().toISOString()}\n# devices ${r.devices.join(', ')}; R² ${fmt(r.r2, 3)}; baseline ${fmt(r.baselineW)} W\n${body}`);
  } catch (err) {
    throw runtimeError('OUT_FAILED', `cannot write ${file}: ${errorMessage(err)}`, err);
  }
}
