import { createServer } from 'node:net';
import { createAgent } from '../agent.js';
import type { ExtraFlag } from '../config/argv.js';
import { envName } from '../config/flags.js';
import { configFromArgv } from '../config/from-argv.js';
import { parseHostPort, type LoadedConfig } from '../config/load.js';
import { DEFAULTS } from '../config/schema.js';
import { createLogger } from '../core/logger.js';
import { joulesToWh } from '../core/units.js';
import { startLoadGenerator } from '../demo/load-generator.js';
import { DEFAULT_SIM_MODELS, startSimLlmServer } from '../demo/sim-llm-server.js';
import type { RequestRecord } from '../exporter/record.js';
import type { Summary } from '../exporter/record-store.js';
import { project } from '../impacts/projection.js';

/**
 * `inferwatt demo`: the whole pipeline on any machine, no GPU needed. A simulated OpenAI-compatible
 * server, the simulated sensor (power rises with load), the agent in front of it and a load generator;
 * one line per finished request, then a summary per model and what the measured J/query would mean
 * at a billion users.
 */
export const DEMO_FLAGS: readonly ExtraFlag[] = [
  { flag: 'duration', type: 'string', help: 'seconds to run (default: until Ctrl-C)' },
  { flag: 'concurrency', type: 'string', help: 'concurrent clients (default 6)' },
];

export interface DemoIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: Readonly<Record<string, string | undefined>>;
  /** Resolves when the user asks to stop (Ctrl-C); tests pass their own. */
  interrupted?: Promise<void>;
}

const fmt = (x: number, digits = 1) => x.toFixed(digits);

export function formatRecordLine(r: RequestRecord): string {
  const tokens = r.promptTokens === null && r.completionTokens === null ? '   ?/?   ' : `${String(r.promptTokens ?? '?').padStart(4)}/${String(r.completionTokens ?? '?').padEnd(4)}`;
  return `${(r.model ?? 'unknown').padEnd(24)} ${tokens} tok ${fmt(r.durationMs / 1000, 2).padStart(6)} s ${fmt(r.energyJ.total, 1).padStart(8)} J ${fmt(r.co2eGrams * 1000, 3).padStart(8)} mgCO2e ${fmt(r.waterLiters.total * 1000, 3).padStart(7)} mL  ${r.outcome}`;
}

export async function runDemoCommand(argv: readonly string[], io: DemoIo): Promise<number> {
  const sim = await startSimLlmServer();
  let loaded;
  let extra: Record<string, string | boolean>;
  try {
    ({ loaded, extra } = configFromArgv(argv, {
      env: io.env, extra: DEMO_FLAGS,
      // The demo's own choices sit under the user's flags; the upstream is always the simulated server.
      defaults: { sensors: 'simulated', 'simulated-gpus': '1', 'interval-ms': '100', 'log-level': 'warn' },
      forced: { upstream: sim.url },
      check: (x) => {
        const p: string[] = [];
        const d = x.duration === undefined ? undefined : Number(x.duration);
        const c = x.concurrency === undefined ? 6 : Number(x.concurrency);
        if (d !== undefined && (!Number.isFinite(d) || d <= 0)) p.push('--duration must be a positive number of seconds');
        if (!Number.isInteger(c) || c < 1 || c > 1000) p.push('--concurrency must be a whole number from 1 to 1000');
        return p;
      },
    }));
  } catch (err) {
    await sim.close();
    throw err;
  }
  const chosen = (flag: string) => argv.some((a) => a === `--${flag}` || a.startsWith(`--${flag}=`)) || io.env[envName(flag)] !== undefined;
  const freed = await freeDefaultPorts(loaded, { listen: chosen('listen'), metricsListen: chosen('metrics-listen') });
  loaded = freed.loaded;
  const moved = freed.moved;
  const duration = extra.duration === undefined ? undefined : Number(extra.duration);
  const concurrency = extra.concurrency === undefined ? 6 : Number(extra.concurrency);
  const logger = createLogger({ level: loaded.config.log.level, format: loaded.config.log.format, write: (l) => io.stderr(l + '\n') });
  let agent;
  try {
    agent = await createAgent(loaded, { logger, onRecord: (r) => io.stdout(formatRecordLine(r) + '\n') });
  } catch (err) {
    await sim.close();
    throw err;
  }
  const factors = agent.factors();
  io.stdout([
    'inferwatt demo: a simulated LLM server, a simulated GPU whose power follows the load, and the agent in between.',
    `  proxy     ${agent.proxyUrl}  (point an OpenAI client here; upstream ${sim.url})`,
    `  metrics   ${agent.metricsUrl}/metrics`,
    `  records   ${agent.metricsUrl}/api/requests?limit=10   summary ${agent.metricsUrl}/api/summary`,
    `  factors   ${factors.region}: ${factors.gridGCo2ePerKWh} gCO2e/kWh, PUE ${factors.pue}, WUE ${factors.wue} L/kWh, EWIF ${factors.ewif} L/kWh (${factors.source}${factors.region === 'world' ? '; set --region' : ''})`,
    `  load      ${concurrency} concurrent clients, models ${DEFAULT_SIM_MODELS.map((m) => m.id).join(', ')}`,
    ...(moved.length ? [`  ports     ${moved.join(' and ')} ${moved.length === 1 ? 'was' : 'were'} in use (another inferwatt?), so the demo took free ones; --listen and --metrics-listen choose`] : []),
    duration ? `  running for ${duration} s` : '  running until Ctrl-C',
    '',
    `${'model'.padEnd(24)} ${'prompt/compl'} ${'time'.padStart(8)} ${'energy'.padStart(10)} ${'CO2e'.padStart(15)} ${'water'.padStart(10)}`,
  ].join('\n') + '\n');

  const load = startLoadGenerator({ baseUrl: agent.proxyUrl!, models: DEFAULT_SIM_MODELS.map((m) => m.id), concurrency });
  const timer = new Promise<void>((r) => { if (duration !== undefined) setTimeout(r, duration * 1000).unref(); });
  await Promise.race([timer, ...(io.interrupted ? [io.interrupted] : [])]);
  await load.stop();
  await agent.stop(); // finalises every record with the energy measured
  await sim.close();
  io.stdout('\n' + formatSummary(agent.summary(), factors) + '\n');
  return 0;
}

