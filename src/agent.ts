import { createLedger } from './attribution/ledger.js';
import type { LedgerTotals, RequestTracker } from './attribution/types.js';
import { configFromArgv } from './config/from-argv.js';
import { parseHostPort, type LoadedConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { createSystemClock, type Clock } from './core/clock.js';
import { ConfigError } from './core/errors.js';
import { createLogger, type Logger } from './core/logger.js';
import { createRequestNotes, type RequestNoteSink } from './core/request-notes.js';
import { startServices, stopServices, type Service } from './core/service.js';
import { createMeasurement } from './energy/measurement.js';
import { createAdminApp, createAdminService } from './exporter/admin-server.js';
import { createLabelBounder } from './exporter/label-bounder.js';
import { createMetricsCatalogue, toActiveFactors } from './exporter/metrics.js';
import type { RequestRecord } from './exporter/record.js';
import { createRecordSink } from './exporter/record-sink.js';
import { createRecordStore, type Summary } from './exporter/record-store.js';
import { createFactorSource } from './impacts/factor-source.js';
import type { Factors } from './impacts/types.js';
import { effectiveUpstreams, resolvePools } from './proxy/pools.js';
import { createProxyService } from './proxy/proxy-service.js';
import { createUpstreamProbe } from './proxy/upstream-probe.js';
import type { Discovery } from './sensors/discovery.js';

/**
 * The composition root of `inferwatt run` (docs/design.md): it builds the stages from the configuration,
 * wires them (sensors → timeline → ledger → impacts → records and metrics, the proxy feeding the ledger)
 * and runs them as a list of services, started in order and stopped in reverse. The stages do the work;
 * the rules (validation, pools, readiness, shutdown) live in their modules.
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
  onRecord?: (rec: RequestRecord) => void;
}

/** Parses `run` flags and starts the agent; throws ConfigError (exit 2) on bad configuration. */
export async function startAgent(argv: readonly string[], deps: AgentDeps = {}): Promise<Agent> {
  const { loaded } = configFromArgv(argv, { env: deps.env ?? {} });
  return createAgent(loaded, deps);
}

export async function createAgent(loaded: LoadedConfig, deps: AgentDeps = {}): Promise<Agent> {
  const { config } = loaded;
  const clock = deps.clock ?? createSystemClock();
  const logger = deps.logger ?? createLogger({ level: config.log.level, format: config.log.format });
  for (const w of loaded.warnings) logger.warn(w);
  // Every part that holds a resource joins this list as it is made; start runs it in order, stop in
  // reverse, and a failure while composing stops what was made.
  const services: Service[] = [];
  try {
    const factors = createFactorSource(config.impacts, { clock, logger, ...(deps.fetch ? { fetch: deps.fetch } : {}) });

    // Label bounders first: the store keys its summary by the same labels as the metrics.
    const reserved = (what: string) => (v: string) => logger.warn(`a ${what} named "${v}" is counted as "other": "unknown" and "other" are reserved label values`);
    const models = createLabelBounder({ max: config.metrics.maxModels, allowList: config.metrics.modelAllowList, onReserved: reserved('model') });
    const tenants = createLabelBounder({ max: config.metrics.maxTenants, allowList: config.metrics.tenantAllowList, onReserved: reserved('tenant') });
    // Opened before anything starts: a records file that cannot be opened is a configuration error.
    const store = createRecordStore({
      keep: config.records.keep, file: config.records.file, logger: logger.child('records'),
      modelKey: (m) => models.label(m), tenantKey: (t) => tenants.label(t), sinceIso: new Date(clock.wallMs()).toISOString(),
    });
    services.push({ name: 'records', stop: () => store.close() });

    let inFlight = () => 0;
    const measurement = await createMeasurement(config.sensors, { clock, logger, simulatedLoad: () => inFlight() });
    services.unshift(...measurement.services.slice(0, 1)); // the sensors close last
    const upstreams = effectiveUpstreams(config.proxy);
    const { pools, problems } = resolvePools(upstreams, measurement.devices.map((d) => d.id));
    if (problems.length) throw new ConfigError(problems);

    const ledger = createLedger({
      timeline: measurement.timeline, pools, clock, logger: logger.child('ledger'),
      policy: config.attribution.policy, idle: config.attribution.idle,
      promptTokenWeight: config.attribution.promptTokenWeight,
      lagBoundMs: config.attribution.lagBoundMs, amortizeWindowMs: config.attribution.amortizeWindowMs, maxHoldMs: config.attribution.maxHoldMs,
      learn: { ...config.attribution.learn, maxModels: config.metrics.maxModels, priors: config.attribution.tokenCosts },
      learnStateFile: config.attribution.learn.stateFile,
    });
    inFlight = () => ledger.inFlight();
    measurement.onSample(() => ledger.advance());
    services.push({ name: 'ledger', stop: () => { ledger.advance(); ledger.flush(); } });
    services.push(...measurement.services.slice(1));
    if (factors.service) services.push(factors.service);

    // The proxy's notes on requests wait beside the ledger until it finalises them.
    const notes = createRequestNotes();
    const tracker: RequestTracker & RequestNoteSink = { open: (s) => ledger.open(s), inFlight: () => ledger.inFlight(), decodeMarks: ledger.decodeMarks, note: (id, n) => notes.note(id, n) };
    const probe = config.proxy.enabled && config.proxy.upstreamProbeIntervalMs > 0
      ? createUpstreamProbe({ upstreams, clock, logger: logger.child('upstreams'), intervalMs: config.proxy.upstreamProbeIntervalMs })
      : undefined;
    // The first round of probes before anything is served, so that /readyz and inferwatt_upstream_up
    // hold a real value from the first scrape (at most the probe's timeout, 2 s).
    if (probe) services.push({ name: 'upstream probe', start: () => probe.start(), stop: () => probe.stop() });
    const proxy = config.proxy.enabled ? createProxyService({ ...config.proxy, listen: parseHostPort(config.proxy.listen) }, {
      upstreams, tracker, clock, logger: logger.child('proxy'),
      onUpstreamError: (reason) => metrics.upstreamError(reason),
      onConnectionDropped: () => metrics.connectionDropped(),
    }) : undefined;

    const metrics = createMetricsCatalogue({
      clock, models, tenants,
      pools: upstreams.map((u) => u.name),
      attribution: { policy: config.attribution.policy, idle: config.attribution.idle },
      sources: {
        devices: () => measurement.timeline.snapshot(),
        sensors: () => measurement.sensorStatus(),
        unattributedJ: () => ledger.totals().unattributedJ,
        recordsWriteErrors: () => store.fileHealth().writeErrors,
        inFlight: () => ledger.inFlight(),
        factors: () => toActiveFactors(factors.current()),
        ...(probe ? { upstreams: () => probe.status() } : {}),
        ...(measurement.crossCheck ? { crossCheck: measurement.crossCheck } : {}),
        ...(config.attribution.policy === 'learned' ? { tokenCosts: () => ledger.tokenCosts() ?? [] } : {}),
        ledger: () => ledger.stats(),
        proxy: () => proxy?.stats() ?? { tapFailures: 0, trackerFailures: 0 },
      },
    });
    ledger.onFinal(createRecordSink({ factors: () => factors.current(), notes, metrics, store, onRecord: deps.onRecord, logger }));

    const summary = () => store.summary({ unattributedEnergyJ: ledger.totals().unattributedJ });
    const admin = createAdminService(createAdminApp({
      metrics, records: store, logger: logger.child('admin'),
      pending: (id) => ledger.pending(id),
      models: () => ({ policy: config.attribution.policy, pools: ledger.tokenCosts() ?? [] }),
      summary,
      sensors: () => measurement.describe(),
      ready: () => {
        const recordsProblem = store.fileHealth().problem;
        const reasons = [...measurement.notReady(), ...(recordsProblem ? [recordsProblem] : [])];
        return { ready: reasons.length === 0, reasons };
      },
      ...(probe ? { upstreams: () => probe.status() } : {}),
    }), { ...parseHostPort(config.metrics.listen), text: config.metrics.listen });
    services.push(admin);
    if (proxy) services.push(proxy);

    await startServices(services, logger);
    const metricsUrl = admin.url()!;
    const proxyUrl = proxy?.url();
    logger.info(`metrics and API on ${metricsUrl}/metrics${proxyUrl ? `; proxy on ${proxyUrl} → ${upstreams.map((u) => u.url).join(', ')}` : ''}`);
    let stopping: Promise<void> | undefined;
    return {
      config, metricsUrl, proxyUrl, discovery: measurement.discovery, tracker, clock,
      factors: () => factors.current(),
      summary,
      totals: () => ledger.totals(),
      stop: () => (stopping ??= stopServices(services, logger)),
    };
  } catch (err) {
    await stopServices(services, logger);
    throw err;
  }
}
