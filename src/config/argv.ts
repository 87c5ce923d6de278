import { CONFIG_FLAGS } from './flags.js';

export interface ExtraFlag {
  readonly flag: string;
  readonly type: 'string' | 'bool';
  readonly help: string;
}

export interface ParsedArgv {
  flags: Record<string, string | boolean>;
  positionals: string[];
  problems: string[];
}

/**
 * Parses `--name value`, `--name=value`, bare `--bool-flag` and `--no-bool-flag` against the config
 * flag table (and `--config`) plus a command's extra flags, or with `configFlags: false` against the extra
 * flags only (`project`). A value may start with one dash (`--users -5` is a value, reported by the range
 * check). Unknown flags are problems (listed with the others).
 */
export function parseArgv(argv: readonly string[], extra: readonly ExtraFlag[] = [], opts: { configFlags?: boolean } = {}): ParsedArgv {
  const specs = new Map<string, { type: string }>();
  if (opts.configFlags !== false) {
    for (const f of CONFIG_FLAGS) specs.set(f.flag, { type: f.type });
    specs.set('config', { type: 'string' });
  }
  for (const f of extra) specs.set(f.flag, { type: f.type });
  specs.set('help', { type: 'bool' });

  const flags: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  const problems: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') { positionals.push(...argv.slice(i + 1)); break; }
    if (!a.startsWith('--')) {
      if (a === '-h') { flags.help = true; continue; }
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    let name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    let value: string | boolean | undefined = eq >= 0 ? a.slice(eq + 1) : undefined;
    let spec = specs.get(name);
    if (!spec && name.startsWith('no-') && specs.get(name.slice(3))?.type === 'bool' && value === undefined) {
      name = name.slice(3);
      spec = specs.get(name);
      value = false;
    }
    if (!spec) { problems.push(`unknown flag --${name}`); continue; }
    if (value === undefined) {
      if (spec.type === 'bool') value = true;
      else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) value = argv[++i]!;
      else { problems.push(`--${name} needs a value`); continue; }
    }
    flags[name] = value;
  }
  return { flags, positionals, problems };
}
