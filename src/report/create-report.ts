/**
 * `inferwatt report` without the CLI: reads a source (Prometheus or records files) over a period,
 * groups, converts and states the method (docs/report.md). The renderers turn the result into text.
 */
import { createReportAccumulator } from './accumulator.js';
import { buildReport, type EmbodiedConfig } from './build-report.js';
import { createFactorCiter } from './cite-factors.js';
import { createMarketLookup, type MarketFactorRow } from './market-factors.js';
import { chartStepS, type Period } from './period.js';
import { createPrometheusClient } from './prometheus-client.js';
import { readPrometheus } from './prometheus-source.js';
import { readRecords } from './records-source.js';
import { ReportError, type SourceFacts } from './source.js';
import type { GroupKey, Report, ReportSource } from './types.js';

export interface ReportOptions {
  source: ReportSource;
  period: Period;
  by: readonly GroupKey[];
  market: readonly MarketFactorRow[];
  embodied: EmbodiedConfig;
  version: string;
  nowMs: number;
  /** Prometheus: the period is read in chunks of this length (prometheus-source.ts). */
  chunkMs?: number;
  /** Prometheus: how far before the period to look for each series' value at its start. */
  lookbackMs?: number;
  fetch?: typeof fetch;
  factorsDir?: string;
}

export const METHOD = 'exact counter increases from raw samples (value at the end minus value at the start, across restarts; never increase()); SCI 1.1 (ISO/IEC 21031:2024), location-based';
/** From records files, the totals are sums of the records whose request ended in the period. */
export const METHOD_RECORDS = 'sums of the request records that ended in the period; SCI 1.1 (ISO/IEC 21031:2024), location-based';

export const SCI_CITATION = 'Green Software Foundation, Software Carbon Intensity (SCI) Specification 1.1.0 (ISO/IEC 21031:2024), https://github.com/Green-Software-Foundation/sci/blob/main/SPEC.md';

export async function createReport(opts: ReportOptions): Promise<Report> {
  const market = createMarketLookup(opts.market);
  const stepS = chartStepS(opts.period);
  const acc = createReportAccumulator({ by: opts.by, fromMs: opts.period.fromMs, toMs: opts.period.toMs, stepMs: stepS * 1000, market });
  let facts: SourceFacts;
  if (opts.source.kind === 'prometheus') {
    const client = createPrometheusClient(opts.source.url, opts.fetch ? { fetch: opts.fetch } : {});
    facts = await readPrometheus({ client, match: opts.source.match, period: opts.period, acc, ...(opts.chunkMs ? { chunkMs: opts.chunkMs } : {}), ...(opts.lookbackMs ? { lookbackMs: opts.lookbackMs } : {}) });
  } else {
    facts = await readRecords(opts.source.files, opts.period, acc);
    if (!facts.anyData) {
      throw new ReportError('NO_DATA', `no data in range: no request record in ${opts.source.files.join(', ')} ended between ${iso(opts.period.fromMs)} and ${iso(opts.period.toMs)}`);
    }
  }

  const e = opts.embodied;
  const embodiedConfigured = e.hostKgCo2e !== null && e.lifetimeYears !== null;
  const policyText: Record<string, string> = {
    time: 'time: the energy of each piece of time goes to the requests active in it, in equal shares',
    tokens: 'tokens: the energy of each piece of time goes to the requests active in it, by (promptTokenWeight × prompt + completion) tokens per second',
    learned: 'learned: the energy of each piece of time goes to the requests active in it, by each one\'s power learned from the measured energy (its model\'s J per prompt token over its prefill, J per completion token over its decode); models not learned yet by tokens',
    unattributed: 'idle unattributed: energy while no request runs is kept apart (the idle column)',
    amortize: 'idle amortize: idle energy is spread over the requests that ended in the same window, and is in their attributed energy',
  };
  return buildReport({
    measurements: acc.measurements(),
    by: opts.by,
    hostSpanMs: facts.hostSpanMs,
    embodied: e,
    marketConfigured: market.configured,
    cite: createFactorCiter(opts.factorsDir),
    frame: {
      period: { from: iso(opts.period.fromMs), to: iso(opts.period.toMs) },
      source: opts.source,
      groupBy: [...opts.by],
      boundary: {
        devices: facts.devices,
        hosts: facts.hosts,
        idle: facts.idle,
        pue: 'facility energy = IT energy × the PUE each agent had in force (applied once); on-site water per IT kWh (WUE), off-site water per facility kWh (EWIF)',
        embodied: embodiedConfigured
          ? `included: ${e.hostKgCo2e} kgCO2e per host over ${e.lifetimeYears} years (${e.source}${e.year !== null ? `, ${e.year}` : ''}), charged by the time each host was covered in the period (SCI time share; resource share 1, the host serving inference), shared over its groups by attributed energy`
          : 'not included: impacts.embodied is not configured, so M = 0 in the SCI figures',
        excluded: [
          'network and storage equipment outside the measured hosts, and hosts without an agent',
          'devices of a host that no sensor measures (see the devices above)',
          'training and fine-tuning of the models, end-user devices',
          'requests that bypass the proxy: their energy is in the host\'s idle energy, not in any group',
        ],
      },
      attribution: {
        policy: facts.attribution.policy,
        idle: facts.attribution.idle,
        note: [...facts.attribution.policy, ...facts.attribution.idle].map((p) => policyText[p] ?? p).join('; ') || 'unknown',
      },
      coverage: { instances: facts.coverage, notes: facts.notes },
      tool: { name: 'inferwatt', version: opts.version, generatedAt: iso(opts.nowMs), method: opts.source.kind === 'prometheus' ? METHOD : METHOD_RECORDS },
    },
  });
}

const iso = (ms: number) => new Date(ms).toISOString();
