/**
 * What a report's source (Prometheus or records files) hands over besides the increments it poured
 * into the accumulator: how well it covered the period, what the boundary held, and the policy.
 */
import { InferwattError } from '../core/errors.js';
import type { InstanceCoverage } from './types.js';

export interface SourceFacts {
  /** Per host, the time covered within the period (embodied time share). */
  hostSpanMs: Map<string, number>;
  coverage: InstanceCoverage[];
  notes: string[];
  devices: { kind: string; method: string; count: number }[];
  hosts: number;
  attribution: { policy: string[]; idle: string[] };
  /** How idle energy enters the figures from this source (the boundary's idle line). */
  idle: string;
  /** Whether any increment at all fell inside the period (none: "no data in range", exit 1). */
  anyData: boolean;
}

/** A runtime failure of a report (exit 1): Prometheus unreachable, no data in range, an unreadable file. */
export class ReportError extends InferwattError {
  constructor(code: 'PROMETHEUS_UNREACHABLE' | 'PROMETHEUS_ERROR' | 'NO_DATA' | 'RECORDS_UNREADABLE' | 'FACTORS_MISSING', message: string, options?: { cause?: unknown }) {
    super(code, code === 'PROMETHEUS_UNREACHABLE' ? 'retry' : code === 'NO_DATA' ? 'gone' : 'fatal', message, options);
    this.name = 'ReportError';
  }
}

/** A usage problem found only when asking the source (exit 2): a --match that Prometheus refuses. */
export class ReportUsageError extends InferwattError {
  constructor(message: string) {
    super('REPORT_USAGE', 'fatal', message);
    this.name = 'ReportUsageError';
  }
}
