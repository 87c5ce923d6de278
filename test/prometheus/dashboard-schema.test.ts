import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

/**
 * The dashboards against Grafana's own schema types (@grafana/schema, devDependency). A JSON import
 * would widen every string to `string` and hide mistakes, so each dashboard is written into a TypeScript
 * file as an object literal checked with `satisfies Dashboard`, where literal types (panel and variable
 * types, value-mapping kinds) are checked exactly, and tsc compiles it.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DASHBOARDS = join(ROOT, 'dashboards');
const run = promisify(execFile);

describe('dashboards match @grafana/schema', () => {
  const files = readdirSync(DASHBOARDS).filter((f) => f.endsWith('.json'));

  it('has dashboards to check', () => {
    expect(files.length).toBeGreaterThanOrEqual(2);
  });

  it('type-checks every dashboard as a Grafana Dashboard', async () => {
    const dir = join(ROOT, '.tmp', 'grafana-schema-check');
    mkdirSync(dir, { recursive: true });
    const sources = files.map((f) => {
      const json = readFileSync(join(DASHBOARDS, f), 'utf8');
      const out = join(dir, f.replace(/\.json$/, '.ts'));
      // Grafana's string enums (MappingType, …) are written as their string values in JSON: JsonOf maps
      // each enum to the union of its values (`${E}`), and leaves everything else as the schema says.
      writeFileSync(out, [
        `import type { Dashboard } from '@grafana/schema';`,
        'type JsonOf<T> = T extends string ? `${T}` : T extends readonly (infer U)[] ? JsonOf<U>[] : T extends object ? { [K in keyof T]: JsonOf<T[K]> } : T;',
        `export const dashboard = ${json.trim()} satisfies JsonOf<Dashboard>;`,
        '',
      ].join('\n'));
      return out;
    });
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await run(process.execPath, [tsc, '--noEmit', '--strict', '--skipLibCheck', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', ...sources], { cwd: ROOT })
      .then(() => ({ code: 0, out: '' }), (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: err.code ?? 1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` }));
    expect(result.out).toBe('');
    expect(result.code).toBe(0);
  }, 120_000);
});
