import { createFakeClock, type FakeClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { createEnergyTimeline } from '../../src/energy/timeline.js';
import type { EnergyTimeline } from '../../src/energy/types.js';
import type { DeviceInfo, DeviceKind } from '../../src/sensors/types.js';
import { createLedger, type Ledger, type LedgerOptions } from '../../src/attribution/ledger.js';
import type { AttributedRequest } from '../../src/attribution/types.js';

export function device(id: string, kind: DeviceKind = 'gpu'): DeviceInfo {
  return { id, kind, method: 'counter', sensor: 'simulated', name: id };
}

/** Counter readings from t0 to t1 (inclusive) every stepMs of a device drawing `watts` since t = 0. */
export function feedConstant(tl: EnergyTimeline, id: string, watts: number, t0: number, t1: number, stepMs: number): void {
  for (let t = t0; t <= t1; t += stepMs) tl.append({ device: id, tMs: t, energyJ: (watts * t) / 1000 });
}

export interface Harness {
  clock: FakeClock;
  timeline: EnergyTimeline;
  ledger: Ledger;
  records: Map<string, AttributedRequest>;
}

export function harness(devices: DeviceInfo[], opts: Partial<LedgerOptions> & Pick<LedgerOptions, 'policy' | 'idle'>): Harness {
  const clock = createFakeClock(0);
  const timeline = createEnergyTimeline({ devices });
  const ledger = createLedger({
    timeline,
    clock,
    logger: silentLogger,
    pools: { default: devices.map((d) => d.id) },
    ...opts,
  });
  const records = new Map<string, AttributedRequest>();
  ledger.onFinal((r) => records.set(r.id, r));
  return { clock, timeline, ledger, records };
}
