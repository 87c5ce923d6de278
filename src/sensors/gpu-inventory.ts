/**
 * GPU inventory at start-up from `nvidia-smi -q -x` (docs/sensors.md): name, UUID, driver, power limit, and the
 * MIG / vGPU flags. Best-effort: any failure returns [] with a warning, and sampling names the GPUs from
 * its query fields instead.
 *
 * The default binary goes through the `node-nvidia-smi` package, which runs `nvidia-smi -q -x` through the
 * shell (it takes no path) and parses it with xml2js `{ explicitArray: false, trim: true }`. For another
 * path (`--nvidia-smi PATH`) the same command and the same parser options are used directly, so both roads
 * yield the same object shape. xml2js is forced to a fixed version through npm `overrides` (package.json):
 * 0.4.x, which node-nvidia-smi asks for, has a prototype-pollution advisory (CVE-2023-0842).
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { asError, errnoCode, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { parseQueryNumber } from './nvidia-smi-csv.js';

export interface GpuInventoryEntry {
  /**
   * nvidia-smi's index of the GPU: its position in `-q -x`, which lists GPUs in index order (PCI bus
   * order), the same `index` that `--query-gpu=index` prints.
   */
  readonly index: number;
  /** /dev/nvidiaN; can differ from the index (xml/openpai-nvidia_smi_out_of_order.xml: 1, 2, 3, 0). */
  readonly minorNumber?: number;
  readonly name: string;
  readonly uuid?: string;
  readonly pciBusId?: string;
  readonly driver?: string;
  /** Enforced power limit; absent when the GPU does not report one (vGPUs print N/A), never 0. */
  readonly powerLimitW?: number;
  readonly migEnabled: boolean;
  /** `virtualization_mode` as printed (None, Pass-Through, VGPU, Host VGPU), when present. */
  readonly virtualizationMode?: string;
  /** A vGPU guest: no board power of its own (xml/telegraf-tesla_p4.xml: GRID P4-1Q, power N/A). */
  readonly vgpu: boolean;
}

export interface GpuInventoryOptions {
  /** nvidia-smi binary; default `nvidia-smi` from PATH (through node-nvidia-smi). */
  readonly path?: string;
  readonly logger: Logger;
  /** Gives up after this long (a wedged driver can hang `-q -x`); default 15 s. */
  readonly timeoutMs?: number;
}

const require = createRequire(import.meta.url);
type SmiCallback = (err: unknown, data?: unknown) => void;
// The same parser options node-nvidia-smi passes (node_modules/node-nvidia-smi/index.js).
const XML_OPTIONS = { explicitArray: false, trim: true } as const;

