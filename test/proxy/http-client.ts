/** A raw node:http client for the proxy tests: the exact bytes received, chunk by chunk, no decoding. */
import http from 'node:http';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  chunks: number;
  /** The response ended abnormally (connection cut mid-body). */
  aborted: boolean;
}

export interface RawRequest {
  method?: string;
  path: string;
  headers?: Record<string, string | number | string[]>;
  body?: Buffer | string;
  agent?: http.Agent;
  /** Called on each body chunk; return 'destroy' to cut the connection there. */
  onChunk?: (chunk: Buffer, index: number) => void | 'destroy';
}

export function rawRequest(baseUrl: string, r: RawRequest): Promise<RawResponse> {
  const url = new URL(r.path, baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { hostname: url.hostname, port: url.port, path: url.pathname + url.search, method: r.method ?? 'POST', headers: r.headers ?? {}, agent: r.agent ?? false },
      (res) => {
        const pieces: Buffer[] = [];
        let aborted = false;
        let i = 0;
        res.on('data', (c: Buffer) => {
          pieces.push(c);
          if (r.onChunk?.(c, i++) === 'destroy') {
            req.destroy();
            res.destroy();
          }
        });
        const done = () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(pieces), chunks: pieces.length, aborted });
        res.on('error', () => {
          aborted = true;
        });
        res.on('close', () => {
          if (!res.complete) aborted = true;
          done();
        });
      },
    );
    req.on('error', (err) => {
      // A request we destroyed ourselves, or a cut after the response began, is reported via `aborted`.
      if (!(err as NodeJS.ErrnoException).code || req.destroyed) return reject(err);
      reject(err);
    });
    if (r.body !== undefined) req.end(r.body);
    else req.end();
  });
}
