import { join } from 'node:path';
import type { DeviceKind } from './types.js';

/**
 * Which powercap zones to count, decided from each zone's `name` file (never from its index: the kernel
 * numbers zones in registration order, and `intel-rapl:1` is `psys` on some laptops, a second socket on
 * servers).
 *
 * The Linux powercap tree (Documentation/power/powercap/powercap.rst) lists every zone flat under
 * /sys/class/powercap: `intel-rapl:N` top-level zones (`package-N`, or `psys`), `intel-rapl:N:M`
 * subzones of zone N (`core` = PP0, `uncore` = PP1/graphics, `dram`), and, on Tiger Lake and later
 * clients, `intel-rapl-mmio:N` (the same package domain read through MMIO instead of MSRs).
 *
 * Rules:
 * - `package-N` (also `package-N-die-M` on multi-die parts): counted, device `package-N`, kind cpu.
 * - `dram` subzone: counted, device `dram-N` after its parent package's name, kind dram. DRAM is a
 *   separate RAPL domain, not part of the package, so adding it does not double count (Intel SDM vol. 3B,
 *   §15.10 "Platform Specific Power Management Support": PKG, PP0, PP1, DRAM, PSys domains).
 * - `core` and `uncore` subzones: never counted; they are parts of the package (PP0/PP1 ⊂ PKG).
 * - `intel-rapl-mmio:*`: dropped when an MSR zone has the same name (it is the same counter twice);
 *   used only for a package that no MSR zone covers.
 * - `psys` (platform) covers package, DRAM and more (SoC, PCH, some board power). It is never added to
 *   package/DRAM zones. `psys: 'fallback'` (default) uses it alone only when no package zone exists;
 *   `psys: 'prefer'` uses it alone whenever it exists (a laptop measured at the platform); `'never'` ignores it.
 *
 * AMD: since Linux 5.11 ("powercap: Add AMD Fam17h RAPL support") the same intel_rapl powercap driver
 * registers Zen/Zen2+ packages as `intel-rapl:N` named `package-N` (usually with a `core` subzone and no
 * `dram`), so the rules above apply unchanged. The older `amd_energy` driver is hwmon, not powercap, and is
 * not read here.
 */
export type PsysPolicy = 'fallback' | 'prefer' | 'never';

export interface RawZone {
  /** Directory name under the root, e.g. `intel-rapl:0:0`. */
  readonly dir: string;
  /** Contents of its `name` file, trimmed. */
  readonly name: string;
}

export interface SelectedZone {
  readonly dir: string;
  readonly path: string;
  readonly deviceId: string;
  readonly kind: DeviceKind;
  readonly zoneName: string;
  readonly notes: string[];
}

export interface ZoneSelection {
  readonly selected: SelectedZone[];
  /** Zones seen and not counted, with why: shown by `inferwatt sensors`. */
  readonly skipped: { dir: string; name: string; why: string }[];
}

const ZONE_DIR = /^(intel-rapl(?:-mmio)?):(\d+)((?::\d+)*)$/;
const PACKAGE = /^package-(\d+)(?:-die-(\d+))?$/;

export function isRaplZoneDir(dir: string): boolean {
  return ZONE_DIR.test(dir);
}

