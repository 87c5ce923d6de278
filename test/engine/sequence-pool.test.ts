import { describe, expect, it } from 'vitest';
import { createSequencePool } from './sequence-pool.mjs';

/** The engine's slots: first come, first served; an aborted waiter leaves without a slot. */
describe('the sequence pool of the test engine', () => {
  it('hands out free slots, then serves waiters in arrival order as slots are released', async () => {
    const pool = createSequencePool(['s0', 's1']);
    const a = await pool.acquire();
    const b = await pool.acquire();
    expect(new Set([a, b])).toEqual(new Set(['s0', 's1']));
    const order: string[] = [];
    const c = pool.acquire().then((s) => { order.push(`c:${s}`); return s; });
    const d = pool.acquire().then((s) => { order.push(`d:${s}`); return s; });
    expect([pool.busy, pool.queued]).toEqual([2, 2]);
    pool.release(b);
    await c;
    pool.release(a);
    await d;
    expect(order).toEqual([`c:${b}`, `d:${a}`]);
    pool.release(await c);
    pool.release(await d);
    expect([pool.busy, pool.queued]).toEqual([0, 0]);
  });

  it('drops a waiter whose request was aborted, so the slot goes to the next one', async () => {
    const pool = createSequencePool(['only']);
    const held = await pool.acquire();
    const gone = new AbortController();
    const first = pool.acquire(gone.signal);
    const second = pool.acquire();
    gone.abort();
    await expect(first).rejects.toThrow('aborted');
    expect(pool.queued).toBe(1);
    pool.release(held);
    expect(await second).toBe('only');
    await expect(pool.acquire(AbortSignal.abort())).rejects.toThrow('aborted');
  });
});
