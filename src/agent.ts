import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLedger } from './attribution/ledger.js';
import type { AttributedRequest, LedgerTotals, RequestTracker } from './attribution/types.js';
import { configFromArgv } from './config/from-argv.js';
import { parseHostPort, type LoadedConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { createSystemClock, type Clock } from './core/clock.js';
import { ConfigError, InferwattError, errorMessage } from './core/errors.js';
import { createLogger, type Logger } from './core/logger.js';
import { createSampler } from './energy/sampler.js';
import { createEnergyTimeline } from './energy/timeline.js';
import type { EnergyTimeline } from './energy/types.js';
import { createAdminApp } from './exporter/admin-server.js';
import { createLabelBounder } from './exporter/label-bounder.js';
import { createMetricsCatalogue, type ActiveFactors } from './exporter/metrics.js';
import { createRecordBuilder, type RequestRecord } from './exporter/record.js';
import { createRecordStore, type Summary } from './exporter/record-store.js';
import { createFactorResolver, loadFactorTables } from './impacts/factor-tables.js';
import { createLiveGridIntensity, resolveLiveZone } from './impacts/live-grid.js';
import type { Factors } from './impacts/types.js';
import { createProxy, listenProxy } from './proxy/app.js';
import { discoverSensors, type Discovery } from './sensors/discovery.js';
import { isNvmlSensor } from './sensors/nvml.js';
import type { Sensor } from './sensors/types.js';

/**
 * The composition root of `inferwatt run`: sensors → sampler → timeline → ledger → impacts →
 * records and metrics, with the proxy feeding the ledger. It wires; the stages do the work.
 */
export interface Agent {
  readonly config: Readonly<Config>;
  readonly metricsUrl: string;
  /** Undefined when the proxy is disabled. */
  readonly proxyUrl: string | undefined;
  readonly discovery: Discovery;
  /** Where requests are tracked: pass it to `inferwattMiddleware` to feed the same ledger. */
  readonly tracker: RequestTracker;
  readonly clock: Clock;
  /** The impact factors in use now (live when configured, else static). */
  factors(): Factors;
  /** /api/summary's content. */
  summary(): Summary;
  /** The ledger's energy books: measured, attributed and unattributed J (conservation checks). */
  totals(): LedgerTotals;
  /** Stops accepting, finalises every record with what was measured, flushes the records file. */
  stop(): Promise<void>;
}

export interface AgentDeps {
  env?: Readonly<Record<string, string | undefined>>;
  clock?: Clock;
  logger?: Logger;
  fetch?: typeof fetch;
  /** Called with each final record (the demo prints them). */
  onRecord?: (rec: RequestRecord) => void;
}

/** How long `stop()` lets requests in flight finish before cutting them (SIGTERM, Ctrl-C). */
export const SHUTDOWN_GRACE_MS = 10_000;

/**
 * Cross-check mode: each GPU's energy by the NVML counter and by nvidia-smi integration over the span
 * both cover (their first and last samples differ by up to an interval), so the two are comparable.
 */
function crossCheckEnergies(main: EnergyTimeline, smi: EnergyTimeline): { device: string; nvmlJ: number; nvidiaSmiJ: number }[] {
  const out: { device: string; nvmlJ: number; nvidiaSmiJ: number }[] = [];
  for (const d of smi.devices()) {
    const a = main.series(d.id);
    const b = smi.series(d.id);
    if (!a || !b) continue;
    const t0 = Math.max(a.retainedFromMs() ?? Infinity, b.retainedFromMs() ?? Infinity);
    const t1 = Math.min(a.coveredUntilMs() ?? -Infinity, b.coveredUntilMs() ?? -Infinity);
    if (!(t1 > t0)) continue;
    const nvmlJ = main.energyBetween(d.id, t0, t1);
    const nvidiaSmiJ = smi.energyBetween(d.id, t0, t1);
    if (nvmlJ !== undefined && nvidiaSmiJ !== undefined) out.push({ device: d.id, nvmlJ, nvidiaSmiJ });
  }
  return out;
}

/** Parses `run` flags and starts the agent; throws ConfigError (exit 2) on bad configuration. */
export async function startAgent(argv: readonly string[], deps: AgentDeps = {}): Promise<Agent> {
  const { loaded } = configFromArgv(argv, { env: deps.env ?? {} });
  return createAgent(loaded, deps);
}

function listen(server: Server, hostPort: string): Promise<string> {
  const { host, port } = parseHostPort(hostPort);
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(new InferwattError('LISTEN_FAILED', 'fatal', `cannot listen on ${hostPort}: ${err.code === 'EADDRINUSE' ? 'address already in use' : errorMessage(err)}`, { cause: err }));
    });
    server.listen(port, host, () => {
      const a = server.address() as AddressInfo;
      resolve(`http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`);
    });
  });
}

