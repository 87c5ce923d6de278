import { z } from 'zod';
import { DEFAULT_LEARN_OPTIONS } from '../attribution/learn/pool-learner.js';
import { SPLIT_POLICY_NAMES } from '../attribution/split/policy.js';
import { DEFAULT_AMORTIZE_WINDOW_MS, DEFAULT_LAG_BOUND_MS, DEFAULT_MAX_HOLD_MS, DEFAULT_PROMPT_TOKEN_WEIGHT } from '../attribution/defaults.js';
import type { SensorName } from '../sensors/types.js';

/**
 * The one configuration schema: it is the type. Every key is documented in
 * config/default.yaml, which mirrors it; test/config/default-yaml.test.ts keeps the two in step.
 */
/** HOST:PORT (IPv6 in brackets); one problem per bad value, with this key's own default as the example. */
const hostPort = (example: string) => z.string().superRefine((s, ctx) => {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(s);
  if (!m) ctx.addIssue({ code: 'custom', message: `"${s}" must be HOST:PORT, e.g. ${example}` });
  else if (Number(m[2]) > 65535) ctx.addIssue({ code: 'custom', message: `port ${Number(m[2])} is beyond 65535` });
});
const httpUrl = z.string().superRefine((s, ctx) => {
  let ok = false;
  try { ok = /^https?:$/.test(new URL(s).protocol); } catch { /* not a URL */ }
  if (!ok) ctx.addIssue({ code: 'custom', message: `"${s}" must be an http:// or https:// URL, e.g. http://127.0.0.1:8000` });
});
const positiveMs = z.number().int().positive();
const sensorName = z.enum(['nvml', 'nvidia-smi', 'rapl', 'estimate', 'simulated'] satisfies readonly SensorName[]);
const SENSOR_NAMES: readonly string[] = sensorName.options;
/** zod's own message for a failed union is "Invalid input": name the bad entries and the valid ones. */
function sensorsProblem(input: unknown): string {
  const valid = `use auto, or a list of ${SENSOR_NAMES.join(', ')}`;
  const bad = Array.isArray(input) ? input.filter((x) => !SENSOR_NAMES.includes(x as string)) : [input];
  return `${bad.map((x) => JSON.stringify(x)).join(', ')} ${bad.length === 1 ? 'is not a sensor' : 'are not sensors'}; ${valid}`;
}

export const upstreamSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'upstream name: letters, digits, _ . - (1-64)'),
  url: httpUrl,
  /** Requests whose path starts with this prefix go to this upstream (longest prefix wins). */
  pathPrefix: z.string().startsWith('/').optional(),
  /** Device ids of this upstream's pool (gpu0, gpu1, package-0, …); empty = every device of the host. */
  devices: z.array(z.string()).default([]),
});

/** A day (2025-01-01) or an RFC 3339 instant; a day means its 00:00 UTC. */
const isoInstant = z.string().refine((s) => /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/.test(s) && Number.isFinite(Date.parse(s)),
  'must be a date (2025-01-01) or an RFC 3339 time with its offset (2025-01-01T00:00:00Z)');

/**
 * A contractual emission factor (GHG Protocol Scope 2, market-based method): what a supplier states for
 * the electricity it sold (`supplier-specific`), or the residual mix of the region where no contract
 * covers it. In force for energy used in [from, to) in that region (the agents' region id); `to: null`
 * = open-ended. Only `inferwatt report` uses these (location-based figures never do).
 */
export const marketFactorSchema = z.object({
  region: z.string().min(1),
  from: isoInstant,
  to: isoInstant.nullable(),
  gCo2ePerKWh: z.number().nonnegative().max(2000),
  kind: z.enum(['supplier-specific', 'residual-mix']),
  source: z.string().min(1),
  year: z.number().int().min(1990).max(2100),
});

