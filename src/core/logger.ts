/**
 * A small leveled logger writing one line per event to stderr (stdout belongs to command output).
 * Hot paths log through `rateLimited` so a failing sensor at 10 Hz cannot flood the log.
 * Never pass prompts, completions or request bodies to it.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** Logs at most once per `everyMs` per key; returns whether it logged. */
  rateLimited(level: Exclude<LogLevel, 'silent'>, key: string, msg: string, fields?: Record<string, unknown>, everyMs?: number): boolean;
  child(component: string): Logger;
  readonly level: LogLevel;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: 'text' | 'json';
  write?: (line: string) => void;
  component?: string;
  nowMs?: () => number;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const format = opts.format ?? 'text';
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const nowMs = opts.nowMs ?? Date.now;
  const lastLogged = new Map<string, number>();

  const make = (component: string | undefined): Logger => {
    const emit = (lvl: Exclude<LogLevel, 'silent'>, msg: string, fields?: Record<string, unknown>) => {
      if (ORDER[lvl] < ORDER[level]) return;
      const time = new Date(nowMs()).toISOString();
      if (format === 'json') {
        write(JSON.stringify({ time, level: lvl, ...(component ? { component } : {}), msg, ...fields }));
      } else {
        // A field without a value (an error without a code) is left out, as JSON.stringify does.
        let extra = '';
        if (fields) for (const k in fields) {
          const v = fields[k];
          if (v !== undefined) extra += ` ${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`;
        }
        write(`${time} ${lvl.toUpperCase().padEnd(5)} ${component ? `[${component}] ` : ''}${msg}${extra}`);
      }
    };
    return {
      level,
      debug: (m, f) => emit('debug', m, f),
      info: (m, f) => emit('info', m, f),
      warn: (m, f) => emit('warn', m, f),
      error: (m, f) => emit('error', m, f),
      rateLimited(lvl, key, msg, fields, everyMs = 60_000) {
        const k = `${component ?? ''}:${key}`;
        const now = nowMs();
        const last = lastLogged.get(k);
        if (last !== undefined && now - last < everyMs) return false;
        if (lastLogged.size > 10_000) lastLogged.clear(); // keys are code-defined; this is a safety bound
        lastLogged.set(k, now);
        emit(lvl, msg, fields);
        return true;
      },
      child: (c) => make(component ? `${component}.${c}` : c),
    };
  };
  return make(opts.component);
}

/** A logger that drops everything; for tests and library users who bring their own. */
export const silentLogger: Logger = createLogger({ level: 'silent' });
