import { expect } from 'vitest';
import type { RequestRecord } from '../../src/exporter/record.js';

/**
 * The final record of request `id` from an agent's `GET /api/requests/:id`: polled while it answers 202
 * (pending: the sensors have not yet covered the request's end); any other status fails the test.
 */
export async function finalRecord(metricsUrl: string, id: string, opts: { tries?: number; intervalMs?: number } = {}): Promise<RequestRecord> {
  const tries = opts.tries ?? 200;
  for (let i = 0; i < tries; i++) {
    const res = await fetch(`${metricsUrl}/api/requests/${id}`);
    if (res.status === 200) return (await res.json()) as RequestRecord;
    expect(res.status).toBe(202);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
  }
  throw new Error(`record ${id} never became final`);
}