export function selectZones(root: string, zones: readonly RawZone[], psys: PsysPolicy = 'fallback'): ZoneSelection {
  const selected: SelectedZone[] = [];
  const skipped: { dir: string; name: string; why: string }[] = [];
  const byDir = new Map(zones.map((z) => [z.dir, z]));
  // Stable order: MSR zones before MMIO, then by the numeric path.
  const sorted = [...zones].sort((a, b) => zoneSortKey(a.dir).localeCompare(zoneSortKey(b.dir)));

  const msrPackageNames = new Set(
    sorted.filter((z) => z.dir.startsWith('intel-rapl:') && PACKAGE.test(z.name)).map((z) => z.name),
  );
  const packages: SelectedZone[] = [];
  const drams: SelectedZone[] = [];
  const psysZones: RawZone[] = [];
  const usedIds = new Set<string>();

  for (const z of sorted) {
    const m = ZONE_DIR.exec(z.dir);
    if (!m) continue;
    const [, controlType, top, sub] = m;
    const isMmio = controlType === 'intel-rapl-mmio';
    const pkg = PACKAGE.exec(z.name);
    if (pkg) {
      if (sub) { skipped.push({ dir: z.dir, name: z.name, why: 'package-named subzone; unexpected layout' }); continue; }
      if (isMmio && msrPackageNames.has(z.name)) {
        skipped.push({ dir: z.dir, name: z.name, why: `MMIO duplicate of the MSR zone named ${z.name}` });
        continue;
      }
      const id = z.name;
      if (usedIds.has(id)) { skipped.push({ dir: z.dir, name: z.name, why: `second zone named ${z.name}` }); continue; }
      usedIds.add(id);
      packages.push({
        dir: z.dir, path: join(root, z.dir), deviceId: id, kind: 'cpu', zoneName: z.name,
        notes: [`RAPL zone ${z.dir} (${z.name})${isMmio ? ' read through MMIO (no MSR zone of this name)' : ''}`],
      });
      continue;
    }
    if (z.name === 'core' || z.name === 'uncore') {
      skipped.push({ dir: z.dir, name: z.name, why: `${z.name} is part of its package (PP0/PP1 ⊂ PKG): not added` });
      continue;
    }
    if (z.name === 'dram') {
      if (isMmio) { skipped.push({ dir: z.dir, name: z.name, why: 'MMIO dram zone: duplicate of the MSR one' }); continue; }
      const parent = sub ? byDir.get(`${controlType}:${top}`) : undefined;
      const parentPkg = parent ? PACKAGE.exec(parent.name) : null;
      // Name the DRAM after its package's name; without one (unusual layout), after the zone path.
      const suffix = parentPkg ? parent!.name.slice('package-'.length) : `${top}${sub ? sub.replace(/:/g, '-') : ''}`;
      const id = `dram-${suffix}`;
      if (usedIds.has(id)) { skipped.push({ dir: z.dir, name: z.name, why: `second dram zone for ${id}` }); continue; }
      usedIds.add(id);
      drams.push({
        dir: z.dir, path: join(root, z.dir), deviceId: id, kind: 'dram', zoneName: z.name,
        notes: [`RAPL zone ${z.dir} (dram${parent ? ` of ${parent.name}` : ''}); a separate domain, not part of the package`],
      });
      continue;
    }
    if (z.name === 'psys') {
      if (isMmio) { skipped.push({ dir: z.dir, name: z.name, why: 'MMIO psys zone: duplicate of the MSR one' }); continue; }
      psysZones.push(z);
      continue;
    }
    skipped.push({ dir: z.dir, name: z.name, why: `unknown zone name "${z.name}"` });
  }

  const firstPsys = psysZones[0];
  const usePsys = firstPsys !== undefined && (psys === 'prefer' || (psys === 'fallback' && packages.length === 0));
  if (usePsys) {
    for (const z of [...packages, ...drams]) {
      skipped.push({ dir: z.dir, name: z.zoneName, why: `covered by psys (${firstPsys.dir}); psys=${psys}` });
    }
    selected.push({
      dir: firstPsys.dir, path: join(root, firstPsys.dir), deviceId: 'psys', kind: 'cpu', zoneName: 'psys',
      notes: [
        `RAPL zone ${firstPsys.dir} (psys): platform energy, covering package, DRAM and other SoC/platform power`,
        psys === 'prefer' ? 'psys preferred by configuration; package and dram zones not added' : 'no package zone: psys used alone',
      ],
    });
    for (const z of psysZones.slice(1)) skipped.push({ dir: z.dir, name: z.name, why: 'second psys zone' });
  } else {
    selected.push(...packages, ...drams);
    for (const z of psysZones) {
      skipped.push({
        dir: z.dir, name: z.name,
        why: psys === 'never' ? 'psys ignored by configuration' : 'psys covers the package and dram zones already counted: not added',
      });
    }
  }
  return { selected, skipped };
}

function zoneSortKey(dir: string): string {
  const m = ZONE_DIR.exec(dir);
  if (!m) return `z${dir}`;
  const nums = [m[2], ...(m[3] ?? '').split(':').filter(Boolean)].map((n) => n!.padStart(4, '0')).join(':');
  return `${m[1] === 'intel-rapl' ? 'a' : 'b'}${nums}`;
}
