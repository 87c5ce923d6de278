import { ConfigError } from '../core/errors.js';
import { parseArgv, type ExtraFlag } from './argv.js';
import { loadConfig, type LoadedConfig } from './load.js';

/**
 * Flags → configuration for `run`, `sensors` and `demo`: the flag problems (unknown flags, missing
 * values), the command's own problems and the configuration's are reported together, so one run of
 * the command lists everything that is wrong (exit status 2).
 */
export function configFromArgv(
  argv: readonly string[],
  opts: {
    env: Readonly<Record<string, string | undefined>>;
    extra?: readonly ExtraFlag[];
    /** The command's defaults, under the user's flags (the demo picks the simulated sensor). */
    defaults?: Readonly<Record<string, string>>;
    /** Values the command imposes over the user's flags. */
    forced?: Readonly<Record<string, string>>;
    /** Checks the command's own flags and positionals; returns problems. */
    check?: (extra: Record<string, string | boolean>, positionals: string[]) => string[];
    allowPositionals?: boolean;
  },
): { loaded: LoadedConfig; extra: Record<string, string | boolean>; positionals: string[] } {
  const parsed = parseArgv(argv, opts.extra ?? []);
  const problems = [...parsed.problems];
  const extraNames = new Set((opts.extra ?? []).map((f) => f.flag));
  const extra: Record<string, string | boolean> = {};
  const flags: Record<string, string | boolean> = { ...opts.defaults };
  for (const [k, v] of Object.entries(parsed.flags)) {
    if (extraNames.has(k) || k === 'help') extra[k] = v;
    else if (k !== 'config') flags[k] = v;
  }
  Object.assign(flags, opts.forced);
  if (parsed.positionals.length && !opts.allowPositionals) problems.push(`unexpected argument(s): ${parsed.positionals.join(' ')}`);
  problems.push(...(opts.check?.(extra, parsed.positionals) ?? []));
  let loaded: LoadedConfig | undefined;
  let warnings: readonly string[];
  try {
    loaded = loadConfig({ flags, env: opts.env, ...(typeof parsed.flags.config === 'string' ? { configFile: parsed.flags.config } : {}) });
    warnings = loaded.warnings;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
    warnings = err.warnings;
  }
  if (problems.length || !loaded) throw new ConfigError(problems, warnings);
  return { loaded, extra, positionals: parsed.positionals };
}
