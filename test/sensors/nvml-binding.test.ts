/**
 * Loading libnvidia-ml.so.1 on a host without the NVIDIA driver: the reason for skipping the nvml sensor
 * says what happened once, not the same loader error repeated for each of the places tried.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_NVML_PATHS, loadNvmlLibrary, type KoffiLike } from '../../src/sensors/nvml-binding.js';

const koffiFailing = (message: (path: string) => string): KoffiLike => ({
  load: (path: string) => { throw new Error(message(path)); },
  out: (t: unknown) => t,
  pointer: (t: unknown) => t,
  struct: (d: unknown) => d,
});

describe('loadNvmlLibrary failure reasons', () => {
  it('the same "no such file" from every candidate: said once, each place named once, and the flag', () => {
    const r = loadNvmlLibrary(koffiFailing(() => 'Failed to load shared library: cannot open shared object file: No such file or directory'), DEFAULT_NVML_PATHS);
    expect(r.ok).toBe(false);
    const reason = (r as { reason: string }).reason;
    expect(reason).toBe("libnvidia-ml.so.1 not found (the NVIDIA driver's library) in the loader's path, /usr/lib/x86_64-linux-gnu, /usr/lib/aarch64-linux-gnu, "
      + '/usr/lib64, /usr/lib, /usr/local/nvidia/lib64, /usr/local/nvidia/lib, /usr/lib/wsl/lib, /run/nvidia/driver/usr/lib/x86_64-linux-gnu; --nvml-lib PATH names it');
    expect(reason.length).toBeLessThan(300);
  });

  it('different errors are each given once, with the paths they came from', () => {
    const r = loadNvmlLibrary(koffiFailing((p) => (p.startsWith('/usr/lib64') ? 'Failed to load shared library: wrong ELF class: ELFCLASS32' : 'Failed to load shared library: cannot open shared object file: No such file or directory')), DEFAULT_NVML_PATHS);
    const reason = (r as { reason: string }).reason;
    expect(reason).toBe(`libnvidia-ml.so.1 not loadable: /usr/lib64/libnvidia-ml.so.1: wrong ELF class: ELFCLASS32 (not found in the ${DEFAULT_NVML_PATHS.length - 1} other places)`);
  });

  it('an explicit --nvml-lib path that does not load says so with the loader\'s error', () => {
    const r = loadNvmlLibrary(koffiFailing(() => 'Failed to load shared library: cannot open shared object file: No such file or directory'), ['/opt/x/libnvidia-ml.so.1']);
    expect((r as { reason: string }).reason).toBe('libnvidia-ml.so.1 not loadable: /opt/x/libnvidia-ml.so.1: cannot open shared object file: No such file or directory');
  });
});
