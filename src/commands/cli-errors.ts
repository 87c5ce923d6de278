import { ConfigError, InferwattError, errnoCode, errorMessage } from '../core/errors.js';

/**
 * How every command reports a failure, in one style: a configuration or usage problem lists every problem
 * (and the warnings found on the way) and gives exit status 2; anything else is one line and status 1.
 *
 *   inferwatt project: invalid configuration (2 problems):
 *     - --users: -5 must be a positive number
 *     - --from: "nope" is not an http:// or https:// URL (e.g. http://127.0.0.1:9477)
 */
export function reportError(err: unknown, io: { stderr: (s: string) => void }, command?: string): number {
  const who = command ? `inferwatt ${command}` : 'inferwatt';
  if (err instanceof ConfigError) {
    const n = err.problems.length;
    io.stderr(`${who}: invalid configuration (${n} problem${n === 1 ? '' : 's'}):\n${err.problems.map((p) => `  - ${p}`).join('\n')}\n`);
    for (const w of err.warnings) io.stderr(`warning: ${w}\n`);
    return 2;
  }
  io.stderr(`${who}: ${errorMessage(err)}\n`);
  return 1;
}

/** A runtime failure of a command (exit status 1), with a message that says what happened. */
export function runtimeError(code: string, message: string, cause?: unknown): InferwattError {
  return new InferwattError(code, 'fatal', message, cause === undefined ? undefined : { cause });
}

/**
 * Node's fetch rejects with "fetch failed" and hides the reason in `cause`: the reason in words.
 */
export function describeFetchError(err: unknown): string {
  const cause = (err as { cause?: unknown } | null)?.cause;
  const code = errnoCode(cause) ?? errnoCode(err);
  switch (code) {
    case 'ECONNREFUSED': return 'connection refused';
    case 'ENOTFOUND': case 'EAI_AGAIN': return 'host not found';
    case 'ECONNRESET': return 'connection reset';
    case 'EHOSTUNREACH': case 'ENETUNREACH': return 'host unreachable';
    case 'ETIMEDOUT': case 'UND_ERR_CONNECT_TIMEOUT': return 'connection timed out';
    default: break;
  }
  if ((err as { name?: unknown } | null)?.name === 'TimeoutError') return 'no answer in time';
  return cause instanceof Error ? cause.message : errorMessage(err);
}
