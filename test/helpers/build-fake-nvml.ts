/**
 * Builds the stand-in libnvidia-ml.so.1 (test/native/fake-nvml.c) with gcc, once per source version:
 * the output lives under .tmp/fake-nvml/<hash of source and flags>/, so repeated test runs and test
 * files running in parallel reuse it. Two variants: `modern` (exports nvmlDeviceGetTotalEnergyConsumption,
 * a Volta-or-newer driver) and `no-energy` (compiled with -DNO_ENERGY: an old driver without the symbol).
 * Call it from a beforeAll; gcc takes well under a second.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FAKE_NVML_SOURCE = join(ROOT, 'test', 'native', 'fake-nvml.c');

export type FakeNvmlVariant = 'modern' | 'no-energy';

/** Returns the absolute path of a built libnvidia-ml.so.1 for the variant. */
export async function buildFakeNvml(variant: FakeNvmlVariant = 'modern'): Promise<string> {
  const flags = ['-shared', '-fPIC', '-O2', '-Wall', '-pthread', ...(variant === 'no-energy' ? ['-DNO_ENERGY'] : [])];
  const source = readFileSync(FAKE_NVML_SOURCE);
  const hash = createHash('sha256').update(source).update(flags.join(' ')).digest('hex').slice(0, 16);
  const dir = join(ROOT, '.tmp', 'fake-nvml', `${variant}-${hash}`);
  const lib = join(dir, 'libnvidia-ml.so.1');
  if (existsSync(lib)) return lib;
  mkdirSync(dir, { recursive: true });
  // Build to a unique name and rename: two test files building at once never see half a library.
  const partial = `${lib}.${process.pid}.${Date.now()}.tmp`;
  await run('gcc', [...flags, '-o', partial, FAKE_NVML_SOURCE]);
  renameSync(partial, lib);
  return lib;
}

/** Values of the fake's control file; see the key list at the top of test/native/fake-nvml.c. */
export type FakeNvmlConfig = Record<string, string | number>;

/**
 * Writes the control file atomically (a new file renamed into place): the fake re-reads it when its
 * inode, mtime or size changes, at the next NVML call.
 */
export function writeFakeNvmlConfig(path: string, config: FakeNvmlConfig): void {
  const text = Object.entries(config).map(([k, v]) => `${k}=${v}`).join('\n') + '\n';
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}
