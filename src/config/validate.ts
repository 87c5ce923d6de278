import type { z } from 'zod';
import { recordsFileProblem } from '../exporter/record-store.js';
import { checkImpactsConfig } from '../impacts/check-config.js';
import { checkUpstreams, effectiveUpstreams, type UpstreamEntry } from '../proxy/pools.js';
import { CONFIG_FLAGS, envName } from './flags.js';
import { configSchema, upstreamSchema, type Config } from './schema.js';

/**
 * The one validation of a configuration (every problem at once, exit status 2; README "Configuration"): the
 * schema, then the rules of the modules that own them, each on the parts of the input that are well-formed
 * even where other parts are not, so that one run lists everything:
 *
 * - the schema (types, ranges, enums), with the flag and env variable of each key;
 * - the upstreams (src/proxy/pools.ts): unique names and path prefixes, pools that do not overlap;
 * - the impacts (src/impacts/check-config.ts): the region, provider and overrides against the factor
 *   tables, and the live provider against the region;
 * - the records file (src/exporter/record-store.ts): a path that could be opened for appending (checked
 *   without creating anything; the agent opens it, creating missing parents, before anything starts).
 *
 * What needs the host (a device named in a pool must exist) is checked where the devices are known, after
 * sensor discovery (resolvePools in src/proxy/pools.ts), all such problems together.
 */
export interface Validation {
  /** The parsed configuration; undefined when there is any problem. */
  readonly config: Config | undefined;
  readonly problems: readonly string[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const at = (v: unknown, ...path: string[]): unknown => path.reduce<unknown>((o, k) => (isObj(o) ? o[k] : undefined), v);

/** The value if it passes `schema`, else undefined (its problem comes from the whole schema's pass). */
function wellFormed<S extends z.ZodType>(schema: S, v: unknown): z.infer<S> | undefined {
  const r = schema.safeParse(v);
  return r.success ? r.data : undefined;
}

export function validateConfig(raw: unknown): Validation {
  const problems: string[] = [];
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = issue.path.join('.');
      const flag = CONFIG_FLAGS.find((f) => f.path.join('.') === key);
      problems.push(`${key}${flag ? ` (--${flag.flag}, ${envName(flag.flag)})` : ''}: ${issue.message}`);
    }
  }

  const shape = configSchema.shape;
  const rawUpstreams = at(raw, 'proxy', 'upstreams');
  const upstreams: UpstreamEntry[] = Array.isArray(rawUpstreams)
    ? rawUpstreams.map((u) => wellFormed(upstreamSchema, u)).filter((u): u is NonNullable<typeof u> => u !== undefined)
    : [];
  const upstream = wellFormed(shape.proxy.shape.upstream, at(raw, 'proxy', 'upstream')) ?? '';
  problems.push(...checkUpstreams(effectiveUpstreams({ upstream, upstreams })));

  const impacts = shape.impacts.shape;
  const overrides = wellFormed(impacts.overrides, at(raw, 'impacts', 'overrides'));
  const live = wellFormed(impacts.live, at(raw, 'impacts', 'live'));
  problems.push(...checkImpactsConfig({
    region: wellFormed(impacts.region, at(raw, 'impacts', 'region')),
    provider: wellFormed(impacts.provider, at(raw, 'impacts', 'provider')),
    ...(overrides ? { overrides: Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== null)) } : {}),
    ...(live ? { live: { provider: live.provider, zone: live.zone } } : {}),
  }));

  const records = wellFormed(shape.records.shape.file, at(raw, 'records', 'file'));
  if (records) {
    const p = recordsFileProblem(records);
    if (p) problems.push(p);
  }

  return { config: problems.length === 0 && parsed.success ? parsed.data : undefined, problems };
}
