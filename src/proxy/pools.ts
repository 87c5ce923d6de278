/**
 * The proxy's upstreams as the configuration names them, and each one's pool: the devices whose energy
 * goes to its requests (docs/attribution.md). Two kinds of rule, kept apart because they need different inputs:
 *
 * - `checkUpstreams`: what the configuration alone decides (names, path prefixes, pools that overlap), run
 *   with every other configuration check before anything starts;
 * - `resolvePools`: what needs the devices found on this host (a device named in a pool must exist).
 *
 * Pools must be disjoint: a device in two pools would have its energy attributed twice.
 */
import { normalizePrefix } from './upstreams.js';

export interface UpstreamEntry {
  readonly name: string;
  readonly url: string;
  readonly pathPrefix?: string | undefined;
  /** Device ids of the pool; empty = every device of the host. */
  readonly devices: readonly string[];
}

/** `proxy.upstreams` when it is not empty, else the one `proxy.upstream` (named `default`, every device). */
export function effectiveUpstreams(proxy: { upstream: string; upstreams: readonly UpstreamEntry[] }): UpstreamEntry[] {
  return proxy.upstreams.length ? [...proxy.upstreams] : [{ name: 'default', url: proxy.upstream, devices: [] }];
}

/** Every problem of the upstream list that the configuration alone shows; empty when fine. */
export function checkUpstreams(list: readonly UpstreamEntry[]): string[] {
  const problems: string[] = [];
  const names = new Set<string>();
  for (const u of list) {
    if (names.has(u.name)) problems.push(`proxy.upstreams: the name "${u.name}" is used by two upstreams; names label the pools and must be unique`);
    names.add(u.name);
  }
  if (list.length < 2) return problems;

  // The router takes the longest matching prefix, and the first upstream without one as the default:
  // a second upstream with the same prefix, or a second without one, would never receive a request.
  const byPrefix = new Map<string, string>();
  for (const u of list) {
    const prefix = normalizePrefix(u.pathPrefix);
    const first = byPrefix.get(prefix);
    if (first === undefined) { byPrefix.set(prefix, u.name); continue; }
    problems.push(prefix === ''
      ? `proxy.upstreams: "${first}" and "${u.name}" both have no pathPrefix; with several upstreams only one may be the default (the second would never receive a request)`
      : `proxy.upstreams: pathPrefix "${prefix}" is used by both "${first}" and "${u.name}"; each upstream needs its own (the second would never receive a request)`);
  }

  // Overlapping pools. An empty list is every device, so beside another upstream it always overlaps.
  const owner = new Map<string, string>();
  const everything = list.filter((u) => u.devices.length === 0);
  for (const u of everything) {
    const others = list.filter((o) => o !== u).map((o) => `"${o.name}"`);
    problems.push(`proxy.upstreams: "${u.name}" lists no devices, so its pool is every device of the host and overlaps the pool of ${others.join(', ')}; give each upstream its own devices`);
  }
  for (const u of list) {
    for (const id of new Set(u.devices)) {
      const other = owner.get(id);
      if (other !== undefined) problems.push(`proxy.upstreams: device "${id}" is in the pools of both "${other}" and "${u.name}"; a device's energy can go to one pool only`);
      else owner.set(id, u.name);
    }
  }
  return problems;
}

/**
 * Each upstream's pool on this host (every device where its list is empty), and a problem for each device
 * named in a pool that this host does not have. Run after sensor discovery, on a configuration that
 * `checkUpstreams` accepted.
 */
export function resolvePools(list: readonly UpstreamEntry[], deviceIds: readonly string[]): { pools: Record<string, string[]>; problems: string[] } {
  const problems: string[] = [];
  const pools: Record<string, string[]> = {};
  const known = new Set(deviceIds);
  for (const u of list) {
    for (const id of u.devices) {
      if (!known.has(id)) problems.push(`proxy.upstreams[${u.name}].devices: no device "${id}" on this host (found: ${deviceIds.join(', ') || 'none'}; \`inferwatt sensors\` lists them)`);
    }
    pools[u.name] = u.devices.length ? [...u.devices] : [...deviceIds];
  }
  return { pools, problems };
}
