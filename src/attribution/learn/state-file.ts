import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { writeFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errorMessage } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { PoolLearner } from './pool-learner.js';

/**
 * The learned token costs' statistics (per pool: the models and the fit's normal equations), kept in a
 * JSON file so that a restart does not start learning from nothing (`attribution.learn.stateFile`). The
 * file holds sums over past time buckets, never a request, a prompt or a completion. Written to a
 * temporary file and renamed, so a crash never leaves half a file.
 */
export type LearnState = Record<string, ReturnType<PoolLearner['state']>>;
const VERSION = 1;

export function readLearnState(file: string, log: Logger): LearnState | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn(`cannot read the learned state ${file}: ${errorMessage(err)}; learning from nothing`);
    return undefined;
  }
  try {
    const doc = JSON.parse(text) as { version?: number; pools?: LearnState };
    if (doc.version !== VERSION || typeof doc.pools !== 'object' || doc.pools === null) throw new Error(`not a version ${VERSION} state`);
    return doc.pools;
  } catch (err) {
    log.warn(`the learned state ${file} is not usable (${errorMessage(err)}); learning from nothing`);
    return undefined;
  }
}

export function writeLearnState(file: string, pools: LearnState, sync: boolean, log: Logger): void {
  const body = JSON.stringify({ version: VERSION, savedAt: new Date().toISOString(), pools });
  const tmp = `${file}.tmp`;
  if (sync) {
    try {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(tmp, body);
      renameSync(tmp, file);
    } catch (err) {
      log.warn(`cannot write the learned state ${file}: ${errorMessage(err)}`);
    }
    return;
  }
  writeFile(tmp, body).then(() => rename(tmp, file)).catch((err: unknown) => {
    log.rateLimited('warn', 'learn-state', `cannot write the learned state ${file}: ${errorMessage(err)}`);
  });
}
