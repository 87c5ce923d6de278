/**
 * A histogram on a prom-client registry whose values live in request-series.ts instead of in a
 * prom-client Histogram: the registry asks it for its values at scrape time, and renders them as it
 * renders prom-client's own histograms (the same `values` shape: cumulative `_bucket` series with `le`
 * first, `+Inf`, `_sum`, `_count`, and in OpenMetrics one exemplar per bucket). prom-client's Histogram
 * has no way to be filled from counts kept elsewhere, hence this small object; what the registry calls
 * on it is `get()` (text and JSON) and `reset()`.
 */
import type { Metric, Registry, RegistryContentType } from 'prom-client';
import type { HistogramSeries } from './request-series.js';

export interface SeriesHistogramOptions<L extends string> {
  name: string;
  help: string;
  buckets: readonly number[];
  /** The series to show now, with their labels, in the order to show them. */
  series: () => Iterable<{ labels: Readonly<Record<L, string>>; histogram: HistogramSeries }>;
}

interface Value {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
  exemplar?: { labelSet: { request_id: string }; value: number; timestamp: number } | null;
}

function exemplarOf(h: HistogramSeries, bucket: number): Value['exemplar'] {
  const id = h.exemplarIds[bucket];
  return id === undefined ? null : { labelSet: { request_id: id }, value: h.exemplarValues[bucket]!, timestamp: h.exemplarWallMs[bucket]! / 1000 };
}

export function registerSeriesHistogram<L extends string>(registry: Registry<RegistryContentType>, opts: SeriesHistogramOptions<L>): void {
  const { name, help, buckets } = opts;
  const bucketName = `${name}_bucket`;
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    async get() {
      const values: Value[] = [];
      for (const { labels, histogram: h } of opts.series()) {
        let acc = 0;
        for (let b = 0; b < buckets.length; b++) {
          acc += h.counts[b]!;
          values.push({ labels: { le: buckets[b]!, ...labels }, value: acc, metricName: bucketName, exemplar: exemplarOf(h, b) });
        }
        values.push({ labels: { le: '+Inf', ...labels }, value: h.count, metricName: bucketName, exemplar: exemplarOf(h, buckets.length) });
        values.push({ labels: { ...labels }, value: h.sum, metricName: `${name}_sum` });
        values.push({ labels: { ...labels }, value: h.count, metricName: `${name}_count` });
      }
      return { name, help, type: 'histogram', values, aggregator: 'sum' };
    },
    reset() { /* the series are the request-series' to keep */ },
  };
  // Not one of prom-client's classes: the registry only reads name, type and get() (and calls reset()).
  registry.registerMetric(metric as unknown as Metric<string>);
}