export async function readGpuInventory(opts: GpuInventoryOptions): Promise<GpuInventoryEntry[]> {
  const log = opts.logger;
  const timeoutMs = opts.timeoutMs ?? 15_000;
  try {
    const data = await withTimeout(
      opts.path === undefined || opts.path === 'nvidia-smi' ? viaPackage().catch((err: unknown) => {
        // node-nvidia-smi uses exec's default 1 MiB maxBuffer; `-q -x` of a large host (schema v13 prints
        // ~45 KB per GPU) can exceed it. Same command, same parser, without that limit.
        if (errnoCode(err) !== 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') throw err;
        log.debug('nvidia-smi -q -x exceeded node-nvidia-smi\'s buffer; reading it directly');
        return viaPath('nvidia-smi', timeoutMs);
      }) : viaPath(opts.path, timeoutMs),
      timeoutMs,
    );
    const entries = inventoryFromSmiLog(data);
    log.debug('gpu inventory', { gpus: entries.length });
    return entries;
  } catch (err) {
    // No nvidia-smi at all is a host without the driver: the nvidia-smi sensor's skip reason says so, and a
    // warning here would only repeat it. A nvidia-smi that exists and fails is worth a warning.
    if (isMissingBinary(err)) log.debug('no nvidia-smi: no GPU inventory', { error: firstLine(errorMessage(err)) });
    else {
      log.warn('GPU inventory unavailable (nvidia-smi -q -x failed); GPUs are named from the query fields', {
        error: lastLine(errorMessage(err)),
      });
    }
    return [];
  }
}

/** ENOENT from execFile, or the shell's "not found" (exit 127) through node-nvidia-smi's exec. */
function isMissingBinary(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === 127 || /\bENOENT\b|: not found|command not found/.test(errorMessage(err));
}

const lastLine = (s: string): string => s.trim().split('\n').pop() ?? s;

function viaPackage(): Promise<unknown> {
  const smi = require('node-nvidia-smi') as (cb: SmiCallback) => void;
  return new Promise((resolve, reject) => {
    // node-nvidia-smi calls back with a string when nvidia-smi wrote to stderr.
    smi((err, data) => (err ? reject(asError(err)) : resolve(data)));
  });
}

function viaPath(path: string, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    execFile(path, ['-q', '-x'], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${path} -q -x: ${firstLine(stderr || stdout || errorMessage(err))}`));
      parseSmiXml(stdout).then(resolve, reject);
    });
  });
}

/** Parses `nvidia-smi -q -x` output with the parser and options node-nvidia-smi uses. */
export function parseSmiXml(xml: string): Promise<unknown> {
  const xml2js = require('xml2js') as { parseString(s: string, o: object, cb: (e: unknown, d: unknown) => void): void };
  return new Promise((resolve, reject) => {
    xml2js.parseString(xml, XML_OPTIONS, (err, data) => (err ? reject(asError(err)) : resolve(data)));
  });
}

type XmlNode = Record<string, unknown>;
const isNode = (v: unknown): v is XmlNode => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);
const child = (v: unknown, key: string): unknown => (isNode(v) ? v[key] : undefined);

/**
 * Turns the parsed `-q -x` object into entries. node-nvidia-smi (explicitArray: false) gives one object
 * for one GPU and an array for several; both are handled.
 */
export function inventoryFromSmiLog(data: unknown): GpuInventoryEntry[] {
  const log = child(data, 'nvidia_smi_log');
  if (!isNode(log)) throw new Error('no <nvidia_smi_log> in nvidia-smi -q -x output');
  const raw = log['gpu'];
  const gpus = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  const driver = text(log['driver_version']);
  return gpus.filter(isNode).map((g, index): GpuInventoryEntry => {
    // Schema v12+ moved power under <gpu_power_readings> and renamed the limit current_power_limit.
    const pr = isNode(g['power_readings']) ? g['power_readings'] : child(g, 'gpu_power_readings');
    const limit = firstNumber(child(pr, 'enforced_power_limit'), child(pr, 'current_power_limit'), child(pr, 'power_limit'));
    const minor = text(g['minor_number']);
    const minorNumber = minor !== undefined && /^\d+$/.test(minor) ? Number(minor) : undefined;
    const virt = text(child(g['gpu_virtualization_mode'], 'virtualization_mode'));
    const uuid = text(g['uuid']);
    const pciBusId = text(child(g['$'], 'id')); // xml2js puts attributes under `$`: <gpu id="00000000:01:00.0">
    const mig = text(child(g['mig_mode'], 'current_mig'));
    const entry: GpuInventoryEntry = {
      index,
      name: text(g['product_name']) ?? `GPU ${index}`,
      migEnabled: mig === 'Enabled',
      vgpu: virt === 'VGPU',
      ...(minorNumber !== undefined ? { minorNumber } : {}),
      ...(uuid !== undefined ? { uuid } : {}),
      ...(pciBusId !== undefined ? { pciBusId } : {}),
      ...(driver !== undefined ? { driver } : {}),
      ...(limit !== undefined ? { powerLimitW: limit } : {}),
      ...(virt !== undefined ? { virtualizationMode: virt } : {}),
    };
    return entry;
  });
}

function firstNumber(...vals: unknown[]): number | undefined {
  for (const v of vals) {
    const s = text(v);
    if (s === undefined) continue;
    const n = parseQueryNumber(s);
    if (n !== undefined && Number.isFinite(n)) return n;
  }
  return undefined;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    // A real timer: this runs once at start-up, outside the sampler's injected clock. node-nvidia-smi
    // gives no handle on its child, so a hung `-q -x` is abandoned, not killed.
    const t = setTimeout(() => reject(new Error(`nvidia-smi -q -x timed out after ${ms} ms`)), ms);
    t.unref?.();
    p.then((v) => { clearTimeout(t); resolve(v); }, (e: unknown) => { clearTimeout(t); reject(asError(e)); });
  });
}

const firstLine = (s: string): string => s.trim().split('\n')[0] ?? '';
