import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

/**
 * A real headless Chromium (Debian's `chromium`, installed by scripts/install-chromium.sh) driven over
 * the DevTools protocol through `--remote-debugging-pipe` (JSON messages ended by NUL on file
 * descriptors 3 and 4), so no WebSocket client and no browser-automation package are needed. One page,
 * with everything it logs and every request it makes recorded.
 *
 * Like the Prometheus tests, these never skip: a missing browser fails with the install command.
 */
export const CHROMIUM_INSTALL_HINT = 'run `bash scripts/install-chromium.sh` (as root; Debian: apt-get install chromium)';

export function requireChromium(): string {
  const r = spawnSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' });
  const path = r.stdout.trim();
  if (r.status !== 0 || !path) throw new Error(`chromium is not on PATH: ${CHROMIUM_INSTALL_HINT}. This test opens the report in a real browser and never skips.`);
  return path;
}

export interface PageEvents {
  /** console.error / console.warn calls, uncaught exceptions, and browser log entries of level error. */
  errors: string[];
  /** Every URL the page asked for (the document itself included). */
  requests: string[];
}

export interface ChromiumPage {
  /** Sends a DevTools command to the page's session. */
  send<T = Record<string, unknown>>(method: string, params?: Record<string, unknown>): Promise<T>;
  /** Navigates and resolves at the load event. */
  open(url: string): Promise<void>;
  /** Evaluates an expression in the page, returning its JSON value. */
  evaluate<T>(expression: string): Promise<T>;
  readonly events: PageEvents;
  close(): Promise<void>;
}

export async function openChromiumPage(opts: { width?: number; height?: number } = {}): Promise<ChromiumPage> {
  const bin = requireChromium();
  const profile = await mkdtemp(join(tmpdir(), 'inferwatt-chromium-'));
  const args = [
    '--headless=new', '--remote-debugging-pipe', `--user-data-dir=${profile}`,
    '--no-first-run', '--no-default-browser-check', '--disable-gpu', '--disable-extensions',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-default-apps',
    '--hide-scrollbars', '--mute-audio',
    // Chromium refuses to run its sandbox as root (CI containers run as root); the page is our own file.
    ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
    'about:blank',
  ];
  const child: ChildProcess = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => { stderr = (stderr + d).slice(-10_000); });
  const toBrowser = child.stdio[3] as Writable;
  const fromBrowser = child.stdio[4] as Readable;
  let exited = false;
  const exitP = new Promise<void>((r) => child.once('exit', () => { exited = true; r(); }));

  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; method: string }>();
  const listeners: ((msg: { method: string; params: Record<string, unknown>; sessionId?: string }) => void)[] = [];
  let buffer = '';
  fromBrowser.setEncoding('utf8');
  fromBrowser.on('data', (chunk: string) => {
    buffer += chunk;
    for (let end = buffer.indexOf('\0'); end >= 0; end = buffer.indexOf('\0')) {
      const msg = JSON.parse(buffer.slice(0, end)) as { id?: number; result?: unknown; error?: { message: string }; method?: string; params?: Record<string, unknown>; sessionId?: string };
      buffer = buffer.slice(end + 1);
      if (msg.id !== undefined) {
        const p = pending.get(msg.id);
        pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(`${p.method}: ${msg.error.message}`));
        else p?.resolve(msg.result);
      } else if (msg.method) for (const l of listeners) l({ method: msg.method, params: msg.params ?? {}, ...(msg.sessionId ? { sessionId: msg.sessionId } : {}) });
    }
  });
  const call = <T>(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<T> => {
    if (exited) return Promise.reject(new Error(`chromium exited: ${stderr}`));
    const id = nextId++;
    toBrowser.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject, method });
      setTimeout(() => { if (pending.delete(id)) reject(new Error(`${method}: no answer from chromium in 20 s\n${stderr}`)); }, 20_000).unref();
    });
  };

  const { targetId } = await call<{ targetId: string }>('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await call<{ sessionId: string }>('Target.attachToTarget', { targetId, flatten: true });
  const events: PageEvents = { errors: [], requests: [] };
  let onLoad: (() => void) | undefined;
  listeners.push((m) => {
    if (m.sessionId !== sessionId) return;
    const p = m.params as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    if (m.method === 'Runtime.consoleAPICalled' && (p.type === 'error' || p.type === 'warning' || p.type === 'assert')) {
      events.errors.push(`console.${p.type}: ${(p.args as { value?: unknown; description?: string }[]).map((a) => (a.value === undefined ? (a.description ?? '') : typeof a.value === 'string' ? a.value : JSON.stringify(a.value))).join(' ')}`);
    }
    if (m.method === 'Runtime.exceptionThrown') events.errors.push(`exception: ${p.exceptionDetails?.exception?.description ?? p.exceptionDetails?.text}`);
    if (m.method === 'Log.entryAdded' && (p.entry.level === 'error' || p.entry.level === 'warning')) events.errors.push(`log.${p.entry.level}: ${p.entry.text} ${p.entry.url ?? ''}`);
    if (m.method === 'Network.requestWillBeSent') events.requests.push(p.request.url as string);
    if (m.method === 'Page.loadEventFired') onLoad?.();
  });
  const send = <T>(method: string, params: Record<string, unknown> = {}) => call<T>(method, params, sessionId);
  for (const domain of ['Page', 'Runtime', 'Log', 'Network']) await send(`${domain}.enable`);
  await send('Emulation.setDeviceMetricsOverride', { width: opts.width ?? 1280, height: opts.height ?? 900, deviceScaleFactor: 1, mobile: false });

  return {
    send,
    events,
    async open(url) {
      const loaded = new Promise<void>((r) => { onLoad = r; });
      const nav = await send<{ errorText?: string }>('Page.navigate', { url });
      if (nav.errorText) throw new Error(`navigation to ${url} failed: ${nav.errorText}`);
      await loaded;
    },
    async evaluate<T>(expression: string) {
      const r = await send<{ result: { value: T }; exceptionDetails?: { text: string } }>('Runtime.evaluate', { expression, returnByValue: true });
      if (r.exceptionDetails) throw new Error(`evaluate: ${r.exceptionDetails.text}`);
      return r.result.value;
    },
    async close() {
      if (!exited) {
        await call('Browser.close').catch(() => undefined);
        const t = setTimeout(() => { if (!exited) child.kill('SIGKILL'); }, 5000);
        await exitP;
        clearTimeout(t);
      }
      await rm(profile, { recursive: true, force: true });
    },
  };
}
