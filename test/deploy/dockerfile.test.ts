import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseArgv } from '../../src/config/argv.js';
import { loadConfig, parseHostPort } from '../../src/config/load.js';
import { DEFAULTS } from '../../src/config/schema.js';
import { cleanEnv, REPO_ROOT, startBundledAgent, type RunningAgent } from './bundle-helpers.js';
import { dockerIgnoreIncludes, globalArgs, instructionOptions, parseDockerfile, substituteArgs, type Instruction } from './dockerfile-parse.js';

/**
 * Structural checks of the Dockerfile in place of a linter (hadolint is not in Debian and there is no
 * Docker daemon here to build with): pinned base, multi-stage, non-root, HEALTHCHECK on /healthz,
 * EXPOSE matching the CLI's ports, CMD flags that the CLI accepts, NVIDIA toolkit variables. The build
 * stage's COPY list is replayed from a context filtered by .dockerignore to prove it is enough to build
 * the bundle, and the image's ENTRYPOINT + CMD and HEALTHCHECK are run against that bundle.
 */
const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
const dockerignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8');
const ins = parseDockerfile(dockerfile);
const stages = ins.filter((i) => i.keyword === 'FROM');
const finalStage = stages.length - 1;
const inFinal = (k: string) => ins.filter((i) => i.stage === finalStage && i.keyword === k);
const one = (k: string): Instruction => {
  const all = inFinal(k);
  expect(all, `exactly one ${k} in the final stage`).toHaveLength(1);
  return all[0]!;
};
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
const portOf = (hostPort: string) => parseHostPort(hostPort).port;

describe('Dockerfile structure', () => {
  it('parses, is multi-stage, and every base is an exact Node 20 release on Debian 12 slim (or a digest)', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const args = globalArgs(ins);
    for (const from of stages) {
      const image = substituteArgs(from.args.split(' ')[0]!, args);
      expect(image, `line ${from.line}`).toMatch(/^node:20\.\d+\.\d+-bookworm-slim(@sha256:[0-9a-f]{64})?$/);
    }
    expect(dockerfile).not.toMatch(/:latest\b/);
    // The parser itself: a continuation with a comment inside is one instruction.
    expect(parseDockerfile('FROM x AS a\nENV A=1 \\\n  # note\n  B=2\n')[1]).toMatchObject({ keyword: 'ENV', args: 'A=1 B=2', stage: 0 });
  });

  it('the final stage runs as a numeric non-root user, takes only the bundle from the build stage and installs nothing', () => {
    const user = one('USER').args;
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(Number(user.split(':')[0])).toBeGreaterThan(0);
    const copies = inFinal('COPY');
    expect(copies.length).toBeGreaterThan(0);
    for (const c of copies) {
      expect(instructionOptions(c.args).from, c.args).toBe('build');
      // Root-owned: the agent's user cannot modify its own code.
      expect(instructionOptions(c.args).chown).toBe('0:0');
    }
    const runs = inFinal('RUN').map((r) => r.args).join('\n');
    expect(runs).not.toMatch(/\bnpm (ci|install)\b|apt-get install/);
    expect(ins.some((i) => i.keyword === 'ADD')).toBe(false);
    // The build stage installs from the lock file only.
    expect(ins.filter((i) => i.stage < finalStage && i.keyword === 'RUN').map((r) => r.args).join('\n')).toMatch(/\bnpm ci\b/);
    expect(dockerfile).not.toMatch(/\bnpm install\b/);
  });

  it('EXPOSE, CMD listen flags and the config defaults name the same two ports, and CMD parses with the CLI', () => {
    const exposed = one('EXPOSE').args.split(' ').map(Number).sort();
    const cmd = one('CMD').exec!;
    expect(cmd[0]).toBe('run');
    const parsed = parseArgv(cmd.slice(1));
    expect(parsed.problems).toEqual([]);
    expect(parsed.positionals).toEqual([]);
    const { config } = loadConfig({ flags: parsed.flags, env: {} });
    // 0.0.0.0 comes only from these explicit flags; the defaults stay on loopback.
    expect(parseHostPort(config.proxy.listen).host).toBe('0.0.0.0');
    expect(parseHostPort(config.metrics.listen).host).toBe('0.0.0.0');
    expect(parseHostPort(DEFAULTS.proxy.listen).host).toBe('127.0.0.1');
    expect(portOf(config.proxy.listen)).toBe(portOf(DEFAULTS.proxy.listen));
    expect(portOf(config.metrics.listen)).toBe(portOf(DEFAULTS.metrics.listen));
    expect(exposed).toEqual([portOf(DEFAULTS.proxy.listen), portOf(DEFAULTS.metrics.listen)].sort());
    expect(one('ENTRYPOINT').exec).toEqual(['node', '/app/inferwatt.mjs']);
  });

  it('HEALTHCHECK probes /healthz on the metrics port of CMD with Node (the slim base has no curl)', () => {
    const hc = one('HEALTHCHECK');
    expect(hc.exec?.[0]).toBe('node');
    const script = hc.exec!.join(' ');
    const cmdMetrics = parseArgv(one('CMD').exec!.slice(1)).flags['metrics-listen'] as string;
    expect(script).toContain(`http://127.0.0.1:${portOf(cmdMetrics)}/healthz`);
    const opts = instructionOptions(hc.args);
    for (const k of ['interval', 'timeout', 'start-period', 'retries']) expect(opts[k], k).toBeDefined();
  });

  it('sets the NVIDIA container toolkit variables (all GPUs, management capability only) and labels the version', () => {
    const env = inFinal('ENV').map((e) => e.args).join(' ');
    expect(env).toMatch(/\bNVIDIA_VISIBLE_DEVICES=all\b/);
    expect(env).toMatch(/\bNVIDIA_DRIVER_CAPABILITIES=utility(\s|$)/);
    expect(inFinal('LABEL').map((l) => l.args).join(' ')).toContain(`org.opencontainers.image.version="${pkg.version}"`);
    expect(one('STOPSIGNAL').args).toBe('SIGTERM');
  });

  it('.dockerignore keeps the repository\'s state out of the build context', () => {
    for (const p of ['.git/config', 'node_modules/express/package.json', 'dist/cli.js', '.tmp/vitest-report.json', 'test/deploy/bundle.test.ts', 'records.jsonl', 'config/prometheus/prometheus.yml']) {
      expect(dockerIgnoreIncludes(dockerignore, p), p).toBe(false);
    }
    for (const p of ['package.json', 'package-lock.json', 'src/cli.ts', 'config/default.yaml', 'config/factors/world.csv', 'scripts/build-bundle.mjs']) {
      expect(dockerIgnoreIncludes(dockerignore, p), p).toBe(true);
    }
  });
});

