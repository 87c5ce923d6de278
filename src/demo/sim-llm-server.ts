import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mulberry32 } from '../core/prng.js';

/**
 * A simulated OpenAI-compatible LLM server for the demo and tests: it streams tokens at a realistic
 * pace (prefill, then decode at a per-model rate) and reports usage like vLLM. The text is filler
 * from a seeded generator; prompts are read only to count their tokens and are never kept.
 */
export interface SimModel {
  readonly id: string;
  /** Decode speed of one stream, tokens per second (vLLM serves ~30–100 tok/s per stream on one GPU). */
  readonly tokensPerSecond: number;
  /** Prefill speed, prompt tokens per second (thousands on a GPU). */
  readonly prefillTokensPerSecond: number;
}

export const DEFAULT_SIM_MODELS: readonly SimModel[] = [
  { id: 'llama-3.1-8b-instruct', tokensPerSecond: 90, prefillTokensPerSecond: 8000 },
  { id: 'qwen2.5-32b-instruct', tokensPerSecond: 45, prefillTokensPerSecond: 3000 },
  { id: 'mistral-small-24b', tokensPerSecond: 60, prefillTokensPerSecond: 4000 },
];

export interface SimLlmServer {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

const WORDS = ['the', 'energy', 'of', 'a', 'query', 'is', 'measured', 'not', 'guessed', 'watts', 'joules', 'grid', 'water', 'token', 'model', 'server', 'and', 'per', 'carbon', 'inference'];

/** Rough token count of a request's text: ~4 characters per token for English (OpenAI's rule of thumb). */
function countPromptTokens(body: Record<string, unknown>): number {
  let chars = 0;
  const msgs = body.messages;
  if (Array.isArray(msgs)) for (const m of msgs) chars += typeof (m as { content?: unknown }).content === 'string' ? ((m as { content: string }).content.length) : 0;
  if (typeof body.prompt === 'string') chars += body.prompt.length;
  return Math.max(1, Math.ceil(chars / 4));
}

function readBody(req: IncomingMessage, limit = 1 << 20): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => { size += c.length; if (size > limit) { reject(new Error('body too large')); req.destroy(); } else chunks.push(c); });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startSimLlmServer(opts: { host?: string; port?: number; models?: readonly SimModel[]; seed?: number; speedup?: number } = {}): Promise<SimLlmServer> {
  const models = opts.models ?? DEFAULT_SIM_MODELS;
  const rand = mulberry32(opts.seed ?? 42);
  const speedup = opts.speedup ?? 1;
  let seq = 0;
  const timers = new Set<NodeJS.Timeout>();
  const sleep = (ms: number) => new Promise<void>((r) => { const t = setTimeout(() => { timers.delete(t); r(); }, ms / speedup); timers.add(t); });

  const json = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/v1/models') {
      return json(res, 200, { object: 'list', data: models.map((m) => ({ id: m.id, object: 'model', owned_by: 'inferwatt-demo' })) });
    }
    if (req.method === 'GET' && path === '/health') return json(res, 200, { status: 'ok' });
    const chat = path === '/v1/chat/completions';
    if (req.method !== 'POST' || (!chat && path !== '/v1/completions')) {
      return json(res, 404, { error: { message: `no route ${req.method} ${path}`, type: 'invalid_request_error' } });
    }
    let body: Record<string, unknown>;
    try { body = JSON.parse(await readBody(req)) as Record<string, unknown>; } catch {
      return json(res, 400, { error: { message: 'invalid JSON body', type: 'invalid_request_error' } });
    }
    const model = models.find((m) => m.id === body.model);
    if (!model) return json(res, 404, { error: { message: `model "${String(body.model)}" not found`, type: 'invalid_request_error', code: 'model_not_found' } });

    const promptTokens = countPromptTokens(body);
    const maxTokens = typeof body.max_tokens === 'number' && body.max_tokens > 0 ? Math.floor(body.max_tokens) : 0;
    const completionTokens = maxTokens || 20 + Math.floor(rand() * 180);
    const id = `${chat ? 'chatcmpl' : 'cmpl'}-sim${++seq}`;
    const created = Math.floor(Date.now() / 1000);
    const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
    let aborted = false;
    res.on('close', () => { aborted = !res.writableFinished; });

    await sleep((promptTokens / model.prefillTokensPerSecond) * 1000);
    const decodeMs = 1000 / model.tokensPerSecond;
    if (body.stream === true) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      const includeUsage = (body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true;
      const chunk = (delta: Record<string, unknown> | null, finish: string | null) => chat
        ? { id, object: 'chat.completion.chunk', created, model: model.id, choices: [{ index: 0, delta: delta ?? {}, finish_reason: finish }] }
        : { id, object: 'text_completion', created, model: model.id, choices: [{ index: 0, text: (delta?.content as string) ?? '', finish_reason: finish }] };
      if (chat) res.write(`data: ${JSON.stringify(chunk({ role: 'assistant', content: '' }, null))}\n\n`);
      // Tokens are sent in small groups, as servers do under load, so the demo does not flood the loop.
      const group = Math.max(1, Math.round(model.tokensPerSecond / 20));
      for (let i = 0; i < completionTokens && !aborted; i += group) {
        await sleep(decodeMs * group);
        const n = Math.min(group, completionTokens - i);
        let text = '';
        for (let k = 0; k < n; k++) text += ' ' + WORDS[Math.floor(rand() * WORDS.length)];
        res.write(`data: ${JSON.stringify(chunk({ content: text }, null))}\n\n`);
      }
      if (aborted) return;
      res.write(`data: ${JSON.stringify(chunk(null, maxTokens ? 'length' : 'stop'))}\n\n`);
      if (includeUsage) res.write(`data: ${JSON.stringify({ id, object: chat ? 'chat.completion.chunk' : 'text_completion', created, model: model.id, choices: [], usage })}\n\n`);
      res.end('data: [DONE]\n\n');
      return;
    }
    await sleep(decodeMs * completionTokens);
    if (aborted) return;
    let text = '';
    for (let k = 0; k < completionTokens; k++) text += (k ? ' ' : '') + WORDS[Math.floor(rand() * WORDS.length)];
    json(res, 200, chat
      ? { id, object: 'chat.completion', created, model: model.id, choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: maxTokens ? 'length' : 'stop' }], usage }
      : { id, object: 'text_completion', created, model: model.id, choices: [{ index: 0, text, finish_reason: maxTokens ? 'length' : 'stop' }], usage });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => { if (!res.headersSent) json(res, 500, { error: { message: 'simulated server error', type: 'server_error' } }); else res.destroy(); });
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve()); });
  const a = server.address() as AddressInfo;
  return {
    url: `http://${a.address}:${a.port}`,
    server,
    close: () => new Promise<void>((resolve) => { for (const t of timers) clearTimeout(t); server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
