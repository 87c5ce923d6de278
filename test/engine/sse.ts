/**
 * Reads a streamed completion the way a client sees it: every `data:` event of the SSE body, parsed
 * (`[DONE]` kept as the string), with the time it arrived (performance.now()).
 */
export interface SseEvent {
  readonly data: unknown;
  readonly atMs: number;
}

export async function readSse(res: Response, onEvent?: (e: SseEvent) => void): Promise<SseEvent[]> {
  if (!res.body) throw new Error('no body');
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let tail = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    tail += decoder.decode(chunk, { stream: true });
    let cut: number;
    while ((cut = tail.indexOf('\n\n')) >= 0) {
      const block = tail.slice(0, cut);
      tail = tail.slice(cut + 2);
      for (const line of block.split('\n')) {
        if (!line.startsWith('data: ')) continue;
        const text = line.slice(6);
        const e = { data: text === '[DONE]' ? text : (JSON.parse(text) as unknown), atMs: performance.now() };
        events.push(e);
        onEvent?.(e);
      }
    }
  }
  if (tail.trim() !== '') throw new Error(`stream ended inside an event: ${JSON.stringify(tail)}`);
  return events;
}

interface ChunkLike {
  choices: { delta?: { content?: string; role?: string }; text?: string; finish_reason: string | null }[];
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null;
}

/** The content pieces of a chat stream, in order, with their arrival times. */
export function contentEvents(events: readonly SseEvent[]): { text: string; atMs: number }[] {
  const out: { text: string; atMs: number }[] = [];
  for (const e of events) {
    if (e.data === '[DONE]') continue;
    const c = e.data as ChunkLike;
    for (const ch of c.choices) {
      const text = ch.delta?.content ?? ch.text;
      if (text) out.push({ text, atMs: e.atMs });
    }
  }
  return out;
}

export const chunkOf = (e: SseEvent): ChunkLike => e.data as ChunkLike;
