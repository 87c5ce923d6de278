import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { errorMessage } from '../../src/core/errors.js';

/**
 * A real Prometheus (Debian's `prometheus` package, installed by scripts/install-prometheus.sh) for
 * tests: started on a free 127.0.0.1 port with a temporary config and TSDB, scraping and evaluating
 * every second, stopped and cleaned up by `stop()`.
 *
 * Tests must not silently skip when the binaries are missing: `requireBinary` fails with the command
 * that installs them.
 */
export const INSTALL_HINT = 'run `bash scripts/install-prometheus.sh` (as root; Debian: apt-get install prometheus)';

/** Absolute path of `name` on PATH, or throws with the install hint. */
export function requireBinary(name: 'prometheus' | 'promtool'): string {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = r.stdout.trim();
  if (r.status !== 0 || !path) {
    throw new Error(`${name} is not on PATH: ${INSTALL_HINT}. These tests run against the real Prometheus and never skip.`);
  }
  return path;
}

export interface PromSample {
  metric: Record<string, string>;
  value?: [number, string];
  values?: [number, string][];
}

export interface PromAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing' | 'inactive';
  activeAt?: string;
  value: string;
}

export interface PromRuleGroup {
  name: string;
  file: string;
  rules: { name: string; type: 'recording' | 'alerting'; health: string; lastError?: string; query: string; state?: string }[];
}

export interface PrometheusHandle {
  /** e.g. http://127.0.0.1:40123 */
  readonly url: string;
  readonly dataDir: string;
  /** Instant query; throws on a PromQL error (with Prometheus' message). */
  query(expr: string): Promise<PromSample[]>;
  /** Active alerts (pending and firing). */
  alerts(): Promise<PromAlert[]>;
  rules(): Promise<PromRuleGroup[]>;
  targets(): Promise<{ scrapeUrl: string; health: string; lastError: string }[]>;
  /** Exemplars of a selector over the last `sinceS` seconds. */
  exemplars(selector: string, sinceS?: number): Promise<{ seriesLabels: Record<string, string>; exemplars: { labels: Record<string, string>; value: string }[] }[]>;
  /** Prometheus' stderr so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

export interface StartPrometheusOptions {
  /** host:port targets, scraped as job "inferwatt". */
  targets: string[];
  /**
   * Labels added to every series of the targets (static_configs labels), e.g. the `cluster` that a
   * fleet's cluster Prometheus adds as an external label and federation or remote write carries.
   */
  targetLabels?: Record<string, string>;
  /** global.external_labels: what a fleet's cluster Prometheus adds to everything it federates or remote-writes. */
  externalLabels?: Record<string, string>;
  /** More scrape jobs (a global Prometheus's `/federate` job), as prometheus.yml has them. */
  extraScrapeConfigs?: Record<string, unknown>[];
  /** Rule files to load (absolute or relative to the repository root). */
  ruleFiles?: string[];
  scrapeIntervalS?: number;
  evaluationIntervalS?: number;
  /** How long to wait for /-/ready. */
  readyTimeoutMs?: number;
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

/** Polls `fn` until it returns a defined value or `timeoutMs` passes (real processes: polling is the only way). */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${errorMessage(lastErr)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function startPrometheus(opts: StartPrometheusOptions): Promise<PrometheusHandle> {
  const bin = requireBinary('prometheus');
  const dir = await mkdtemp(join(tmpdir(), 'inferwatt-prom-'));
  const dataDir = join(dir, 'data');
  const scrape = opts.scrapeIntervalS ?? 1;
  const evaluation = opts.evaluationIntervalS ?? 1;
  const ruleFiles = (opts.ruleFiles ?? []).map((f) => resolve(f));
  // JSON is YAML: no YAML writer needed, and paths with odd characters stay quoted.
  const config = {
    global: { scrape_interval: `${scrape}s`, scrape_timeout: `${scrape}s`, evaluation_interval: `${evaluation}s`, ...(opts.externalLabels ? { external_labels: opts.externalLabels } : {}) },
    rule_files: ruleFiles,
    scrape_configs: [
      ...(opts.targets.length ? [{ job_name: 'inferwatt', static_configs: [{ targets: opts.targets, ...(opts.targetLabels ? { labels: opts.targetLabels } : {}) }] }] : []),
      ...(opts.extraScrapeConfigs ?? []),
    ],
  };
  const configFile = join(dir, 'prometheus.yml');
  await writeFile(configFile, JSON.stringify(config, null, 2));

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let stderr = '';
  const child: ChildProcess = spawn(bin, [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${dataDir}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--storage.tsdb.retention.time=1h',
    '--enable-feature=exemplar-storage',
    '--log.level=warn',
    // The Debian build looks for its web UI assets under /usr/share; tests only use the API.
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => { stderr = (stderr + d).slice(-20_000); });
  let exited = false;
  const exitP = new Promise<void>((r) => child.once('exit', () => { exited = true; r(); }));

  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(url + path);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${body.error ?? res.status}`);
    return body.data;
  };

  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const killTimer = setTimeout(() => { if (!exited) child.kill('SIGKILL'); }, 10_000);
      await exitP;
      clearTimeout(killTimer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await waitFor('Prometheus to become ready', async () => {
      if (exited) throw new Error(`prometheus exited: ${stderr}`);
      const res = await fetch(`${url}/-/ready`).catch(() => undefined);
      return res?.ok ? true : undefined;
    }, opts.readyTimeoutMs ?? 30_000);
  } catch (err) {
    await stop();
    throw new Error(`${errorMessage(err)}\nprometheus stderr:\n${stderr}`, { cause: err });
  }

  return {
    url,
    dataDir,
    async query(expr) {
      const data = await api<{ resultType: string; result: PromSample[] | [number, string] }>(`/api/v1/query?query=${encodeURIComponent(expr)}`);
      // Scalars and strings come back as one [t, v] pair; wrap them so callers see one shape.
      if (data.resultType === 'scalar' || data.resultType === 'string') return [{ metric: {}, value: data.result as [number, string] }];
      return data.result as PromSample[];
    },
    async alerts() {
      return (await api<{ alerts: PromAlert[] }>('/api/v1/alerts')).alerts;
    },
    async rules() {
      return (await api<{ groups: PromRuleGroup[] }>('/api/v1/rules')).groups;
    },
    async targets() {
      return (await api<{ activeTargets: { scrapeUrl: string; health: string; lastError: string }[] }>('/api/v1/targets')).activeTargets;
    },
    async exemplars(selector, sinceS = 300) {
      const end = Date.now() / 1000;
      return api(`/api/v1/query_exemplars?query=${encodeURIComponent(selector)}&start=${end - sinceS}&end=${end}`);
    },
    log: () => stderr,
    stop,
  };
}
