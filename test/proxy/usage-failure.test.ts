/**
 * A usage reader that throws, under a compressed body: the tap reads a decompressed copy in zlib's own
 * events, after the proxy's guarded calls have returned, so a throw there was uncaught (the window never
 * ended, the process gone). The request must lose its tokens, nothing more.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createSystemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { createProxy, listenProxy } from '../../src/proxy/app.js';
import { fixtureReply, startReplayUpstream, type ReplayUpstream } from '../helpers/replay-upstream.js';
import { rawRequest } from './http-client.js';
import { createRecordingTracker } from './recording-tracker.js';

vi.mock('../../src/proxy/usage/index.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/proxy/usage/index.js')>();
  return {
    ...real,
    readDocument: () => {
      throw new Error('usage reader bug');
    },
  };
});

describe('a usage reader that throws', () => {
  let upstream: ReplayUpstream;
  let server: http.Server;
  let url: string;
  let close: () => Promise<void>;
  const tracker = createRecordingTracker();
  beforeAll(async () => {
    upstream = await startReplayUpstream((req) => fixtureReply(req.headers['x-file'] as string));
    const proxy = createProxy({ upstreams: [{ name: 'default', url: upstream.url }], tracker, clock: createSystemClock(), logger: silentLogger });
    ({ server, url } = await listenProxy(proxy.app, '127.0.0.1', 0));
    close = async () => {
      await proxy.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await upstream.close();
    };
  });
  afterAll(() => close());

  it.each(['openai/chat-nonstream-gpt35.json', 'openai/completions-legacy-nonstream-gzip.json.gz', 'openai/chat-stream-include-usage-gpt35.sse'])(
    '%s: bytes intact, window ends ok without tokens',
    async (file) => {
      const direct = await rawRequest(upstream.url, { path: '/v1/chat/completions', headers: { 'x-file': file }, body: '{}' });
      const res = await rawRequest(url, { path: '/v1/chat/completions', headers: { 'x-file': file }, body: '{}' });
      expect(res.status).toBe(200);
      expect(res.body.equals(direct.body)).toBe(true);
      await tracker.windowsEnded(tracker.windows.length);
      const w = tracker.byId(res.headers['x-inferwatt-request-id'] as string)!;
      expect(w.end).toMatchObject({ status: 200, outcome: 'ok' });
      expect(w.merged.promptTokens).toBeUndefined();
    },
  );
});
