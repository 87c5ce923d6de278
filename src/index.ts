// Library entry point: `import { startAgent, inferwattMiddleware } from 'inferwatt'`.
export { startAgent, createAgent, type Agent, type AgentDeps } from './agent.js';
export { inferwattMiddleware, type MiddlewareOptions } from './proxy/middleware.js';
export { loadConfig, type LoadedConfig } from './config/load.js';
export type { Config } from './config/schema.js';
export { createSystemClock, createFakeClock, type Clock } from './core/clock.js';
export { computeImpacts } from './impacts/convert.js';
export { createFactorResolver } from './impacts/factor-tables.js';
export { project } from './impacts/projection.js';
export type { RequestRecord } from './exporter/record.js';
export type * from './sensors/types.js';
export type * from './energy/types.js';
export type * from './attribution/types.js';
export type * from './impacts/types.js';
