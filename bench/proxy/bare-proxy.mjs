/**
 * The reference: what a bare Node reverse proxy does (node:http server, node:http request with a
 * keep-alive agent, pipe both ways, hop-by-hop headers dropped). No taps, no windows, no request id.
 * Plain JavaScript so that both benches run it: bench/proxy/proxy.bench.ts (bundled) and
 * bench/whole-agent.mjs (run as it is, next to the built CLI).
 */
import http from 'node:http';

const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** @param {string} upstream @returns {http.Server} */
export function createBareProxy(upstream) {
  const u = new URL(upstream);
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256, scheduling: 'lifo' });
  return http.createServer((req, res) => {
    /** @type {http.OutgoingHttpHeaders} */
    const headers = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP.has(k)) headers[k] = v;
    headers.host = u.host;
    const up = http.request({ agent, hostname: u.hostname, port: u.port, method: req.method, path: req.url, headers }, (r) => {
      /** @type {http.OutgoingHttpHeaders} */
      const out = {};
      for (const [k, v] of Object.entries(r.headers)) if (!HOP.has(k)) out[k] = v;
      res.writeHead(r.statusCode ?? 502, out);
      r.pipe(res);
    });
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  });
}
