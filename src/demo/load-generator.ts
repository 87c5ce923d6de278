/**
 * The demo's load: `concurrency` workers, each sending one request after another through the proxy
 * (half streaming with usage, a few non-streaming legacy completions), until stopped. Prompts are
 * short fixed questions; the point is the traffic shape, not the text.
 */
export interface LoadGenerator {
  stop(graceMs?: number): Promise<void>;
  stats(): { sent: number; failed: number };
}

const QUESTIONS = [
  'What is the energy cost of one LLM query?',
  'Explain power usage effectiveness in two sentences.',
  'Summarise how grid carbon intensity varies by hour across Europe, with examples from France and Poland.',
  'List three ways to lower the water footprint of a data centre.',
];

export function startLoadGenerator(opts: { baseUrl: string; models: readonly string[]; concurrency: number; seed?: number; fetch?: typeof fetch; onError?: (err: unknown) => void }): LoadGenerator {
  const doFetch = opts.fetch ?? fetch;
  let stopped = false;
  let sent = 0;
  let failed = 0;
  const controller = new AbortController();
  let n = opts.seed ?? 0;

  const one = async (worker: number) => {
    const i = n++;
    const model = opts.models[(i + worker) % opts.models.length]!;
    const stream = i % 2 === 0;
    const legacy = i % 7 === 3;
    const question = QUESTIONS[i % QUESTIONS.length]!;
    const maxTokens = 24 + ((i * 37) % 160);
    const body = legacy
      ? { model, prompt: question, max_tokens: maxTokens, stream }
      : { model, messages: [{ role: 'user', content: question }], max_tokens: maxTokens, stream, ...(stream ? { stream_options: { include_usage: true } } : {}) };
    sent++;
    const res = await doFetch(`${opts.baseUrl}${legacy ? '/v1/completions' : '/v1/chat/completions'}`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-inferwatt-tenant': `team-${(worker % 3) + 1}` },
      body: JSON.stringify(body), signal: controller.signal,
    });
    await res.arrayBuffer();
    if (!res.ok) failed++;
  };

  const workers = Array.from({ length: opts.concurrency }, async (_, w) => {
    // Stagger the start so requests do not all begin in the same millisecond.
    await new Promise((r) => setTimeout(r, w * 150));
    while (!stopped) {
      try { await one(w); } catch (err) {
        if (stopped) break;
        failed++;
        opts.onError?.(err);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  });

  return {
    /** Stops sending; lets requests in flight finish for up to graceMs, then aborts them. */
    async stop(graceMs = 5000) {
      stopped = true;
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((r) => { timer = setTimeout(r, graceMs); });
      await Promise.race([Promise.allSettled(workers), grace]);
      clearTimeout(timer);
      controller.abort();
      await Promise.allSettled(workers);
    },
    stats: () => ({ sent, failed }),
  };
}
