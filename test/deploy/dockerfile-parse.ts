/**
 * Just enough of the Dockerfile grammar for the structural checks in dockerfile.test.ts (no Docker
 * daemon or linter here: hadolint is not packaged by Debian, and the project installs nothing from
 * other sources). Rules from https://docs.docker.com/reference/dockerfile/: `#` lines are comments
 * (a `# syntax=` directive is one too), a trailing `\` continues the instruction on the next line,
 * comment lines inside a continuation are dropped, JSON arrays are the exec form.
 */
export interface Instruction {
  readonly keyword: string;
  /** The arguments as written, continuations joined with a space. */
  readonly args: string;
  /** The exec form's array, when the arguments are one (CMD, ENTRYPOINT, HEALTHCHECK … CMD). */
  readonly exec?: string[];
  /** Index of the build stage (0 = first FROM); -1 before any FROM (global ARGs). */
  readonly stage: number;
  readonly line: number;
}

export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  let stage = -1;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (/^\s*(#|$)/.test(raw)) continue;
    const start = i;
    let joined = raw;
    while (/\\\s*$/.test(joined)) {
      joined = joined.replace(/\\\s*$/, ' ');
      i++;
      while (i < lines.length && /^\s*#/.test(lines[i]!)) i++;
      if (i >= lines.length) break;
      joined += lines[i]!;
    }
    const m = /^\s*([A-Za-z]+)\s+([\s\S]*)$/.exec(joined);
    if (!m) throw new Error(`Dockerfile line ${start + 1}: cannot parse "${raw}"`);
    const keyword = m[1]!.toUpperCase();
    const args = m[2]!.replace(/\s+/g, ' ').trim();
    if (keyword === 'FROM') stage++;
    out.push({ keyword, args, exec: execForm(keyword === 'HEALTHCHECK' ? args.replace(/^(--\S+\s+)*CMD\s+/, '') : args), stage, line: start + 1 });
  }
  return out;
}

function execForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  try {
    const v: unknown = JSON.parse(args);
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v) : undefined;
  } catch {
    return undefined;
  }
}

/** `--name=value` options at the front of an instruction's arguments (COPY --from, HEALTHCHECK --interval). */
export function instructionOptions(args: string): Record<string, string> {
  const opts: Record<string, string> = {};
  for (const m of args.matchAll(/(?:^|\s)--([a-z-]+)=(\S+)/g)) opts[m[1]!] = m[2]!;
  return opts;
}

/** Default values of ARGs declared before the first FROM, for resolving `FROM ${NODE_IMAGE}`. */
export function globalArgs(instructions: readonly Instruction[]): Record<string, string> {
  const args: Record<string, string> = {};
  for (const ins of instructions) {
    if (ins.stage >= 0) break;
    if (ins.keyword !== 'ARG') continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(ins.args);
    if (m && m[2] !== undefined) args[m[1]!] = m[2]!;
  }
  return args;
}

export function substituteArgs(s: string, args: Readonly<Record<string, string>>): string {
  return s.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (all, name: string) => args[name] ?? all);
}

/**
 * Whether a context path survives .dockerignore, for the simple patterns this repository uses: `*`,
 * `name`, `dir/`, `dir/file`, each optionally negated with `!`; the last matching line wins, and a
 * pattern that names a directory covers everything under it (Docker's rule).
 */
export function dockerIgnoreIncludes(dockerignore: string, path: string): boolean {
  let included = true;
  for (const raw of dockerignore.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const negated = line.startsWith('!');
    const pattern = (negated ? line.slice(1) : line).replace(/\/+$/, '');
    const matches = pattern === '*' || path === pattern || path.startsWith(`${pattern}/`);
    if (matches) included = negated;
  }
  return included;
}
