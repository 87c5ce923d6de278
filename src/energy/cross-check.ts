import type { EnergyTimeline } from './types.js';

export interface CrossCheckEnergy {
  device: string;
  nvmlJ: number;
  nvidiaSmiJ: number;
}

/**
 * Cross-check mode (`--gpu-cross-check`): each GPU's energy by the NVML counter (`main`) and by nvidia-smi
 * integration (`smi`) over the span both timelines hold (their first and last samples differ by up to an
 * interval), so that the two are comparable. Recomputed at each scrape (docs/nvml.md, cross-check mode).
 */
export function crossCheckEnergies(main: EnergyTimeline, smi: EnergyTimeline): CrossCheckEnergy[] {
  const out: CrossCheckEnergy[] = [];
  for (const d of smi.devices()) {
    const a = main.series(d.id);
    const b = smi.series(d.id);
    if (!a || !b) continue;
    const t0 = Math.max(a.retainedFromMs() ?? Infinity, b.retainedFromMs() ?? Infinity);
    const t1 = Math.min(a.coveredUntilMs() ?? -Infinity, b.coveredUntilMs() ?? -Infinity);
    if (!(t1 > t0)) continue;
    const nvmlJ = main.energyBetween(d.id, t0, t1);
    const nvidiaSmiJ = smi.energyBetween(d.id, t0, t1);
    if (nvmlJ !== undefined && nvidiaSmiJ !== undefined) out.push({ device: d.id, nvmlJ, nvidiaSmiJ });
  }
  return out;
}
