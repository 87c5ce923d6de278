import { cp, mkdtemp, mkdir, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Fake /sys/class/powercap trees in a temporary directory (Kepler and node_exporter keep such trees in
 * testdata). Either a copy of the recorded tree in test/fixtures/powercap, or one
 * built from zone specs; then the test moves the counters with `setEnergyUj` between reads.
 */
export const RECORDED_POWERCAP_ROOT = join(
  dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'powercap', 'node_exporter-sys', 'class', 'powercap',
);

export interface ZoneSpec {
  /** Directory name, e.g. `intel-rapl:0`, `intel-rapl:0:0`, `intel-rapl-mmio:0`. */
  dir: string;
  name: string;
  energyUj: number;
  /** null: no max_energy_range_uj file. Default 262143328850 (the recorded tree's value). */
  maxEnergyRangeUj?: number | null;
}

export interface PowercapTree {
  readonly root: string;
  setEnergyUj(dir: string, uj: number): Promise<void>;
  getEnergyUj(dir: string): Promise<number>;
  /** Replaces a zone's energy_uj file with a directory, so that reading it fails (EISDIR), even as root. */
  breakEnergyFile(dir: string): Promise<void>;
  /** Restores a regular energy_uj file after breakEnergyFile. */
  repairEnergyFile(dir: string, uj: number): Promise<void>;
  remove(): Promise<void>;
}

export const RECORDED_MAX_RANGE_UJ = 262143328850;

async function wrap(root: string, base: string): Promise<PowercapTree> {
  const energy = (dir: string) => join(root, dir, 'energy_uj');
  return {
    root,
    setEnergyUj: (dir, uj) => writeFile(energy(dir), `${uj}\n`),
    getEnergyUj: async (dir) => Number((await readFile(energy(dir), 'utf8')).trim()),
    async breakEnergyFile(dir) {
      await rm(energy(dir), { force: true });
      await mkdir(energy(dir));
    },
    async repairEnergyFile(dir, uj) {
      await rm(energy(dir), { recursive: true, force: true });
      await writeFile(energy(dir), `${uj}\n`);
    },
    remove: () => rm(base, { recursive: true, force: true }),
  };
}

/** A writable copy of the recorded node_exporter tree (package-0 with a core subzone). */
export async function copyRecordedTree(): Promise<PowercapTree> {
  const base = await mkdtemp(join(tmpdir(), 'inferwatt-powercap-'));
  const root = join(base, 'powercap');
  await cp(RECORDED_POWERCAP_ROOT, root, { recursive: true });
  return wrap(root, base);
}

/** Adds zones to an existing tree (e.g. a second socket next to the recorded one). */
export async function addZones(tree: PowercapTree, zones: readonly ZoneSpec[]): Promise<void> {
  for (const z of zones) {
    const d = join(tree.root, z.dir);
    await mkdir(d, { recursive: true });
    await writeFile(join(d, 'name'), `${z.name}\n`);
    await writeFile(join(d, 'energy_uj'), `${z.energyUj}\n`);
    const max = z.maxEnergyRangeUj === undefined ? RECORDED_MAX_RANGE_UJ : z.maxEnergyRangeUj;
    if (max !== null) await writeFile(join(d, 'max_energy_range_uj'), `${max}\n`);
    await writeFile(join(d, 'enabled'), '1\n');
  }
}

/** A tree of the given zones only, plus the `intel-rapl` control-type directory the kernel also lists. */
export async function createPowercapTree(zones: readonly ZoneSpec[]): Promise<PowercapTree> {
  const base = await mkdtemp(join(tmpdir(), 'inferwatt-powercap-'));
  const root = join(base, 'powercap');
  await mkdir(join(root, 'intel-rapl'), { recursive: true });
  await writeFile(join(root, 'intel-rapl', 'enabled'), '1\n');
  const tree = await wrap(root, base);
  await addZones(tree, zones);
  return tree;
}

/** Removes a file from the tree (e.g. max_energy_range_uj). */
export async function removeFile(tree: PowercapTree, dir: string, file: string): Promise<void> {
  await rm(join(tree.root, dir, file), { force: true });
}
