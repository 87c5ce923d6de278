/**
 * The built CLI when its reader goes away early (`inferwatt factors | head -1`): it stops quietly with the
 * command's status, as Unix tools do, instead of dying on an unhandled EPIPE with a stack trace.
 * Runs bin/inferwatt.js, so it needs `npm run build` first (scripts/test.sh builds before the tests).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const BIN = join(__dirname, '..', 'bin', 'inferwatt.js');

describe('inferwatt writing to a pipe that closes', () => {
  it('factors into a reader that closes after its first line: exit 0, nothing on stderr', async () => {
    const child = spawn(process.execPath, [BIN, 'factors'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    // Read one chunk, then close our end, as `head -1` does.
    await new Promise<void>((resolve) => child.stdout.once('data', () => { child.stdout.destroy(); resolve(); }));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(stderr).not.toContain('EPIPE');
    expect(code).toBe(0);
  });
});
