import type http from 'node:http';

/** See bare-proxy.mjs. */
export function createBareProxy(upstream: string): http.Server;
