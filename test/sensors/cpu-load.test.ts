import { describe, expect, it } from 'vitest';
import { createCpuLoadReader, parseProcStat } from '../../src/sensors/cpu-load.js';

// The first three lines of /proc/stat on the 2-vCPU development VM (Linux 6.18), read 1 s apart while
// a bench ran (2 s of CPU in the second, all busy: idle did not move), then an earlier, quieter reading.
const STAT_A = 'cpu  112233 0 18116 106002 513 0 5423 112 0 0\ncpu0 55882 0 8807 53837 83 0 2659 62 0 0\ncpu1 56350 0 9308 52165 430 0 2764 50 0 0\n';
const STAT_B = 'cpu  112421 0 18129 106002 513 0 5423 113 0 0\ncpu0 55976 0 8813 53837 83 0 2659 63 0 0\ncpu1 56444 0 9316 52165 430 0 2764 50 0 0\n';
const STAT_EARLIER = 'cpu  109791 0 17965 106001 513 0 5421 111 0 0\ncpu0 54657 0 8736 53837 83 0 2658 61 0 0\ncpu1 55133 0 9228 52164 430 0 2763 50 0 0\n';

describe('CPU load from /proc/stat (estimate sensor)', () => {
  it('parses the aggregate line: busy = user + nice + system + irq + steal + guest; iowait and softirq are not busy', () => {
    expect(parseProcStat(STAT_EARLIER)).toEqual({ busy: 109791 + 17965 + 0 + 111 + 0, total: 109791 + 17965 + 111 + 106001 });
    // an old kernel's four fields only
    expect(parseProcStat('cpu  10 2 3 85\n')).toEqual({ busy: 15, total: 100 });
    expect(parseProcStat('intr 1 2 3\n')).toBeUndefined();
    expect(parseProcStat('cpu  10 x 3 85\n')).toBeUndefined();
  });

  it('gives the busy share of the ticks between two reads, and repeats it when no tick passed', async () => {
    const texts = [STAT_EARLIER, STAT_EARLIER, STAT_A, STAT_B, STAT_B];
    let i = 0;
    const load = createCpuLoadReader({ readText: () => texts[Math.min(i++, texts.length - 1)]! });
    // created with one read (to choose the source); the first load is since boot
    expect(await load()).toBeCloseTo((109791 + 17965 + 111) / (109791 + 17965 + 111 + 106001), 12);
    const dBusy = (112233 - 109791) + (18116 - 17965) + (112 - 111);
    expect(await load()).toBeCloseTo(dBusy / (dBusy + 1), 12); // idle moved by one tick
    expect(await load()).toBe(1); // all 202 ticks busy
    expect(await load()).toBe(1); // STAT_B again: no tick passed, the same value
  });

  it('reads anew on every call, however soon: no reading repeats an older window (that would lag power behind work)', async () => {
    const texts = [STAT_EARLIER, STAT_EARLIER, STAT_A, STAT_B];
    let i = 0;
    const load = createCpuLoadReader({ readText: () => texts[Math.min(i++, texts.length - 1)]! });
    await load(); // since boot
    const dBusy = (112233 - 109791) + (18116 - 17965) + (112 - 111);
    expect(await load()).toBeCloseTo(dBusy / (dBusy + 1), 12); // read at once, not the previous value
    expect(i).toBe(3);
    expect(await load()).toBe(1);
    expect(i).toBe(4);
  });

  it('falls back to os.cpus() where /proc/stat cannot be read', async () => {
    const load = createCpuLoadReader({ readText: () => { throw new Error('ENOENT'); } });
    const l = await load();
    expect(l).toBeGreaterThanOrEqual(0);
    expect(l).toBeLessThanOrEqual(1);
  });
});
