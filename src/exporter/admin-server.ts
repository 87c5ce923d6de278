import express, { type Express } from 'express';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../core/logger.js';
import { InferwattError, errorMessage } from '../core/errors.js';
import type { Service } from '../core/service.js';
import type { MetricsCatalogue } from './metrics.js';
import type { RecordStore, Summary } from './record-store.js';

/**
 * The metrics port: /metrics, /healthz, /readyz and the JSON API. It only reads snapshots: nothing
 * here touches a sensor or waits on the proxy.
 */
export interface AdminSources {
  metrics: MetricsCatalogue;
  records: RecordStore;
  /** `{ id, state: 'pending' }` for a request still in flight or awaiting its energy. */
  pending(id: string): { id: string; state: 'pending' } | undefined;
  summary(): Summary;
  sensors(): unknown;
  ready(): { ready: boolean; reasons: string[] };
  /** Learned token costs per pool and model (`/api/models`; empty pools unless the policy is `learned`). */
  models?(): { policy: string; pools: unknown[] };
  /** Upstream reachability, shown in /readyz beside readiness, not part of it. */
  upstreams?(): unknown[];
  logger: Logger;
}

const MAX_LIST = 1000;

export function createAdminApp(src: AdminSources): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get('/metrics', async (req, res) => {
    try {
      const { contentType, body } = await src.metrics.render(req.get('accept'));
      res.set('content-type', contentType).send(body);
    } catch (err) {
      src.logger.rateLimited('error', 'metrics', `rendering /metrics failed: ${errorMessage(err)}`);
      res.status(500).type('text/plain').send('metrics unavailable\n');
    }
  });
  app.get('/healthz', (_req, res) => { res.json({ status: 'ok' }); });
  app.get('/readyz', (_req, res) => {
    const r = src.ready();
    // `upstreams` is information, not a condition: an upstream restarting must not make the agent flap.
    res.status(r.ready ? 200 : 503).json({ status: r.ready ? 'ready' : 'not ready', reasons: r.reasons, ...(src.upstreams ? { upstreams: src.upstreams() } : {}) });
  });
  app.get('/api/requests', (req, res) => {
    const raw = req.query.limit;
    let limit = 100;
    if (raw !== undefined) {
      const n = Number(raw);
      if (typeof raw !== 'string' || !/^\d+$/.test(raw) || !Number.isFinite(n) || n < 1) {
        res.status(400).json({ error: { message: `limit must be a whole number from 1 to ${MAX_LIST}`, type: 'invalid_request' } });
        return;
      }
      limit = Math.min(n, MAX_LIST);
    }
    res.json({ requests: src.records.list(limit) });
  });
  app.get('/api/requests/:id', (req, res) => {
    const rec = src.records.get(req.params.id);
    if (rec) { res.json(rec); return; }
    const p = src.pending(req.params.id);
    if (p) { res.status(202).json(p); return; }
    res.status(404).json({ error: { message: 'no such request (unknown id, or no longer retained)', type: 'not_found' } });
  });
  app.get('/api/summary', (_req, res) => { res.json(src.summary()); });
  app.get('/api/sensors', (_req, res) => { res.json(src.sensors()); });
  app.get('/api/models', (_req, res) => {
    const m = src.models?.() ?? { policy: 'time', pools: [] };
    res.json({
      ...m,
      ...(m.policy === 'learned' ? {} : { note: 'token costs are learned only under --attribution learned' }),
    });
  });
  app.use((_req, res) => {
    res.status(404).json({ error: { message: 'not found; see /metrics, /healthz, /readyz, /api/requests, /api/summary, /api/sensors, /api/models', type: 'not_found' } });
  });
  return app;
}

/** The metrics port as a service: it listens at start (a taken port is fatal, said in words) and closes at stop. */
export function createAdminService(app: Express, hostPort: { host: string; port: number; text: string }): Service & { url(): string | undefined } {
  const server = createServer(app);
  let url: string | undefined;
  return {
    name: 'metrics server',
    url: () => url,
    start: () => new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        reject(new InferwattError('LISTEN_FAILED', 'fatal', `cannot listen on ${hostPort.text}: ${err.code === 'EADDRINUSE' ? 'address already in use' : errorMessage(err)}`, { cause: err }));
      });
      server.listen(hostPort.port, hostPort.host, () => {
        const a = server.address() as AddressInfo;
        url = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
        resolve();
      });
    }),
    stop: () => new Promise<void>((resolve) => {
      if (!server.listening) { resolve(); return; }
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
