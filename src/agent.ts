import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLedger } from './attribution/ledger.js';
import type { AttributedRequest, LedgerTotals, RequestTracker } from './attribution/types.js';
import { configFromArgv } from './config/from-argv.js';
import { parseHostPort, type LoadedConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { createSystemClock, type Clock } from './core/clock.js';
import { createRequestNotes, type RequestNoteSink } from './core/request-notes.js';
import { ConfigError, InferwattError, errorMessage } from './core/errors.js';
import { createLogger, type Logger } from './core/logger.js';
import { createSampler } from './energy/sampler.js';
import { createEnergyTimeline } from './energy/timeline.js';
import type { EnergyTimeline } from './energy/types.js';
import { createAdminApp } from './exporter/admin-server.js';
import { createLabelBounder } from './exporter/label-bounder.js';
import { createMetricsCatalogue, type ActiveFactors } from './exporter/metrics.js';
import { toRecord } from './exporter/record.js';
import { createRecordStore, type Summary } from './exporter/record-store.js';
import { computeImpacts, toRecordFactors } from './impacts/convert.js';
import { createFactorResolver, loadFactorTables } from './impacts/factor-tables.js';
import { createLiveGridIntensity, resolveLiveZone } from './impacts/live-grid.js';
import type { Factors } from './impacts/types.js';
import { createProxy, listenProxy } from './proxy/app.js';
import { createUpstreamProbe } from './proxy/upstream-probe.js';
import { effectiveUpstreams, resolvePools } from './proxy/pools.js';
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
  /**
   * Where requests are tracked: pass it to `inferwattMiddleware` to feed the same ledger. Its `note`
   * carries what the ledger does not (trace context, why a request did not end ok) to the records.
   */
  readonly tracker: RequestTracker & RequestNoteSink;
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
  onRecord?: (rec: ReturnType<typeof toRecord>) => void;
}