/** Files of `dir` (relative to the repository), recursively. */
function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(REPO_ROOT, dir), { withFileTypes: true })) {
    const rel = dir ? `${dir}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...walk(rel));
    else out.push(rel);
  }
  return out;
}

describe('Dockerfile build stage, replayed without a daemon', () => {
  let agent: RunningAgent | undefined;
  const temps: string[] = [];
  const tempDir = (prefix: string) => { const d = mkdtempSync(join(tmpdir(), prefix)); temps.push(d); return d; };
  afterAll(() => {
    agent?.child.kill('SIGKILL');
    // rm does not follow the node_modules link into the repository.
    for (const d of temps) rmSync(d, { recursive: true, force: true });
  });

  it('the build stage\'s COPY list, from a context filtered by .dockerignore, builds a bundle that runs the image\'s ENTRYPOINT + CMD; its HEALTHCHECK passes, then fails once the agent is gone', async () => {
    // The context the daemon would receive: the repository filtered by .dockerignore.
    const ctx = tempDir('inferwatt-context-');
    // Only top-level entries that a line of .dockerignore can let in are walked (not .git, .tmp, …).
    const mayInclude = (n: string) => dockerIgnoreIncludes(dockerignore, n) || dockerignore.split('\n').some((l) => l.trim().startsWith(`!${n}/`));
    const top = readdirSync(REPO_ROOT).filter(mayInclude);
    for (const name of top) {
      const files = statSync(join(REPO_ROOT, name)).isDirectory() ? walk(name) : [name];
      for (const f of files.filter((x) => dockerIgnoreIncludes(dockerignore, x))) {
        mkdirSync(join(ctx, f, '..'), { recursive: true });
        cpSync(join(REPO_ROOT, f), join(ctx, f));
      }
    }
    // The build stage: its COPY instructions into WORKDIR, `npm ci` stood in for by the installed
    // node_modules (the lock file is the same), then its RUN that builds the bundle.
    const build = ins.filter((i) => i.stage === 0);
    const work = tempDir('inferwatt-build-');
    for (const c of build.filter((i) => i.keyword === 'COPY')) {
      const parts = c.args.split(' ').filter((p) => !p.startsWith('--'));
      const dest = parts.pop()!;
      for (const src of parts) {
        expect(existsSync(join(ctx, src)), `COPY ${src}: not in the build context (.dockerignore?)`).toBe(true);
        const target = dest.endsWith('/') && !src.endsWith('/') ? join(work, dest, src.split('/').pop()!) : join(work, dest);
        cpSync(join(ctx, src), target, { recursive: true });
      }
    }
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(work, 'node_modules'));
    const runBundle = build.filter((i) => i.keyword === 'RUN').map((r) => r.args).find((a) => a.includes('build-bundle.mjs'));
    expect(runBundle).toBeDefined();
    const m = /^node (scripts\/build-bundle\.mjs) --out (\S+)$/.exec(runBundle!);
    expect(m, runBundle).not.toBeNull();
    const finalCopy = inFinal('COPY')[0]!.args.split(' ').filter((p) => !p.startsWith('--'));
    expect(finalCopy[0]).toBe(m![2]);
    const appDir = join(tempDir('inferwatt-image-'), 'app');
    const r = spawnSync(process.execPath, [m![1]!, '--out', appDir], { cwd: work, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    // The runtime stage puts the bundle at /app, where ENTRYPOINT runs it.
    expect(finalCopy[1]).toBe('/app');

    const entry = one('ENTRYPOINT').exec!;
    // /app is where the runtime stage puts the bundle; 0.0.0.0 becomes loopback (tests never listen
    // on every interface) and the fixed ports become free ones.
    const cmd = one('CMD').exec!.map((a) => a.replace(/^0\.0\.0\.0:\d+$/, '127.0.0.1:0'));
    expect(entry[1]).toMatch(/^\/app\//);
    const launcher = join(appDir, relative('/app', entry[1]!));
    expect(existsSync(launcher), launcher).toBe(true);
    agent = await startBundledAgent(launcher, [...cmd.slice(1), '--sensors', 'simulated'], { cwd: appDir });
    const hc = one('HEALTHCHECK').exec!;
    const probe = (url: string) => spawnSync(hc[0] === 'node' ? process.execPath : hc[0]!, hc.slice(1), { env: cleanEnv({ INFERWATT_HEALTHCHECK_URL: url }), timeout: 10_000 });
    expect(probe(`${agent.metricsUrl}/healthz`).status).toBe(0);
    expect(probe(`${agent.metricsUrl}/no-such-route`).status).toBe(1);
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    expect(probe(`${agent.metricsUrl}/healthz`).status).toBe(1);
  }, 120_000);
});
