/**
 * Thermal design power per CPU model (per socket, W), for the fallback estimate (docs/sensors.md). Each row names
 * its source. Two sources:
 * - CC: CodeCarbon's table, mlco2/codecarbon codecarbon/data/hardware/cpu_power.csv at commit
 *   75b4ca50f3fa337f1c31a574a6f5a177644031ad (MIT), itself compiled from vendor spec pages; rows copied as
 *   they are there. (Its EPYC 7F52 row, 155 W, disagrees with AMD's 240 W and is left out.)
 * - Vendor: the model's page on AMD's product site (amd.com/en/products/processors/server/epyc/…) or Intel
 *   ARK (intel.com/content/www/us/en/products/sku/…), "default TDP" / "TDP" / "Processor Base Power".
 * A curated subset: common server, workstation and desktop parts, plus the four CPUs of the recorded
 * load-vs-RAPL profiles (test/fixtures/cpu-load-vs-rapl). To add a CPU, add a row with its source; a
 * configured `tdpW` always wins over this table.
 */
export interface TdpRow {
  /** Model as vendors write it, without ®/™, "CPU", clock speed or core count. */
  readonly model: string;
  readonly tdpW: number;
  readonly source: 'CC' | 'AMD spec' | 'Intel ARK';
}

const cc = (model: string, tdpW: number): TdpRow => ({ model, tdpW, source: 'CC' });
const amd = (model: string, tdpW: number): TdpRow => ({ model, tdpW, source: 'AMD spec' });
const intel = (model: string, tdpW: number): TdpRow => ({ model, tdpW, source: 'Intel ARK' });

export const CPU_TDP_TABLE: readonly TdpRow[] = [
  // AMD EPYC 7001/7002/7003 (CC)
  cc('AMD EPYC 7232P', 120), cc('AMD EPYC 7251', 120), cc('AMD EPYC 7252', 120), cc('AMD EPYC 7262', 155),
  cc('AMD EPYC 7272', 120), cc('AMD EPYC 7282', 120), cc('AMD EPYC 72F3', 180), cc('AMD EPYC 7302', 155),
  cc('AMD EPYC 7302P', 155), cc('AMD EPYC 7313', 155), cc('AMD EPYC 7313P', 155), cc('AMD EPYC 7343', 190),
  cc('AMD EPYC 7351', 170), cc('AMD EPYC 7352', 155), cc('AMD EPYC 73F3', 240), cc('AMD EPYC 7401', 170),
  cc('AMD EPYC 7402', 180), cc('AMD EPYC 7402P', 180), cc('AMD EPYC 7413', 180), cc('AMD EPYC 7443', 200),
  cc('AMD EPYC 7443P', 200), cc('AMD EPYC 7452', 155), cc('AMD EPYC 7453', 225), cc('AMD EPYC 74F3', 240),
  cc('AMD EPYC 7501', 170), cc('AMD EPYC 7502', 180), cc('AMD EPYC 7502P', 180), cc('AMD EPYC 7513', 200),
  cc('AMD EPYC 7542', 225), cc('AMD EPYC 7543', 225), cc('AMD EPYC 7543P', 225), cc('AMD EPYC 7551', 180),
  cc('AMD EPYC 7552', 200), cc('AMD EPYC 75F3', 280), cc('AMD EPYC 7601', 180), cc('AMD EPYC 7642', 225),
  cc('AMD EPYC 7643', 225), cc('AMD EPYC 7662', 225), cc('AMD EPYC 7663', 240), cc('AMD EPYC 7702', 200),
  cc('AMD EPYC 7702P', 200), cc('AMD EPYC 7713', 225), cc('AMD EPYC 7713P', 225), cc('AMD EPYC 7742', 225),
  cc('AMD EPYC 7763', 280), cc('AMD EPYC 7B12', 240), cc('AMD EPYC 7F32', 180), cc('AMD EPYC 7F72', 240),
  cc('AMD EPYC 7H12', 280),
  // AMD EPYC 8004/9004/9005 (vendor pages, default TDP)
  amd('AMD EPYC 8024P', 90), amd('AMD EPYC 9124', 200), amd('AMD EPYC 9334', 210), amd('AMD EPYC 9354', 280),
  amd('AMD EPYC 9454', 290), amd('AMD EPYC 9554', 360), amd('AMD EPYC 9654', 360), amd('AMD EPYC 9965', 500),
  // AMD Threadripper and Ryzen (CC)
  cc('AMD Ryzen Threadripper 1950X', 180), cc('AMD Ryzen Threadripper 2950X', 180), cc('AMD Ryzen Threadripper 2990WX', 250),
  cc('AMD Ryzen Threadripper 3960X', 280), cc('AMD Ryzen Threadripper 3970X', 280), cc('AMD Ryzen Threadripper 3990X', 280),
  cc('AMD Ryzen Threadripper PRO 3995WX', 280), cc('AMD Ryzen Threadripper PRO 5995WX', 280),
  cc('AMD Ryzen 5 3600', 65), cc('AMD Ryzen 5 5600X', 65), cc('AMD Ryzen 7 3700X', 65), cc('AMD Ryzen 7 5800X', 105),
  cc('AMD Ryzen 9 3900X', 105), cc('AMD Ryzen 9 3950X', 105), cc('AMD Ryzen 9 5900X', 105), cc('AMD Ryzen 9 5950X', 105),
  // Intel Xeon E3/E5 (CC, except the v3/v4 rows from ARK)
  cc('Intel Xeon E3-1230 v2', 69), cc('Intel Xeon E3-1240', 80), cc('Intel Xeon E3-1240 v2', 69), cc('Intel Xeon E3-1270 v2', 69),
  cc('Intel Xeon E5-2620 v2', 80), cc('Intel Xeon E5-2630 v2', 80), cc('Intel Xeon E5-2640 v2', 95), cc('Intel Xeon E5-2650 v2', 95),
  cc('Intel Xeon E5-2660 v2', 95), cc('Intel Xeon E5-2670 v2', 115), cc('Intel Xeon E5-2680 v2', 115), cc('Intel Xeon E5-2690 v2', 130),
  cc('Intel Xeon E5-2697 v2', 130), cc('Intel Xeon E5-2673 v3', 110), cc('Intel Xeon E5-2660 v4', 105), cc('Intel Xeon E5-2680 v4', 120),
  intel('Intel Xeon E5-2620 v3', 85), intel('Intel Xeon E5-2630 v3', 85), intel('Intel Xeon E5-2650 v3', 105),
  intel('Intel Xeon E5-2680 v3', 120), intel('Intel Xeon E5-2690 v3', 135), intel('Intel Xeon E5-2620 v4', 85),
  intel('Intel Xeon E5-2630 v4', 85), intel('Intel Xeon E5-2650 v4', 105), intel('Intel Xeon E5-2690 v4', 135),
  // Intel Xeon Scalable (CC for 1st/2nd gen, ARK for 3rd/4th gen and Xeon 6)
  cc('Intel Xeon Bronze 3106', 85), cc('Intel Xeon Silver 4116', 85), cc('Intel Xeon Gold 6144', 150), cc('Intel Xeon Gold 6154', 200),
  cc('Intel Xeon Gold 6230N', 125), cc('Intel Xeon Platinum 8171M', 165), cc('Intel Xeon Platinum 8180', 205),
  cc('Intel Xeon Platinum 8259CL', 210), cc('Intel Xeon Platinum 8260', 165), cc('Intel Xeon Platinum 8268', 205),
  cc('Intel Xeon Platinum 8270', 205), cc('Intel Xeon Platinum 8276', 165), cc('Intel Xeon Platinum 8280', 205),
  intel('Intel Xeon Gold 6338', 205), intel('Intel Xeon Platinum 8358', 250), intel('Intel Xeon Platinum 8380', 270),
  intel('Intel Xeon Platinum 8468', 350), intel('Intel Xeon Platinum 8480+', 350), intel('Intel Xeon 6980P', 500),
  // Intel workstation and desktop (CC)
  cc('Intel Xeon W-2195', 140), cc('Intel Xeon W-2275', 165), cc('Intel Xeon W-3175X', 255),
  cc('Intel Core i5-8250U', 15), cc('Intel Core i5-10400', 65), cc('Intel Core i7-1165G7', 28), cc('Intel Core i7-8700', 65),
  cc('Intel Core i7-9700K', 95), cc('Intel Core i7-10700K', 125), cc('Intel Core i7-11700K', 125), cc('Intel Core i9-9900K', 95),
  cc('Intel Core i9-10900K', 125), cc('Intel Core i9-11900K', 125),
];

