import { errorMessage } from './errors.js';
import type { Logger } from './logger.js';

/**
 * A part of the agent that runs: started in the order of a list, stopped in the reverse order (after
 * Kepler's internal/service, where each service may initialise, run and shut down). The composition root
 * builds the list; the order is data, not code spread over a start and a stop function.
 */
export interface Service {
  readonly name: string;
  start?(): Promise<void> | void;
  stop?(): Promise<void> | void;
}

/** Starts each service in order; if one fails, stops those already started (in reverse) and rethrows. */
export async function startServices(services: readonly Service[], log: Logger): Promise<void> {
  const started: Service[] = [];
  try {
    for (const s of services) {
      await s.start?.();
      started.push(s);
    }
  } catch (err) {
    await stopServices(started, log);
    throw err;
  }
}

/** Stops each service in reverse order; a service that fails to stop is logged and the others still stop. */
export async function stopServices(services: readonly Service[], log: Logger): Promise<void> {
  for (const s of [...services].reverse()) {
    try {
      await s.stop?.();
    } catch (err) {
      log.error(`stopping ${s.name} failed: ${errorMessage(err)}`);
    }
  }
}