/**
 * The demo is a showcase, not a service: where an address is the built-in default and something listens
 * there already (an agent, another demo), it takes a free port on the same host instead and says so.
 * An address the user chose with a flag or an environment variable is kept (and fails loudly if taken), as
 * `run` always does.
 */
async function freeDefaultPorts(loaded: LoadedConfig, chosen: { listen: boolean; metricsListen: boolean }): Promise<{ loaded: LoadedConfig; moved: string[] }> {
  const { config } = loaded;
  const moved: string[] = [];
  const pick = async (address: string, builtIn: string, userChosen: boolean): Promise<string> => {
    if (userChosen || address !== builtIn) return address;
    const { host, port } = parseHostPort(address);
    if (!(await inUse(host, port))) return address;
    moved.push(address);
    return `${address.slice(0, address.lastIndexOf(':'))}:0`;
  };
  const listen = config.proxy.enabled ? await pick(config.proxy.listen, DEFAULTS.proxy.listen, chosen.listen) : config.proxy.listen;
  const metricsListen = await pick(config.metrics.listen, DEFAULTS.metrics.listen, chosen.metricsListen);
  if (!moved.length) return { loaded, moved };
  return {
    loaded: { ...loaded, config: { ...config, proxy: { ...config.proxy, listen }, metrics: { ...config.metrics, listen: metricsListen } } },
    moved,
  };
}

function inUse(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'EADDRINUSE'));
    probe.listen(port, host, () => probe.close(() => resolve(false)));
  });
}

export function formatSummary(s: Summary, f: { gridGCo2ePerKWh: number; pue: number; wue: number; ewif: number; region: string }): string {
  const lines = ['Summary per model:'];
  for (const m of s.models) {
    lines.push(`  ${m.model.padEnd(24)} ${String(m.requests).padStart(5)} requests  ${fmt(m.meanEnergyJPerRequest, 1).padStart(8)} J/request  ${m.meanEnergyJPerToken === null ? '    n/a' : fmt(m.meanEnergyJPerToken, 3).padStart(7)} J/token  ${fmt(m.meanCo2eGramsPerRequest * 1000, 3)} mgCO2e/request`);
  }
  const t = s.totals;
  lines.push(`  ${'all'.padEnd(24)} ${String(t.requests).padStart(5)} requests  ${fmt(t.meanEnergyJPerRequest, 1).padStart(8)} J/request; idle energy not attributed: ${fmt(s.unattributedEnergyJ, 0)} J`);
  if (t.requests > 0 && t.meanEnergyJPerRequest > 0) {
    const p = project({
      users: 1e9, queriesPerUserPerDay: 10,
      energy: { kind: 'wh-per-query', itWhPerQuery: joulesToWh(t.meanEnergyJPerRequest), origin: 'demo measurement' },
      pue: f.pue, gridGCo2ePerKWh: f.gridGCo2ePerKWh, water: { kind: 'factors', wue: f.wue, ewif: f.ewif },
    });
    lines.push('', `At ${fmt(t.meanEnergyJPerRequest, 1)} J/query (${fmt(joulesToWh(t.meanEnergyJPerRequest), 3)} Wh), 1 billion users × 10 queries a day would use ${fmt(p.energy.facilityKWhPerYear / 1e9, 2)} TWh and emit ${Math.round(p.co2eTonnes.operational).toLocaleString('en-US')} tCO2e a year (${f.region} grid, PUE ${f.pue}); water ${Math.round(p.waterLiters.perYear / 1e6).toLocaleString('en-US')} million liters.`);
    lines.push('(simulated hardware: these are the demo\'s numbers, not a real GPU\'s; run `inferwatt project --from <agent URL>` on a real host)');
  }
  return lines.join('\n');
}