/** Lower case, without vendor marks, "CPU", "Processor", core counts and clock speed. */
export function normalizeCpuModel(s: string): string {
  return s
    .toLowerCase()
    .replace(/\((r|tm)\)|®|™/g, ' ')
    .replace(/@\s*[\d.]+\s*[gm]hz/g, ' ')
    .replace(/\b\d+-core\b/g, ' ')
    .replace(/\b(cpu|processor|genuineintel|authenticamd)\b/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

const normalizedTable = CPU_TDP_TABLE.map((row) => ({ row, key: normalizeCpuModel(row.model).replace(/^(amd|intel) /, '') }));

/**
 * Finds the TDP row for a CPU brand string (systeminformation `cpu()` manufacturer + brand, or
 * /proc/cpuinfo `model name`). The longest table model found in the brand as whole words wins, so
 * `Xeon E3-1240 V2` is not taken for `Xeon E3-1240`, nor `EPYC 7302P` for `EPYC 7302`; a model followed by a
 * version suffix (` v4`) that the row lacks does not match.
 */
export function lookupCpuTdp(brand: string): TdpRow | undefined {
  const b = normalizeCpuModel(brand);
  let best: { row: TdpRow; key: string } | undefined;
  for (const entry of normalizedTable) {
    let from = 0;
    for (let at = b.indexOf(entry.key, from); at >= 0; at = b.indexOf(entry.key, from)) {
      from = at + 1;
      const before = at === 0 ? ' ' : b[at - 1]!;
      const rest = b.slice(at + entry.key.length);
      if (/[a-z0-9+-]/.test(before) || /^[a-z0-9+]/.test(rest) || /^ v\d/.test(rest)) continue;
      if (!best || entry.key.length > best.key.length) best = entry;
      break;
    }
  }
  return best?.row;
}