export const configSchema = z.object({
  log: z.object({
    level: z.enum(['debug', 'info', 'warn', 'error', 'silent']),
    format: z.enum(['text', 'json']),
  }),
  proxy: z.object({
    enabled: z.boolean(),
    listen: hostPort('127.0.0.1:8790'),
    upstream: httpUrl,
    upstreams: z.array(upstreamSchema),
    maxParseBodyBytes: z.number().int().nonnegative(),
    tenantHeader: z.string().min(1).toLowerCase(),
    upstreamTimeoutMs: positiveMs,
    upstreamIdleTimeoutMs: z.number().int().nonnegative(),
    shutdownGraceMs: z.number().int().nonnegative().max(3_600_000),
    upstreamProbeIntervalMs: z.number().int().nonnegative(),
    headersTimeoutMs: positiveMs,
    requestTimeoutMs: z.number().int().nonnegative(),
    maxConnections: z.number().int().nonnegative(),
  }).refine((p) => p.requestTimeoutMs === 0 || p.headersTimeoutMs <= p.requestTimeoutMs, {
    message: 'headersTimeoutMs must not exceed requestTimeoutMs (the headers are part of the request)', path: ['headersTimeoutMs'],
  }),
  metrics: z.object({
    listen: hostPort('127.0.0.1:9477'),
    maxModels: z.number().int().min(1).max(1000),
    modelAllowList: z.array(z.string()),
    maxTenants: z.number().int().min(1).max(1000),
    tenantAllowList: z.array(z.string()),
  }),
  sensors: z.object({
    enabled: z.union([z.literal('auto'), z.array(sensorName).min(1)], { error: (iss) => sensorsProblem(iss.input) }),
    gpuIntervalMs: z.number().int().min(10).max(60_000),
    cpuIntervalMs: z.number().int().min(10).max(60_000),
    nvidiaSmi: z.string().min(1),
    nvmlLib: z.string().nullable(),
    gpuCrossCheck: z.boolean(),
    powercapRoot: z.string().min(1),
    estimateGpuWithoutPower: z.boolean(),
    cpuTdpW: z.number().positive().max(2000).nullable(),
    simulatedGpus: z.number().int().min(0).max(64),
  }),
  attribution: z.object({
    policy: z.enum(SPLIT_POLICY_NAMES),
    idle: z.enum(['unattributed', 'amortize']),
    promptTokenWeight: z.number().nonnegative().max(10),
    lagBoundMs: positiveMs,
    amortizeWindowMs: positiveMs,
    maxHoldMs: positiveMs,
    /** `learned`: costs to use for a model until its live fit is ready (as `inferwatt calibrate --out` writes them). */
    tokenCosts: z.array(z.object({
      model: z.string().min(1),
      pool: z.string().min(1).optional(),
      promptJ: z.number().nonnegative(),
      completionJ: z.number().positive(),
      cachedJ: z.number().nonnegative().optional(),
    }).strict()),
    learn: z.object({
      bucketMs: z.number().int().min(100).max(60_000),
      memoryS: z.number().min(10).max(86_400),
      minSamples: z.number().min(1),
      maxUncertainty: z.number().positive().max(10),
      queuedPrefill: z.boolean(),
      stateFile: z.string().min(1).nullable(),
    }),
  }),
  records: z.object({
    file: z.string().min(1).nullable(),
    keep: z.number().int().min(1).max(1_000_000),
  }),
  impacts: z.object({
    region: z.string().min(1).nullable(),
    provider: z.enum(['self-hosted', 'aws', 'gcp', 'azure']).nullable(),
    overrides: z.object({
      gridGCo2ePerKWh: z.number().nonnegative().max(2000).nullable(),
      pue: z.number().min(1).max(3).nullable(),
      wue: z.number().nonnegative().max(20).nullable(),
      ewif: z.number().nonnegative().max(100).nullable(),
    }),
    live: z.object({
      provider: z.enum(['none', 'electricitymaps', 'gb-carbon-intensity']),
      zone: z.string().nullable(),
      token: z.string().nullable(),
      baseUrl: httpUrl.nullable(),
      refreshMs: z.number().int().min(60_000),
      timeoutMs: z.number().int().min(100).max(60_000),
    }),
    market: z.array(marketFactorSchema).superRefine((rows, ctx) => {
      rows.forEach((r, i) => {
        if (r.to !== null && !(Date.parse(r.to) > Date.parse(r.from))) ctx.addIssue({ code: 'custom', path: [i, 'to'], message: `must be after from (${r.from})` });
        rows.forEach((o, j) => {
          if (j <= i || o.kind !== r.kind || o.region.toLowerCase() !== r.region.toLowerCase()) return;
          const end = (x: string | null) => (x === null ? Infinity : Date.parse(x));
          if (Date.parse(r.from) < end(o.to) && Date.parse(o.from) < end(r.to)) {
            ctx.addIssue({ code: 'custom', path: [j], message: `overlaps entry ${i}: two ${r.kind} factors for ${r.region} at the same time` });
          }
        });
      });
    }),
    embodied: z.object({
      hostKgCo2e: z.number().positive().max(1_000_000).nullable(),
      lifetimeYears: z.number().positive().max(50).nullable(),
      source: z.string().min(1).nullable(),
      year: z.number().int().min(1990).max(2100).nullable(),
    }).superRefine((e, ctx) => {
      if ((e.hostKgCo2e === null) !== (e.lifetimeYears === null)) ctx.addIssue({ code: 'custom', path: [e.hostKgCo2e === null ? 'hostKgCo2e' : 'lifetimeYears'], message: 'hostKgCo2e and lifetimeYears go together' });
      if (e.hostKgCo2e !== null && e.source === null) ctx.addIssue({ code: 'custom', path: ['source'], message: 'say where the embodied figure comes from' });
    }),
  }),
});

