import type { AttributedRequest } from '../attribution/types.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { RequestNotes } from '../core/request-notes.js';
import type { Factors } from '../impacts/types.js';
import type { MetricsCatalogue } from './metrics.js';
import { createRecordBuilder, type RequestRecord } from './record.js';
import type { RecordStore } from './record-store.js';

/**
 * Where a final attribution goes: impacts at the factors in force, the proxy's note on the request
 * (trace context, why it did not end ok), then the metrics, the store (API, JSONL) and any listener. A
 * record that cannot be finished is logged and counted nowhere else; it never throws into the ledger.
 */
export function createRecordSink(deps: {
  factors: () => Factors;
  notes: RequestNotes;
  metrics: MetricsCatalogue;
  store: RecordStore;
  onRecord?: ((rec: RequestRecord) => void) | undefined;
  logger: Logger;
}): (a: AttributedRequest) => void {
  const buildRecord = createRecordBuilder();
  return (a) => {
    try {
      const rec = buildRecord(a, deps.factors(), deps.notes.take(a.id));
      // The catalogue first: it gives the record's model and tenant their label slots if the upstream
      // served it (label-bounder.ts), and the store's summary keys are the same labels.
      deps.metrics.observeRecord(rec);
      deps.store.add(rec);
      deps.onRecord?.(rec);
    } catch (err) {
      deps.logger.rateLimited('error', 'record', `could not finish a record: ${errorMessage(err)}`);
    }
  };
}