export async function createAgent(loaded: LoadedConfig, deps: AgentDeps = {}): Promise<Agent> {
  const { config } = loaded;
  const clock = deps.clock ?? createSystemClock();
  const logger = deps.logger ?? createLogger({ level: config.log.level, format: config.log.format });
  for (const w of loaded.warnings) logger.warn(w);
  const startedIso = new Date(clock.wallMs()).toISOString();

  // Impacts: resolved first, so that a bad region exits 2 before anything starts.
  const overrides = Object.fromEntries(Object.entries(config.impacts.overrides).filter(([, v]) => v !== null)) as Record<string, number>;
  const staticFactors = createFactorResolver({
    ...(config.impacts.region ? { region: config.impacts.region } : {}),
    ...(config.impacts.provider ? { provider: config.impacts.provider } : {}),
    overrides,
    logger: logger.child('factors'),
  });
  const liveZone = config.impacts.live.provider === 'none' ? undefined
    : resolveLiveZone(config.impacts.live.provider, config.impacts.live.zone, config.impacts.region, loadFactorTables());
  if (liveZone && 'problem' in liveZone) throw new ConfigError([liveZone.problem]);
  const live = config.impacts.live.provider === 'none' || !liveZone ? undefined : createLiveGridIntensity({
    provider: config.impacts.live.provider,
    zone: liveZone.zone,
    ...(config.impacts.live.token ? { token: config.impacts.live.token } : {}),
    ...(config.impacts.live.baseUrl ? { baseUrl: config.impacts.live.baseUrl } : {}),
    refreshMs: config.impacts.live.refreshMs,
    timeoutMs: config.impacts.live.timeoutMs,
    clock, logger: logger.child('live-grid'),
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    fallback: staticFactors,
  });
  const currentFactors = (): Factors => (live ? live.current() : staticFactors);

  // Sensors and the timeline.
  let inFlight = () => 0;
  const discovery = await discoverSensors({
    ...config.sensors,
    simulatedLoad: () => inFlight(),
    clock, logger,
  });
  const devices = discovery.sensors.flatMap((s) => s.devices());
  const timeline = createEnergyTimeline({ devices, logger: logger.child('timeline') });
  const isGpuSensor = (s: Sensor) => s.name === 'nvml' || s.name === 'nvidia-smi' || s.name === 'simulated';
  const sampler = createSampler({
    sensors: discovery.sensors, timeline, clock, logger: logger.child('sampler'),
    intervalMs: (s) => (isGpuSensor(s) ? config.sensors.gpuIntervalMs : config.sensors.cpuIntervalMs),
  });
  let crossTimeline: ReturnType<typeof createEnergyTimeline> | undefined;
  let crossSampler: ReturnType<typeof createSampler> | undefined;
  if (discovery.crossCheck) {
    crossTimeline = createEnergyTimeline({ devices: discovery.crossCheck.devices(), logger: logger.child('cross-check') });
    crossSampler = createSampler({ sensors: [discovery.crossCheck], timeline: crossTimeline, clock, logger: logger.child('cross-check'), intervalMs: () => config.sensors.gpuIntervalMs });
  }

  // Pools: each upstream's devices (all of the host's by default).
  const upstreams = config.proxy.upstreams.length
    ? config.proxy.upstreams
    : [{ name: 'default', url: config.proxy.upstream, devices: [] as string[] }];
  const allIds = devices.map((d) => d.id);
  const poolProblems: string[] = [];
  const pools: Record<string, string[]> = {};
  const owner = new Map<string, string>();
  for (const u of upstreams) {
    for (const id of u.devices) if (!allIds.includes(id)) poolProblems.push(`proxy.upstreams[${u.name}].devices: no device "${id}" on this host (found: ${allIds.join(', ') || 'none'})`);
    pools[u.name] = u.devices.length ? [...u.devices] : allIds;
    // A device in two pools would have its energy attributed twice: pools must be disjoint.
    for (const id of pools[u.name]!) {
      const other = owner.get(id);
      if (other !== undefined) poolProblems.push(`proxy.upstreams: device "${id}" is in the pools of both "${other}" and "${u.name}"; give each upstream its own devices (an empty list means every device)`);
      else owner.set(id, u.name);
    }
  }
  if (poolProblems.length) {
    await Promise.all(discovery.sensors.map((s) => s.close()));
    throw new ConfigError(poolProblems);
  }

  const ledger = createLedger({
    timeline, pools, clock, logger: logger.child('ledger'),
    policy: config.attribution.policy, idle: config.attribution.idle,
    promptTokenWeight: config.attribution.promptTokenWeight,
    lagBoundMs: config.attribution.lagBoundMs, amortizeWindowMs: config.attribution.amortizeWindowMs,
  });
  inFlight = () => ledger.inFlight();

  // `unknown` and `other` are reserved label values (label-bounder.ts): a real one is counted as `other`.
  const reserved = (what: string) => (v: string) => logger.warn(`a ${what} named "${v}" is counted as "other": "unknown" and "other" are reserved label values`);
  const models = createLabelBounder({ max: config.metrics.maxModels, allowList: config.metrics.modelAllowList, onReserved: reserved('model') });
  const tenants = createLabelBounder({ max: config.metrics.maxTenants, allowList: config.metrics.tenantAllowList, onReserved: reserved('tenant') });
  const store = createRecordStore({
    keep: config.records.keep, file: config.records.file, logger: logger.child('records'),
    modelKey: (m) => models.label(m), tenantKey: (t) => tenants.label(t), sinceIso: startedIso,
  });
  const sensorStatus = () => discovery.sensors.map((s) => ({ name: s.name, health: s.health() }));
  const activeFactors = (): ActiveFactors => {
    const f = currentFactors();
    return { region: f.region, source: f.source, year: f.year ?? null, gridGCo2ePerKWh: f.gridGCo2ePerKWh, pue: f.pue, wue: f.wue, ewif: f.ewif };
  };
  const metrics = createMetricsCatalogue({
    clock, models, tenants,
    sources: {
      devices: () => timeline.snapshot(),
      sensors: sensorStatus,
      unattributedJ: () => ledger.totals().unattributedJ,
      inFlight: () => ledger.inFlight(),
      factors: activeFactors,
      ...(crossTimeline ? {
        crossCheck: () => crossCheckEnergies(timeline, crossTimeline!),
      } : {}),
    },
  });

  const buildRecord = createRecordBuilder();
  ledger.onFinal((a: AttributedRequest) => {
    try {
      const rec = buildRecord(a, currentFactors());
      store.add(rec);
      metrics.observeRecord(rec);
      deps.onRecord?.(rec);
    } catch (err) {
      logger.rateLimited('error', 'record', `could not finish a record: ${errorMessage(err)}`);
    }
  });
  sampler.onSample(() => ledger.advance());

  const admin = createAdminApp({
    metrics, records: store, logger: logger.child('admin'),
    pending: (id) => ledger.pending(id),
    summary: () => store.summary({ unattributedEnergyJ: ledger.totals().unattributedJ }),
    sensors: () => ({
      active: discovery.sensors.map((s) => ({
        name: s.name, devices: s.devices(), health: s.health(), sampler: sampler.stats(s.name),
        ...(isNvmlSensor(s) ? { deviceStatus: s.deviceStatus() } : {}),
      })),
      skipped: discovery.skipped,
      ...(discovery.crossCheck ? { crossCheck: { name: discovery.crossCheck.name, health: discovery.crossCheck.health() } } : {}),
      timeline: { dropped: timeline.dropped() },
    }),
    ready: () => {
      const reasons: string[] = [];
      if (!discovery.sensors.length) reasons.push('no sensor');
      for (const s of discovery.sensors) if (s.health().lastSampleMs === undefined) reasons.push(`sensor ${s.name} has not delivered a reading yet`);
      return { ready: reasons.length === 0, reasons };
    },
  });

  sampler.start();
  crossSampler?.start();
  live?.start();

  const servers: Server[] = [];
  let proxyUrl: string | undefined;
  let proxy: ReturnType<typeof createProxy> | undefined;
  const stopAll = async () => {
    // Graceful: stop accepting, let the requests in flight finish (streams included) for up to
    // SHUTDOWN_GRACE_MS, then cut what is left (recorded as aborted). Kubernetes waits 30 s by default.
    const closed = servers.map((s) => new Promise<void>((r) => s.close(() => r())));
    for (const s of servers) s.closeIdleConnections?.();
    // Real time, not the injected clock: this waits on real sockets (a fake clock would never move).
    const deadline = performance.now() + SHUTDOWN_GRACE_MS;
    while (proxy && proxy.active() > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const s of servers) s.closeAllConnections?.();
    await Promise.all(closed);
    await proxy?.close();
    await sampler.stop();
    await crossSampler?.stop();
    live?.stop();
    try { await sampler.tick(); } catch { /* sensors never throw; belt and braces at shutdown */ }
    ledger.advance();
    ledger.flush();
    await store.close();
    await Promise.all([...discovery.sensors, ...(discovery.crossCheck ? [discovery.crossCheck] : [])].map((s) => s.close()));
  };

  try {
    const metricsServer = createServer(admin);
    servers.push(metricsServer);
    const metricsUrl = await listen(metricsServer, config.metrics.listen);
    if (config.proxy.enabled) {
      proxy = createProxy({
        upstreams: upstreams.map((u) => ({ name: u.name, url: u.url, ...('pathPrefix' in u && u.pathPrefix ? { pathPrefix: u.pathPrefix } : {}) })),
        tracker: ledger, clock, logger: logger.child('proxy'),
        maxParseBodyBytes: config.proxy.maxParseBodyBytes, tenantHeader: config.proxy.tenantHeader,
        upstreamTimeoutMs: config.proxy.upstreamTimeoutMs,
        onUpstreamError: (reason) => metrics.upstreamError(reason),
      });
      const { server, url } = await listenProxy(proxy.app, parseHostPort(config.proxy.listen).host, parseHostPort(config.proxy.listen).port);
      servers.push(server);
      proxyUrl = url;
    }
    logger.info(`metrics and API on ${metricsUrl}/metrics${proxyUrl ? `; proxy on ${proxyUrl} → ${upstreams.map((u) => u.url).join(', ')}` : ''}`);
    let stopping: Promise<void> | undefined;
    return {
      config, metricsUrl, proxyUrl, discovery, tracker: ledger, clock,
      factors: currentFactors,
      summary: () => store.summary({ unattributedEnergyJ: ledger.totals().unattributedJ }),
      totals: () => ledger.totals(),
      stop: () => (stopping ??= stopAll()),
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
