import { Counter, Gauge, type Registry, type RegistryContentType } from 'prom-client';
import type { LedgerStats } from '../attribution/types.js';

/** The proxy's own failure counts (they never break a request; these say how often they happened). */
export interface ProxySelfStats {
  /** Body taps that threw: the request went on, its token counts were lost. */
  readonly tapFailures: number;
  /** Calls into the ledger that threw: the request went on, its window may be missing. */
  readonly trackerFailures: number;
}

/**
 * The agent's metrics about itself, as node_exporter exports each collector's own success: how often the
 * ledger had to deviate from its rule (events clamped, segments split before their windows ended, records
 * finalised because the sensors lagged, pieces no sensor covered) and how often the proxy's taps failed.
 * Read from the stages' counters at scrape time; a climbing one means records that say complete: false,
 * or a split that fell back to time shares (docs/runbooks.md).
 */
export function registerSelfMetrics(
  registry: Registry<RegistryContentType>,
  ledger: () => LedgerStats,
  proxy: () => ProxySelfStats,
): void {
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({ name, help, registers: [registry], collect() { this.reset(); this.inc(Math.max(0, read())); } });
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({ name, help, registers: [registry], collect() { this.set(read()); } });
  counter('inferwatt_ledger_late_events_total', 'Window starts and ends that arrived after the ledger had processed past their time; clamped, and the request\'s record says complete: false.', () => ledger().lateEvents);
  counter('inferwatt_ledger_forced_splits_total', 'Held segments split before all their windows ended (hold bounds, sensor lag, shutdown); open windows in them counted as time shares.', () => ledger().forcedSplits);
  counter('inferwatt_ledger_lag_finalised_total', 'Records finalised with complete: false because the sensors lagged past attribution.lagBoundMs.', () => ledger().lagFinalised);
  counter('inferwatt_ledger_uncovered_pieces_total', 'Device pieces no reading covered (a lost or silent device), counted as 0 J, not measured.', () => ledger().uncoveredPieces);
  counter('inferwatt_ledger_unknown_pool_requests_total', 'Requests for a pool the ledger does not know, recorded with 0 J.', () => ledger().unknownPool);
  counter('inferwatt_ledger_ignored_calls_total', 'Window updates and ends ignored (after the end, a second end, a non-finite time).', () => ledger().ignoredCalls);
  gauge('inferwatt_ledger_held_segments', 'Segments held waiting for the token counts of open windows (tokens policy).', () => ledger().heldSegments);
  gauge('inferwatt_ledger_pending_records', 'Requests whose record is not final yet (waiting for the sensors or their amortization window).', () => ledger().pendingWindows);
  counter('inferwatt_proxy_tap_failures_total', 'Response or request body readers that failed; the request went on without its token counts.', () => proxy().tapFailures);
  counter('inferwatt_proxy_tracker_failures_total', 'Calls from the proxy into the ledger that failed; the request went on, its record may be missing.', () => proxy().trackerFailures);
}