export type Config = z.infer<typeof configSchema>;

/** Built-in defaults; config/default.yaml restates them with documentation. */
export const DEFAULTS: Config = {
  log: { level: 'info', format: 'text' },
  proxy: {
    enabled: true,
    listen: '127.0.0.1:8790',
    upstream: 'http://127.0.0.1:8000',
    upstreams: [],
    maxParseBodyBytes: 1024 * 1024,
    tenantHeader: 'x-inferwatt-tenant',
    upstreamTimeoutMs: 600_000,
    upstreamIdleTimeoutMs: 300_000,
    shutdownGraceMs: 10_000,
    upstreamProbeIntervalMs: 5_000,
    headersTimeoutMs: 60_000,
    requestTimeoutMs: 300_000,
    maxConnections: 4096,
  },
  metrics: { listen: '127.0.0.1:9477', maxModels: 50, modelAllowList: [], maxTenants: 20, tenantAllowList: [] },
  sensors: {
    enabled: 'auto',
    gpuIntervalMs: 100,
    cpuIntervalMs: 250,
    nvidiaSmi: 'nvidia-smi',
    nvmlLib: null,
    gpuCrossCheck: false,
    powercapRoot: '/sys/class/powercap',
    estimateGpuWithoutPower: true,
    cpuTdpW: null,
    simulatedGpus: 1,
  },
  attribution: { policy: 'time', idle: 'unattributed', promptTokenWeight: DEFAULT_PROMPT_TOKEN_WEIGHT, lagBoundMs: DEFAULT_LAG_BOUND_MS, amortizeWindowMs: DEFAULT_AMORTIZE_WINDOW_MS, maxHoldMs: DEFAULT_MAX_HOLD_MS,
    tokenCosts: [],
    learn: { bucketMs: DEFAULT_LEARN_OPTIONS.bucketMs, memoryS: DEFAULT_LEARN_OPTIONS.memoryS, minSamples: DEFAULT_LEARN_OPTIONS.minSamples, maxUncertainty: DEFAULT_LEARN_OPTIONS.maxUncertainty, queuedPrefill: DEFAULT_LEARN_OPTIONS.queuedPrefill, stateFile: null },
  },
  records: { file: null, keep: 10_000 },
  impacts: {
    region: null,
    provider: null,
    overrides: { gridGCo2ePerKWh: null, pue: null, wue: null, ewif: null },
    live: { provider: 'none', zone: null, token: null, baseUrl: null, refreshMs: 300_000, timeoutMs: 5000 },
    market: [],
    embodied: { hostKgCo2e: null, lifetimeYears: null, source: null, year: null },
  },
};
