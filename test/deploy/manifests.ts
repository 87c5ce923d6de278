/**
 * Loading the deployment files (deploy/compose, deploy/kubernetes) for the consistency tests, and
 * checking a container's command line and environment against the CLI's own parser and config loader.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseArgv } from '../../src/config/argv.js';
import { CONFIG_FLAGS, envName } from '../../src/config/flags.js';
import { loadConfig, parseHostPort } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { REPO_ROOT } from './bundle-helpers.js';

export const K8S_DIR = join(REPO_ROOT, 'deploy', 'kubernetes');
export const COMPOSE_DIR = join(REPO_ROOT, 'deploy', 'compose');
export const PACKAGE_VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
/** The image every deployment file names: the tag the README's `docker build -t` gives. */
export const IMAGE = `inferwatt:${PACKAGE_VERSION}`;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Doc = Record<string, any>;

export interface LoadedDoc {
  readonly file: string;
  readonly doc: Doc;
}

export function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...yamlFiles(p));
    else if (/\.ya?ml$/.test(name)) out.push(p);
  }
  return out;
}

/** Every document of every YAML file under `dir`; a YAML error anywhere throws with the file named. */
export function loadYamlDocs(dir: string): LoadedDoc[] {
  const out: LoadedDoc[] = [];
  for (const file of yamlFiles(dir)) {
    for (const d of parseAllDocuments(readFileSync(file, 'utf8'))) {
      if (d.errors.length) throw new Error(`${relative(REPO_ROOT, file)}: ${d.errors.map((e) => e.message).join('; ')}`);
      const doc = d.toJS() as Doc | null;
      if (doc) out.push({ file: relative(REPO_ROOT, file), doc });
    }
  }
  return out;
}

/** The INFERWATT_* variables the CLI knows: one per config flag, plus INFERWATT_CONFIG. */
export const KNOWN_ENV = new Set([...CONFIG_FLAGS.map((f) => envName(f.flag)), 'INFERWATT_CONFIG']);

export interface AgentInvocation {
  readonly config: Readonly<Config>;
  readonly proxyPort: number;
  readonly metricsPort: number;
}

/**
 * Checks `args` (the container's arguments after the image's ENTRYPOINT) and `env` the way the agent
 * would: `run`, flags accepted by parseArgv, INFERWATT_* names the CLI knows, and a configuration that
 * loads (config/default.yaml → env → flags) without a problem. Returns the resulting configuration.
 */
export function checkAgentInvocation(args: readonly string[], env: Readonly<Record<string, string>>): AgentInvocation {
  if (args[0] !== 'run') throw new Error(`the agent's first argument is "${args[0]}", not "run"`);
  const parsed = parseArgv(args.slice(1));
  if (parsed.problems.length) throw new Error(`flags rejected by the CLI: ${parsed.problems.join('; ')}`);
  if (parsed.positionals.length) throw new Error(`stray arguments: ${parsed.positionals.join(' ')}`);
  const unknown = Object.keys(env).filter((k) => k.startsWith('INFERWATT_') && !KNOWN_ENV.has(k));
  if (unknown.length) throw new Error(`environment variables the CLI does not read: ${unknown.join(', ')}`);
  const { config } = loadConfig({ flags: parsed.flags, env });
  return { config, proxyPort: parseHostPort(config.proxy.listen).port, metricsPort: parseHostPort(config.metrics.listen).port };
}

/** Compose's `${VAR:-default}` / `${VAR}` interpolation, with nothing set in the environment. */
export function composeDefaults(s: string): string {
  return s.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g, (_all, _name: string, dflt: string | undefined) => dflt ?? '');
}

/** Kubernetes `env:` list → record (value only; valueFrom is not used by these manifests). */
export function k8sEnv(container: Doc): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of (container.env ?? []) as { name: string; value?: string }[]) {
    if (e.value === undefined) throw new Error(`env ${e.name}: only literal values are expected`);
    out[e.name] = String(e.value);
  }
  return out;
}
