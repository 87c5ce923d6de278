#!/usr/bin/env node
/**
 * Builds the production bundle: one self-contained directory that the container image and a bare GPU
 * machine run with nothing but Node 20.
 *
 *   node scripts/build-bundle.mjs [--out DIR]        (default dist/bundle, under the ignored dist/)
 *
 * Layout of DIR, and why:
 *
 *   inferwatt.mjs              launcher: `node DIR/inferwatt.mjs run …` (imports the bundle below)
 *   lib/inferwatt/cli.mjs      esbuild bundle of src/cli.ts and every pure-JS dependency
 *   package.json               name and version (`inferwatt version` reads it), "type": "module"
 *   config/default.yaml        the documented defaults, layered under --config/env/flags
 *   config/factors/*.csv       the factor tables with their NOTICE
 *   node_modules/              only what cannot be bundled (below)
 *
 * - src/config/load.ts sets PACKAGE_ROOT two directories above the module that defines it. In the
 *   bundle that module is lib/inferwatt/cli.mjs, so PACKAGE_ROOT is DIR, where package.json and
 *   config/default.yaml are copied. src/impacts/factor-tables.ts walks up from the same file and finds
 *   DIR/config/factors/world.csv. No source change was needed; test/deploy/bundle.test.ts runs a copy
 *   of DIR moved outside the repository to prove it finds its own files.
 * - Not bundled, copied with their dependency closure into DIR/node_modules:
 *     koffi (optional dependency, NVML through FFI): a native addon with per-platform packages
 *       (@koromix/koffi-linux-x64, …); src/sensors/nvml-binding.ts imports it with a variable specifier
 *       so a missing koffi is an ordinary "nvml unavailable" reason, never a crash;
 *     node-nvidia-smi (GPU inventory, `nvidia-smi -q -x`) with xml2js: src/sensors/gpu-inventory.ts
 *       loads it through createRequire at run time, which esbuild leaves alone.
 *   The copy comes from the installed node_modules, i.e. the versions package-lock.json pinned,
 *   including the xml2js override (CVE-2023-0842) that package.json forces.
 * - CommonJS dependencies (express, prom-client, systeminformation) call require() for Node built-ins;
 *   in an ES module bundle that needs a real `require`, given by the banner (esbuild's documented
 *   fix: https://esbuild.github.io/api/#main-fields, "require is not defined" in ESM output).
 */
import { build } from 'esbuild';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Packages loaded at run time, outside the bundle (see above). */
export const RUNTIME_EXTERNALS = ['koffi', 'node-nvidia-smi'];

/** The bundle's path inside the output directory; PACKAGE_ROOT (src/config/load.ts) is two levels up. */
export const BUNDLE_REL = 'lib/inferwatt/cli.mjs';
export const LAUNCHER_REL = 'inferwatt.mjs';

function parseOut(argv) {
  const i = argv.indexOf('--out');
  if (i >= 0 && argv[i + 1]) return resolve(argv[i + 1]);
  const eq = argv.find((a) => a.startsWith('--out='));
  return eq ? resolve(eq.slice(6)) : join(ROOT, 'dist', 'bundle');
}

/**
 * The package directories that `names` need at run time: each package and, transitively, its
 * dependencies and the optional ones that are installed (koffi's platform package). Resolved the way
 * Node does from the repository root: nested node_modules first, then the top level.
 */
