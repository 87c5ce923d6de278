#!/usr/bin/env node
/**
 * A fake `nvidia-smi` that replays real recorded outputs (test/fixtures/nvidia-smi, see SOURCES.md there).
 * Values are never invented: every value printed comes from a capture; the scenarios below only remove
 * things (a field an older driver does not know, a value the GPU does not report) or stop the output.
 *
 * Answers:
 *   --query-gpu=a,b,c --format=csv[,noheader][,nounits] [-lms N | --loop-ms=N | -l S]
 *       the capture's values for exactly those fields, in that order, one line per GPU; with a loop flag,
 *       the same rows again every N ms until killed. An unknown field is rejected like the real tool:
 *       `Field "x" is not a valid field to query.` on stdout (the real tool prints it there, cf.
 *       utkuozdemir/nvidia_gpu_exporter internal/fakesmi/fakesmi.go) and exit status 2.
 *   -q -x            the XML of FAKE_NVSMI_XML, verbatim.
 *   --version        a minimal version banner.   (no args) a minimal summary.
 *
 * Environment:
 *   FAKE_NVSMI_CAPTURE  directory holding `load__query-gpu.csv` / `idle__query-gpu.csv` (header line with units,
 *                       one row per GPU, exactly as nvidia-smi --format=csv prints them)
 *   FAKE_NVSMI_STATE    load (default) | idle
 *   FAKE_NVSMI_XML      file printed for `-q -x`; when FAKE_NVSMI_CAPTURE is unset, --query-gpu is answered from
 *                       this XML for the fields it can map (index, name, uuid, driver_version, pci.bus_id,
 *                       utilization.gpu, power.draw, power.draw.instant, power.limit, enforced.power.limit,
 *                       mig.mode.current); others are rejected as unknown.
 *   FAKE_NVSMI_MODE     normal (default) | die-after:N (loop exits with status 1 after N samples) |
 *                       silent-after:N (loop stays alive but prints nothing after N samples: a wedged driver) |
 *                       garbage (loop prints garbage lines between good samples) | no-driver (every call fails
 *                       like a host whose driver is not loaded: message on stdout, exit status 9) |
 *                       lost-gpu:K (GPU index K fell off the bus: its row is replaced by the message nvidia-smi
 *                       prints then, e.g. NVIDIA/open-gpu-kernel-modules#387, JosephKJ/OWOD#81)
 *   FAKE_NVSMI_GPUS     N: replicate the capture's first row as N GPUs with distinct index and uuid (benchmarks)
 *   FAKE_NVSMI_ABSENT   comma list of fields whose values are printed as `[N/A]` (a GPU that reports no power,
 *                       as the vGPU capture xml/telegraf-tesla_p4.xml does)
 *   FAKE_NVSMI_HELP     a `--help-query-gpu` text: only the fields (and aliases) it lists are known, as on the
 *                       older driver that printed it
 *   FAKE_NVSMI_PIDDIR   directory where each invocation writes an empty file `<pid>.<loop|once>` (tests check
 *                       that no child outlives close())
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const env = process.env;
const args = process.argv.slice(2);
const out = (s) => process.stdout.write(s);
// Ends after stdout has drained: process.exit() right after a large write to a pipe would cut it short.
const finish = (text, code) => { process.exitCode = code; out(text); };
process.stdout.on('error', () => process.exit(0)); // reader gone (EPIPE): stop like the real tool would

function fail(msg, code) {
  process.stderr.write(`fake-nvidia-smi: ${msg}\n`);
  process.exit(code);
}

function main() {
  // ---- argument parsing (the subset of nvidia-smi's syntax the project uses) ----
  let queryGpu;
  let format = '';
  let loopMs;
  let wantQuery = false;
  let wantXml = false;
  let wantVersion = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => (inline !== undefined ? inline : args[++i]);
    switch (flag) {
      case '--query-gpu': queryGpu = value(); break;
      case '--format': format = value() ?? ''; break;
      case '-lms': case '--loop-ms': loopMs = Number(value()); break;
      case '-l': case '--loop': loopMs = Number(value()) * 1000; break;
      case '-q': case '--query': wantQuery = true; break;
      case '-x': case '--xml-format': wantXml = true; break;
      case '--version': wantVersion = true; break;
      default: fail(`unsupported argument ${a}`, 2);
    }
  }
  const looping = loopMs !== undefined;
  if (looping && !(loopMs > 0)) fail('bad loop interval', 2);

  const mode = env.FAKE_NVSMI_MODE ?? 'normal';
  if (env.FAKE_NVSMI_PIDDIR) writeFileSync(join(env.FAKE_NVSMI_PIDDIR, `${process.pid}.${looping ? 'loop' : 'once'}`), '');

  if (mode === 'no-driver') {
    // The message the real tool prints when the kernel module is not loaded (exit status 9).
    return finish("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n\n", 9);
  }

  if (wantVersion) {
    return finish(`NVIDIA-SMI version  : fake (replaying ${env.FAKE_NVSMI_CAPTURE ?? env.FAKE_NVSMI_XML ?? 'nothing'})\n`, 0);
  }

  if (wantQuery && wantXml) {
    if (!env.FAKE_NVSMI_XML) fail('FAKE_NVSMI_XML is not set', 2);
    return finish(readFileSync(env.FAKE_NVSMI_XML, 'utf8'), 0);
  }

  if (queryGpu === undefined) {
    if (args.length === 0) {
      return finish('fake nvidia-smi: use --query-gpu=... --format=csv\n', 0);
    }
    fail(`unsupported invocation: ${args.join(' ')}`, 2);
  }

  // ---- the table to answer from: { names, units, rows } where rows are arrays of raw values ----
  function loadCsvCapture(dir, state) {
    const text = readFileSync(join(dir, `${state}__query-gpu.csv`), 'utf8');
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    const header = lines[0].split(', ');
    const names = header.map((h) => h.replace(/ \[[^\]]*\]$/, ''));
    const units = header.map((h) => /\[([^\]]*)\]$/.exec(h)?.[1]);
    const rows = lines.slice(1).map((l) => l.split(', '));
    for (const r of rows) if (r.length !== names.length) fail('capture row and header differ in length', 2);
    return { names, units, rows };
  }

  function loadXmlTable(file) {
    const require = createRequire(import.meta.url);
    const xml2js = require('xml2js');
    let doc;
    xml2js.parseString(readFileSync(file, 'utf8'), { explicitArray: false, trim: true, async: false }, (err, d) => {
      if (err) fail(`bad XML: ${err.message}`, 2);
      doc = d;
    });
    const log = doc.nvidia_smi_log;
    const gpus = log.gpu === undefined ? [] : Array.isArray(log.gpu) ? log.gpu : [log.gpu];
    const text = (v) => (typeof v === 'string' ? v : undefined);
    const pr = (g) => g.power_readings ?? g.gpu_power_readings ?? {};
    // query field -> how to read it from one <gpu> element; undefined means the element is missing (printed [N/A]).
    const map = {
      index: (_g, i) => String(i),
      name: (g) => text(g.product_name),
      uuid: (g) => text(g.uuid),
      driver_version: () => text(log.driver_version),
      'pci.bus_id': (g) => text(g.$?.id),
      'utilization.gpu': (g) => text(g.utilization?.gpu_util),
      'power.draw': (g) => text(pr(g).power_draw) ?? text(pr(g).average_power_draw),
      'power.limit': (g) => text(pr(g).power_limit) ?? text(pr(g).current_power_limit),
      'enforced.power.limit': (g) => text(pr(g).enforced_power_limit) ?? text(pr(g).current_power_limit),
      'mig.mode.current': (g) => text(g.mig_mode?.current_mig),
    };
    // power.draw.instant exists only in the XML of drivers that know it (instant_power_draw element).
    if (gpus.some((g) => text(pr(g).instant_power_draw) !== undefined)) map['power.draw.instant'] = (g) => text(pr(g).instant_power_draw);
    const names = Object.keys(map);
    const units = names.map(() => undefined); // XML values carry their unit; nounits strips any trailing unit token
    const rows = gpus.map((g, i) => names.map((n) => map[n](g, i) ?? '[N/A]'));
    return { names, units, rows };
  }

  let table;
  if (env.FAKE_NVSMI_CAPTURE) table = loadCsvCapture(env.FAKE_NVSMI_CAPTURE, env.FAKE_NVSMI_STATE ?? 'load');
  else if (env.FAKE_NVSMI_XML) table = loadXmlTable(env.FAKE_NVSMI_XML);
  else fail('set FAKE_NVSMI_CAPTURE or FAKE_NVSMI_XML', 2);

  if (env.FAKE_NVSMI_GPUS) {
    const n = Number(env.FAKE_NVSMI_GPUS);
    const first = table.rows[0];
    const iIndex = table.names.indexOf('index');
    const iUuid = table.names.indexOf('uuid');
    table.rows = Array.from({ length: n }, (_, k) => {
      const r = first.slice();
      if (iIndex >= 0) r[iIndex] = String(k);
      if (iUuid >= 0) r[iUuid] = r[iUuid].slice(0, -12) + k.toString(16).padStart(12, '0');
      return r;
    });
  }

  // Field names the "driver" knows, with aliases, from an older --help-query-gpu text if given.
  let known = new Map(table.names.map((n, i) => [n, i]));
  if (env.FAKE_NVSMI_HELP) {
    const listed = new Map();
    for (const line of readFileSync(env.FAKE_NVSMI_HELP, 'utf8').split('\n')) {
      if (!line.startsWith('"')) continue;
      const names = [...line.matchAll(/"([^"]+)"/g)].map((m) => m[1]);
      const canonical = names.find((n) => known.has(n));
      if (canonical !== undefined) for (const n of names) listed.set(n, known.get(canonical));
    }
    known = listed;
  }

  const absent = new Set((env.FAKE_NVSMI_ABSENT ?? '').split(',').filter(Boolean));
  const fields = queryGpu.split(',').map((f) => f.trim());
  const cols = [];
  for (const f of fields) {
    const idx = known.get(f);
    if (idx === undefined) {
      return finish(`Field "${f}" is not a valid field to query.\n\n`, 2);
    }
    cols.push(idx);
  }

  const fmt = new Set(format.split(','));
  if (!fmt.has('csv')) fail(`unsupported --format ${format}`, 2);
  const noUnits = fmt.has('nounits');

  function render(raw, col, field) {
    if (absent.has(field)) return '[N/A]';
    if (!noUnits || raw.startsWith('[')) return raw;
    const unit = table.units[col];
    if (unit !== undefined) return raw.endsWith(` ${unit}`) ? raw.slice(0, -unit.length - 1) : raw;
    return raw.replace(/ (W|%|MiB|MHz|C)$/, '');
  }

  const header = fields.map((f, k) => (table.units[cols[k]] ? `${f} [${table.units[cols[k]]}]` : f)).join(', ') + '\n';
  const [modeName, modeArg] = mode.split(':');
  const lostIndex = modeName === 'lost-gpu' ? Number(modeArg) : -1;
  const block = table.rows.map((r, i) => (i === lostIndex
    ? `Unable to determine the device handle for GPU 0000:${String(i).padStart(2, '0')}:00.0: GPU is lost.  Reboot the system to recover this GPU\n`
    : fields.map((f, k) => render(r[cols[k]], cols[k], f)).join(', ') + '\n')).join('');

  if (!looping) {
    if (!fmt.has('noheader')) out(header);
    return finish(block, 0);
  }

  // ---- loop mode ----
  const limit = Number(modeArg);
  let samples = 0;
  if (!fmt.has('noheader')) out(header);
  const tick = () => {
    if (modeName === 'die-after' && samples >= limit) process.exit(1);
    if (modeName === 'silent-after' && samples >= limit) return; // alive, says nothing
    if (modeName === 'garbage' && samples % 2 === 1) out('this is not, a csv line, of numbers, at all, \u0001\u0002, x\n');
    out(block);
    samples++;
  };
  tick();
  setInterval(tick, loopMs);
}
main();