/** How long `stop()` lets requests in flight finish before cutting them (SIGTERM, Ctrl-C), by default (`proxy.shutdownGraceMs`). */
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

  // Impacts (validated with the rest of the configuration by loadConfig: these cannot fail here).
  const overrides = Object.fromEntries(Object.entries(config.impacts.overrides).filter(([, v]) => v !== null)) as Record<string, number>;
  const staticFactors = createFactorResolver({
    ...(config.impacts.region ? { region: config.impacts.region } : {}),
    ...(config.impacts.provider ? { provider: config.impacts.provider } : {}),
    overrides,
    logger: logger.child('factors'),
  });
  const liveZone = config.impacts.live.provider === 'none' ? undefined
    : resolveLiveZone(config.impacts.live.provider, config.impacts.live.zone, config.impacts.region, loadFactorTables());
  if (liveZone && 'problem' in liveZone) throw new ConfigError([liveZone.problem]); // only a hand-made LoadedConfig gets here
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

  // Records: opened before anything starts (a records file that cannot be opened is a configuration
  // error); the label bounders it keys its summary by are created below, before any record arrives.
  const store = createRecordStore({
    keep: config.records.keep, file: config.records.file, logger: logger.child('records'),
    modelKey: (m) => models.label(m), tenantKey: (t) => tenants.label(t), sinceIso: startedIso,
  });

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

  // Pools: each upstream's devices (all of the host's by default); the devices named must exist here.
  const upstreams = effectiveUpstreams(config.proxy);
  const { pools, problems: poolProblems } = resolvePools(upstreams, devices.map((d) => d.id));
  if (poolProblems.length) {
    await Promise.all([...discovery.sensors.map((s) => s.close()), store.close()]);
    throw new ConfigError(poolProblems);
  }

  const ledger = createLedger({
    timeline, pools, clock, logger: logger.child('ledger'),
    policy: config.attribution.policy, idle: config.attribution.idle,
    promptTokenWeight: config.attribution.promptTokenWeight,
    lagBoundMs: config.attribution.lagBoundMs, amortizeWindowMs: config.attribution.amortizeWindowMs, maxHoldMs: config.attribution.maxHoldMs,
  });
  inFlight = () => ledger.inFlight();
  // The proxy's notes on requests wait here until the ledger finalises them.
  const notes = createRequestNotes();
  const tracker: RequestTracker & RequestNoteSink = {
    open: (start) => ledger.open(start),
    inFlight: () => ledger.inFlight(),
    note: (id, n) => notes.note(id, n),
  };

  // `unknown` and `other` are reserved label values (label-bounder.ts): a real one is counted as `other`.
  const reserved = (what: string) => (v: string) => logger.warn(`a ${what} named "${v}" is counted as "other": "unknown" and "other" are reserved label values`);
  const models = createLabelBounder({ max: config.metrics.maxModels, allowList: config.metrics.modelAllowList, onReserved: reserved('model') });
  const tenants = createLabelBounder({ max: config.metrics.maxTenants, allowList: config.metrics.tenantAllowList, onReserved: reserved('tenant') });
  const sensorStatus = () => discovery.sensors.map((s) => ({ name: s.name, health: s.health() }));
  const activeFactors = (): ActiveFactors => {
    const f = currentFactors();
    return { region: f.region, source: f.source, year: f.year ?? null, gridGCo2ePerKWh: f.gridGCo2ePerKWh, pue: f.pue, wue: f.wue, ewif: f.ewif };
  };
  const probe = config.proxy.enabled && config.proxy.upstreamProbeIntervalMs > 0
    ? createUpstreamProbe({ upstreams, clock, logger: logger.child('upstreams'), intervalMs: config.proxy.upstreamProbeIntervalMs })
    : undefined;
  const metrics = createMetricsCatalogue({
    clock, models, tenants,
    pools: upstreams.map((u) => u.name),
    attribution: { policy: config.attribution.policy, idle: config.attribution.idle },
    sources: {
      devices: () => timeline.snapshot(),
      sensors: sensorStatus,
      unattributedJ: () => ledger.totals().unattributedJ,
      recordsWriteErrors: () => store.fileHealth().writeErrors,
      inFlight: () => ledger.inFlight(),
      factors: activeFactors,
      ...(probe ? { upstreams: () => probe.status() } : {}),
      ...(crossTimeline ? {
        crossCheck: () => crossCheckEnergies(timeline, crossTimeline!),
      } : {}),
      ledger: () => ledger.stats(),
      proxy: () => proxy?.stats ?? { tapFailures: 0, trackerFailures: 0 },
    },
  });

  ledger.onFinal((a: AttributedRequest) => {
    try {
      const f = currentFactors();
      const rec = toRecord(a, computeImpacts(a.energyJ.total, f), toRecordFactors(f), notes.take(a.id));
      // The catalogue first: it gives the record's model and tenant their label slots if the upstream
      // served it (label-bounder.ts), and the store's summary keys are the same labels.
      metrics.observeRecord(rec);
      store.add(rec);
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
      const records = store.fileHealth().problem;
      if (records) reasons.push(records);
      return { ready: reasons.length === 0, reasons };
    },
    ...(probe ? { upstreams: () => probe.status() } : {}),
  });

  sampler.start();
  crossSampler?.start();
  live?.start();

  const servers: Server[] = [];
  let proxyUrl: string | undefined;
  let proxy: ReturnType<typeof createProxy> | undefined;
  const stopAll = async () => {
    // Graceful: stop accepting, let the requests in flight finish (streams included) for up to
    // proxy.shutdownGraceMs, then cut what is left (recorded as aborted, reason shutdown, and said so:
    // a cut stream is neither the upstream's failure nor the client's). Kubernetes waits 30 s by default.
    const closed = servers.map((s) => new Promise<void>((r) => s.close(() => r())));
    for (const s of servers) s.closeIdleConnections?.();
    // Real time, not the injected clock: this waits on real sockets (a fake clock would never move).
    const graceMs = config.proxy.shutdownGraceMs;
    const deadline = performance.now() + graceMs;
    while (proxy && proxy.active() > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const left = proxy?.active() ?? 0;
    if (left > 0) logger.warn(`shutdown: ${left} request${left === 1 ? '' : 's'} still in flight after the ${graceMs} ms grace; cut (recorded as aborted, reason shutdown)`);
    // Cut by the proxy first, so that each window knows why it ends (and WebSocket tunnels, which the
    // server's closeAllConnections does not reach).
    proxy?.abortAll('shutdown');
    for (const s of servers) s.closeAllConnections?.();
    // Each cut response ends its window on its socket's 'close', which node emits after the server's own
    // 'close': wait for them (briefly), so that no window is still open when the ledger is flushed.
    const cutDeadline = performance.now() + 1_000;
    while (proxy && proxy.active() > 0 && performance.now() < cutDeadline) await new Promise((r) => setTimeout(r, 5));
    await Promise.all(closed);
    await proxy?.close();
    probe?.stop();
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
    // The first round of upstream probes before anything is served, so that inferwatt_upstream_up and
    // /readyz's upstreams hold a real value from the first scrape (a refused connect answers at once;
    // an unanswered one waits the probe's timeout, at most 2 s).
    await probe?.start();
    const metricsServer = createServer(admin);
    servers.push(metricsServer);
    const metricsUrl = await listen(metricsServer, config.metrics.listen);
    if (config.proxy.enabled) {
      proxy = createProxy({
        upstreams: upstreams.map((u) => ({ name: u.name, url: u.url, ...(u.pathPrefix ? { pathPrefix: u.pathPrefix } : {}) })),
        tracker, clock, logger: logger.child('proxy'),
        maxParseBodyBytes: config.proxy.maxParseBodyBytes, tenantHeader: config.proxy.tenantHeader,
        upstreamTimeoutMs: config.proxy.upstreamTimeoutMs, upstreamIdleTimeoutMs: config.proxy.upstreamIdleTimeoutMs,
        onUpstreamError: (reason) => metrics.upstreamError(reason),
      });
      const proxyLog = logger.child('proxy');
      const { server, url } = await listenProxy(proxy.app, parseHostPort(config.proxy.listen).host, parseHostPort(config.proxy.listen).port, {
        headersTimeoutMs: config.proxy.headersTimeoutMs, requestTimeoutMs: config.proxy.requestTimeoutMs, maxConnections: config.proxy.maxConnections,
        onConnectionDropped: () => {
          metrics.connectionDropped();
          proxyLog.rateLimited('warn', 'max-connections', `a client connection was closed at once: ${config.proxy.maxConnections} are open (proxy.maxConnections)`);
        },
      });
      servers.push(server);
      proxyUrl = url;
    }
    logger.info(`metrics and API on ${metricsUrl}/metrics${proxyUrl ? `; proxy on ${proxyUrl} → ${upstreams.map((u) => u.url).join(', ')}` : ''}`);
    let stopping: Promise<void> | undefined;
    return {
      config, metricsUrl, proxyUrl, discovery, tracker, clock,
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