function dependencyClosure(names) {
  const found = new Map(); // package dir (absolute) -> path relative to ROOT
  const visit = (name, fromDir, optional) => {
    let dir = fromDir;
    let pkgDir;
    for (;;) {
      const candidate = join(dir, 'node_modules', name);
      if (existsSync(join(candidate, 'package.json'))) { pkgDir = candidate; break; }
      if (dir === ROOT) break;
      dir = dirname(dir);
      if (!dir.startsWith(ROOT)) break;
    }
    if (!pkgDir) {
      if (optional) return;
      throw new Error(`build-bundle: ${name} is not installed (run npm ci)`);
    }
    if (found.has(pkgDir)) return;
    found.set(pkgDir, pkgDir.slice(ROOT.length + 1));
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
    for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dep, pkgDir, false);
    // Platform packages of native addons: only the ones npm installed for this machine exist.
    for (const dep of Object.keys(pkg.optionalDependencies ?? {})) visit(dep, pkgDir, true);
  };
  for (const n of names) visit(n, ROOT, n === 'koffi');
  return [...found.values()].sort();
}

export async function buildBundle(outDir) {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(join(outDir, dirname(BUNDLE_REL)), { recursive: true });

  const result = await build({
    // The same entry as bin/inferwatt.js, so that the bundle is the CLI and nothing else.
    stdin: {
      contents: [
        "import { main } from './src/cli.ts';",
        'main(process.argv.slice(2)).then(',
        "  (code) => { if (typeof code === 'number') process.exitCode = code; },",
        "  (err) => { console.error(err instanceof Error ? err.stack ?? err.message : String(err)); process.exitCode = 1; },",
        ');',
      ].join('\n'),
      resolveDir: ROOT,
      sourcefile: 'inferwatt-entry.ts',
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    outfile: join(outDir, BUNDLE_REL),
    external: RUNTIME_EXTERNALS,
    banner: { js: "import { createRequire as __inferwattCreateRequire } from 'node:module';\nconst require = __inferwattCreateRequire(import.meta.url);" },
    legalComments: 'linked',
    // No source map: the bundle is not minified, so its stack traces are readable as they are.
    sourcemap: false,
    minify: false,
    metafile: true,
    logLevel: 'warning',
  });

  const rootPkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  writeFileSync(join(outDir, 'package.json'), `${JSON.stringify({
    name: rootPkg.name,
    version: rootPkg.version,
    description: rootPkg.description,
    license: rootPkg.license,
    private: true,
    type: 'module',
    bin: { inferwatt: LAUNCHER_REL },
    engines: rootPkg.engines,
  }, null, 2)}\n`);
  writeFileSync(join(outDir, LAUNCHER_REL), `#!/usr/bin/env node\n// Launcher of the inferwatt bundle (scripts/build-bundle.mjs): node ${LAUNCHER_REL} run [flags]\nimport './${BUNDLE_REL}';\n`, { mode: 0o755 });

  mkdirSync(join(outDir, 'config'), { recursive: true });
  cpSync(join(ROOT, 'config', 'default.yaml'), join(outDir, 'config', 'default.yaml'));
  cpSync(join(ROOT, 'config', 'factors'), join(outDir, 'config', 'factors'), { recursive: true });
  cpSync(join(ROOT, 'LICENSE'), join(outDir, 'LICENSE'));

  const copied = dependencyClosure(RUNTIME_EXTERNALS);
  for (const rel of copied) {
    // Flatten nested copies only if they do not collide; keep the relative path, which is what
    // Node's resolution from DIR/lib/inferwatt/ walks up to (DIR/node_modules/…).
    cpSync(join(ROOT, rel), join(outDir, rel), { recursive: true, dereference: true });
  }

  const bundleBytes = Object.values(result.metafile.outputs).reduce((s, o) => s + o.bytes, 0);
  return { outDir, bundle: join(outDir, BUNDLE_REL), launcher: join(outDir, LAUNCHER_REL), runtimePackages: copied, bundleBytes, warnings: result.warnings.length };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = parseOut(process.argv.slice(2));
  buildBundle(out).then(
    (r) => {
      process.stdout.write(`inferwatt bundle: ${r.launcher} (${(r.bundleBytes / 1024).toFixed(0)} KiB of JavaScript)\n`);
      process.stdout.write(`runtime packages: ${r.runtimePackages.join(', ')}\n`);
    },
    (err) => { process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`); process.exitCode = 1; },
  );
}
