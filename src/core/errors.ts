/**
 * Errors carry a code and a kind:
 * - `fatal`: cannot go on (bad configuration, a port in use) – thrown at start-up only;
 * - `retry`: transient (a sensor read that may succeed next time);
 * - `gone`: the thing is not there (no such file, no GPU) – a normal state for hardware discovery.
 */
export type ErrorKind = 'fatal' | 'retry' | 'gone';

export class InferwattError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  constructor(code: string, kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InferwattError';
    this.code = code;
    this.kind = kind;
  }
}

/** Configuration problems, all of them at once; the CLI prints each and exits with status 2. */
export class ConfigError extends InferwattError {
  readonly problems: readonly string[];
  /** Warnings found on the way (unknown keys): shown with the problems, never lost when the run fails. */
  readonly warnings: readonly string[];
  constructor(problems: readonly string[], warnings: readonly string[] = []) {
    super('CONFIG_INVALID', 'fatal', `invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
    this.warnings = warnings;
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** `err` itself when it is an Error, else an Error carrying its message (for rejections and causes). */
export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(errorMessage(err));
}

/** The errno-style code of a Node system error (`ENOENT`, `EACCES`), if any. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
