import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { ConfigError, errorMessage } from '../core/errors.js';
import { CONFIG_FLAGS, coerceFlagValue, envName } from './flags.js';
import { DEFAULTS, type Config } from './schema.js';
import { validateConfig } from './validate.js';

/** The package root, found from this file whether it runs from src/ (tests) or dist/ (built). */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_CONFIG_FILE = join(PACKAGE_ROOT, 'config', 'default.yaml');

export interface LoadConfigInput {
  /** Parsed flag values by flag name (without `--`); strings, or true for a bare boolean flag. */
  flags?: Readonly<Record<string, string | boolean | undefined>>;
  /** The environment to read INFERWATT_* from; pass process.env explicitly (never read at import). */
  env?: Readonly<Record<string, string | undefined>>;
  /** `--config FILE`; INFERWATT_CONFIG is read from env when absent. */
  configFile?: string;
  /** Overrides the path of config/default.yaml (tests). */
  defaultFile?: string | null;
}

export interface LoadedConfig {
  readonly config: Readonly<Config>;
  readonly warnings: readonly string[];
  readonly sources: readonly string[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function merge(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = isObj(v) && isObj(base[k]) ? merge(base[k], v) : v;
  }
  return out;
}

function setPath(target: Obj, path: readonly string[], value: unknown): void {
  let cur = target;
  for (const key of path.slice(0, -1)) {
    if (!isObj(cur[key])) cur[key] = {};
    cur = cur[key] as Obj;
  }
  cur[path[path.length - 1]!] = value;
}

/** Keys present in `value` but not in the defaults' shape: warned about, not fatal (a typo should be seen). */
function unknownKeys(value: unknown, shape: unknown, prefix: string, out: string[]): void {
  if (!isObj(value) || !isObj(shape)) return;
  for (const k of Object.keys(value)) {
    const p = prefix ? `${prefix}.${k}` : k;
    if (!(k in shape)) out.push(p);
    else unknownKeys(value[k], shape[k], p, out);
  }
}

/**
 * `, line 3, column 1: <what>` and the lines the yaml library quotes, with its caret, indented under the
 * problem. (Its message reads `<what> at line 3, column 1:` followed by that excerpt.)
 */
function yamlProblem(e: { message: string; linePos?: readonly { line: number; col: number }[] | undefined }): string {
  const [first = '', ...rest] = e.message.split('\n');
  const what = first.replace(/ at line \d+, column \d+:?$/, '');
  const pos = e.linePos?.[0];
  const excerpt = rest.filter((l) => l.trim() !== '').map((l) => `    ${l}`);
  return `${pos ? `, line ${pos.line}, column ${pos.col}` : ''}: ${what}${excerpt.length ? `\n${excerpt.join('\n')}` : ''}`;
}

function readYaml(file: string, problems: string[]): Obj {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    problems.push(`config file ${file}: ${errorMessage(err)}`);
    return {};
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length) {
    for (const e of doc.errors) problems.push(`config file ${file}${yamlProblem(e)}`);
    return {};
  }
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) return {};
  if (!isObj(value)) {
    problems.push(`config file ${file}: the top level must be a mapping of keys`);
    return {};
  }
  return value;
}

/**
 * Layers: built-in defaults → config/default.yaml → --config FILE → INFERWATT_* env → flags.
 * Every problem from every layer is collected and thrown at once as a ConfigError (exit status 2).
 */
export function loadConfig(input: LoadConfigInput = {}): LoadedConfig {
  const problems: string[] = [];
  const warnings: string[] = [];
  const sources: string[] = ['defaults'];
  let merged: Obj = structuredClone(DEFAULTS);

  const layerFile = (file: string, label: string) => {
    const value = readYaml(file, problems);
    const unknown: string[] = [];
    unknownKeys(value, DEFAULTS, '', unknown);
    for (const k of unknown) warnings.push(`${label}: unknown key "${k}" ignored`);
    merged = merge(merged, value);
    sources.push(file);
  };

  const defaultFile = input.defaultFile === undefined ? DEFAULT_CONFIG_FILE : input.defaultFile;
  if (defaultFile) layerFile(defaultFile, defaultFile);

  const env = input.env ?? {};
  const configFile = input.configFile ?? env.INFERWATT_CONFIG;
  if (configFile) layerFile(resolve(configFile), configFile);

  for (const spec of CONFIG_FLAGS) {
    const raw = env[envName(spec.flag)];
    if (raw === undefined) continue;
    const r = coerceFlagValue(spec, raw);
    if ('problem' in r) problems.push(`${envName(spec.flag)}: ${r.problem.replace(/^--\S+: /, '')}`);
    else setPath(merged, spec.path, r.value);
  }
  if (Object.keys(env).some((k) => k.startsWith('INFERWATT_'))) sources.push('env');

  const flags = input.flags ?? {};
  for (const spec of CONFIG_FLAGS) {
    const raw = flags[spec.flag];
    if (raw === undefined) continue;
    const r = coerceFlagValue(spec, raw);
    if ('problem' in r) problems.push(r.problem);
    else setPath(merged, spec.path, r.value);
  }

  const validation = validateConfig(merged);
  problems.push(...validation.problems);
  // The warnings travel with the error: an unknown key is often the typo behind a problem.
  if (problems.length || !validation.config) throw new ConfigError(problems, warnings);
  return { config: deepFreeze(validation.config), warnings, sources };
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object') {
    for (const x of Object.values(v as object)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

/** Splits HOST:PORT (IPv6 in brackets). */
export function parseHostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  const host = s.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(s.slice(i + 1)) };
}
