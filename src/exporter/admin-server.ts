import express, { type Express } from 'express';
import type { Logger } from '../core/logger.js';
import { errorMessage } from '../core/errors.js';
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
  app.use((_req, res) => {
    res.status(404).json({ error: { message: 'not found; see /metrics, /healthz, /readyz, /api/requests, /api/summary, /api/sensors', type: 'not_found' } });
  });
  return app;
}
