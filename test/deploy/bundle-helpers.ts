import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Builds the production bundle (scripts/build-bundle.mjs, the same command the Dockerfile runs) into a
 * fresh directory outside the repository, so that a run of it proves it needs nothing from the
 * checkout: no node_modules above it, no config/ of the repository.
 */
export function buildBundleOutsideRepo(): { dir: string; launcher: string; log: string; remove: () => void } {
  const parent = mkdtempSync(join(tmpdir(), 'inferwatt-bundle-'));
  const dir = join(parent, 'app');
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build-bundle.mjs'), '--out', dir], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`build-bundle failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return { dir, launcher: join(dir, 'inferwatt.mjs'), log: r.stdout, remove: () => rmSync(parent, { recursive: true, force: true }) };
}

/** An environment without the test runner's Node options and module paths, like a container's. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir(), ...extra };
  return env;
}

export interface RunningAgent {
  readonly child: ChildProcess;
  readonly metricsUrl: string;
  readonly proxyUrl: string;
  /** stdout and stderr so far (logs go to stderr). */
  output(): string;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
}

/**
 * Starts `node <launcher> run <args>` and waits for the line that names the bound addresses
 * (src/agent.ts logs "metrics and API on http://H:P/metrics; proxy on http://H:P → …").
 */
export function startBundledAgent(launcher: string, args: readonly string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<RunningAgent> {
  const child = spawn(process.execPath, [launcher, 'run', ...args], { cwd: opts.cwd, env: opts.env ?? cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s; });
  const exited = new Promise<number | string>((res) => child.on('exit', (code, signal) => res(code ?? signal ?? 'unknown')));
  return new Promise((resolveAgent, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`the bundled agent did not report its addresses:\n${out}`)); }, opts.timeoutMs ?? 20_000);
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      const m = /metrics and API on (http:\/\/\S+)\/metrics; proxy on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolveAgent({ child, metricsUrl: m[1]!, proxyUrl: m[2]!, output: () => out, exited });
      }
    });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`the bundled agent exited (${code}) before listening:\n${out}`)); });
  });
}

/** Polls `url` until it answers `status` (the agent's /readyz turns 200 after the first samples). */
export async function waitForStatus(url: string, status: number, timeoutMs = 10_000): Promise<Response> {
  const until = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < until) {
    try {
      const r = await fetch(url);
      if (r.status === status) return r;
      last = `${r.status} ${await r.text()}`;
    } catch (e) {
      last = String(e);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (last: ${last})`);
}
