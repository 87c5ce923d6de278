import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/logger.js';

describe('logger', () => {
  it('leaves out fields whose value is undefined (no "code=undefined" on an error without a code)', () => {
    const text: string[] = [];
    const json: string[] = [];
    createLogger({ write: (l) => text.push(l), nowMs: () => 0 }).warn('upstream failed', { error: 'socket hang up', code: undefined });
    createLogger({ format: 'json', write: (l) => json.push(l), nowMs: () => 0 }).warn('upstream failed', { error: 'socket hang up', code: undefined });
    expect(text).toEqual(['1970-01-01T00:00:00.000Z WARN  upstream failed error=socket hang up']);
    expect(JSON.parse(json[0]!)).toEqual({ time: '1970-01-01T00:00:00.000Z', level: 'warn', msg: 'upstream failed', error: 'socket hang up' });
  });

  it('keeps null, 0 and false, which are values', () => {
    const text: string[] = [];
    createLogger({ write: (l) => text.push(l), nowMs: () => 0 }).info('x', { a: null, b: 0, c: false });
    expect(text).toEqual(['1970-01-01T00:00:00.000Z INFO  x a=null b=0 c=false']);
  });
});
