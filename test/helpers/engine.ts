import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * The real inference engine of test/engine/ (llama.cpp through node-llama-cpp, on the seeded random llama)
 * as a child process: its own process, so that its CPU time is its tokens' cost and nothing else's.
 *
 * Tests must not silently skip when node-llama-cpp is not installed: `startEngine` fails with the command
 * that installs it.
 */
export const ROOT = resolve(__dirname, '..', '..');
export const ENGINE_DIR = join(ROOT, 'test', 'engine');
export const ENGINE_INSTALL_HINT = 'run `bash scripts/install-engine.sh` (installs node-llama-cpp into test/engine/node_modules)';
/** The served model name: `general.name` of the random llama. */
export const ENGINE_MODEL = 'inferwatt-random-llama';

export interface EngineProcess {
  readonly url: string;
  readonly pid: number;
  /** User + system CPU time the engine's process has used so far, ms (from /proc/PID/stat, 1/CLK_TCK steps). */
  cpuMs(): number;
  /** What the engine wrote to stdout and stderr so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

export function requireEngineInstalled(): void {
  if (!existsSync(join(ENGINE_DIR, 'node_modules', 'node-llama-cpp', 'package.json'))) {
    throw new Error(`node-llama-cpp is not installed in test/engine: ${ENGINE_INSTALL_HINT}. These tests run a real engine and never skip.`);
  }
}

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number(r.stdout.trim());
    clockTicks = r.status === 0 && n > 0 ? n : 100;
  }
  return clockTicks;
}

/** utime + stime of a process, ms (proc(5): fields 14 and 15, counted after the parenthesised name). */
export function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / ticksPerSecond()) * 1000;
}

/** Starts `node test/engine/server.mjs --port 0 ...flags` and resolves once it prints its URL. */
export async function startEngine(flags: readonly string[] = [], timeoutMs = 90_000): Promise<EngineProcess> {
  requireEngineInstalled();
  const child = spawn(process.execPath, [join(ENGINE_DIR, 'server.mjs'), '--port', '0', ...flags], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = await new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); fail(new Error(`the engine did not start within ${timeoutMs} ms:\n${out}`)); }, timeoutMs);
    const onData = () => {
      const m = /at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) { clearTimeout(timer); ok(m[1]!); }
    };
    child.stdout.on('data', onData);
    child.once('exit', (code, signal) => { clearTimeout(timer); fail(new Error(`the engine exited (${code ?? signal}) before it was ready:\n${out}`)); });
  });
  return {
    url,
    pid: child.pid!,
    cpuMs: () => processCpuMs(child.pid!),
    log: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}
