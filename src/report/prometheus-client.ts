/**
 * The few calls of the Prometheus HTTP API a report makes (instant queries, POSTed so that long
 * selectors fit), with failures turned into messages that say what is wrong.
 */
import { errorMessage } from '../core/errors.js';
import { ReportError } from './source.js';

export interface PromSeries {
  metric: Record<string, string>;
  /** An instant vector's sample. */
  value?: [number, string];
  /** A range vector's raw samples, in time order. */
  values?: [number, string][];
}

export interface PrometheusClient {
  readonly url: string;
  /** Instant query at `timeMs`; a PromQL error (HTTP 400/422) rejects with PromQueryError. */
  query(expr: string, timeMs: number): Promise<PromSeries[]>;
}

export class PromQueryError extends Error {
  constructor(readonly expr: string, readonly promMessage: string) {
    super(`Prometheus refused the query ${expr}: ${promMessage}`);
    this.name = 'PromQueryError';
  }
}

export function createPrometheusClient(baseUrl: string, opts: { timeoutMs?: number; fetch?: typeof fetch } = {}): PrometheusClient {
  const url = baseUrl.replace(/\/+$/, '');
  const doFetch = opts.fetch ?? fetch;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return {
    url,
    async query(expr, timeMs) {
      let res: Response;
      try {
        res = await doFetch(`${url}/api/v1/query`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ query: expr, time: (timeMs / 1000).toFixed(3) }).toString(),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        const cause = (err as { cause?: unknown }).cause;
        const why = cause ? errorMessage(cause) : errorMessage(err);
        throw new ReportError('PROMETHEUS_UNREACHABLE', `Prometheus at ${url} is unreachable (${why})`, { cause: err });
      }
      const text = await res.text();
      let body: { status?: string; data?: { resultType: string; result: unknown }; error?: string; errorType?: string };
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        throw new ReportError('PROMETHEUS_ERROR', `${url} does not answer like Prometheus (HTTP ${res.status} from /api/v1/query, not JSON): is it the Prometheus server's address?`);
      }
      if (body.status !== 'success') {
        if (res.status === 400 || res.status === 422) throw new PromQueryError(expr, body.error ?? `HTTP ${res.status}`);
        throw new ReportError('PROMETHEUS_ERROR', `Prometheus at ${url} failed the query ${expr}: ${body.error ?? `HTTP ${res.status}`}`);
      }
      const data = body.data!;
      if (data.resultType === 'matrix' || data.resultType === 'vector') return data.result as PromSeries[];
      return [{ metric: {}, value: data.result as [number, string] }];
    },
  };
}
