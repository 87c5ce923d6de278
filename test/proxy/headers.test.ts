import { describe, expect, it } from 'vitest';
import { filterHeaders, isHopByHop, rawHeader } from '../../src/proxy/headers.js';

const NONE = new Set<string>();

describe('filterHeaders (one pass, Connection-named headers removed after it)', () => {
  it('keeps order, case and repeats; drops hop-by-hop and Proxy-*; appends extra pairs', () => {
    const raw = ['Host', 'a', 'Connection', 'keep-alive', 'Set-Cookie', 'x=1', 'Keep-Alive', 'timeout=5', 'Proxy-Foo', 'p', 'set-cookie', 'y=2', 'TE', 'trailers', 'Transfer-Encoding', 'chunked'];
    expect(filterHeaders(raw, new Set(['host']), ['X-Id', '1'])).toEqual(['Set-Cookie', 'x=1', 'set-cookie', 'y=2', 'X-Id', '1']);
  });

  it('removes the headers Connection names, before or after it, in any case, over several Connection headers', () => {
    const raw = ['X-Before', '1', 'Connection', 'Keep-Alive, X-Before ,x-after', 'X-After', '2', 'connection', 'X-Third', 'x-third', '3', 'X-Kept', '4'];
    expect(filterHeaders(raw, NONE, [])).toEqual(['X-Kept', '4']);
  });

  it('a single non-hop-by-hop token (close) is honoured like a list', () => {
    expect(filterHeaders(['Close', 'x', 'Connection', 'close', 'A', 'b'], NONE, [])).toEqual(['A', 'b']);
  });

  it('Connection naming only hop-by-hop headers leaves the rest untouched; extras are never filtered', () => {
    const raw = ['Connection', 'keep-alive, upgrade, TE', 'A', '1'];
    expect(filterHeaders(raw, NONE, ['Keep-Alive', 'kept-because-extra'])).toEqual(['A', '1', 'Keep-Alive', 'kept-because-extra']);
  });

  it('empty tokens are ignored', () => {
    expect(filterHeaders(['Connection', ' , ,', 'A', '1'], NONE, [])).toEqual(['A', '1']);
  });

  it('isHopByHop and rawHeader', () => {
    expect(isHopByHop('proxy-anything')).toBe(true);
    expect(isHopByHop('content-type')).toBe(false);
    expect(rawHeader(['Content-Type', 'a/b', 'content-type', 'c/d'], 'content-type')).toBe('a/b');
    expect(rawHeader(['A', '1'], 'b')).toBeUndefined();
  });
});
