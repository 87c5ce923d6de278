/**
 * `inferwatt report`: totals over a period from a Prometheus or from records files, per group, with
 * SCI and the method stated (docs/report.md). Flag parsing and usage errors here; the work is in
 * src/report/. Exit status: 0 ok, 1 runtime failure (Prometheus unreachable, no data in range, a file
 * that cannot be read), 2 usage (every problem listed at once).
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, PACKAGE_ROOT } from '../config/load.js';
import { ConfigError, errorMessage, InferwattError } from '../core/errors.js';
import { createReport } from '../report/create-report.js';
import { parsePeriod, PERIOD_FORMS } from '../report/period.js';
import { normalizeMatch } from '../report/prometheus-source.js';
import { FORMATS, renderReport, type ReportFormat } from '../report/render/index.js';
import { ReportUsageError } from '../report/source.js';
import { GROUP_KEYS, type GroupKey, type ReportSource } from '../report/types.js';

export const REPORT_USAGE = `usage: inferwatt report (--prometheus URL [--match MATCHERS] | --records FILE...) [options]

Totals over a period, per group and in total: requests, tokens, attributed and idle energy, facility
energy, CO2e location- and market-based, embodied, water, and SCI per query and per 1,000 tokens, with
the boundary, the attribution policy, every factor with its source and year, and the coverage stated.
The totals are the counters' exact increases, never a second estimate (docs/report.md).

Source (one):
  --prometheus URL     a Prometheus that scrapes the agents (or a global one that federates them)
  --match MATCHERS     only these agents, as PromQL label matchers: 'cluster="eu",instance=~"gpu-.*"'
  --records FILE       the agents' JSONL records (--records); repeat for rotated files, gzipped or not

Options:
  --from TIME          start of the period (default -7d)
  --to TIME            end of the period (default now)
                       TIME: ${PERIOD_FORMS}
  --by KEYS            group by any of ${GROUP_KEYS.join(',')}, comma-separated (default model;
                       '' for totals only); instance and cluster need --prometheus
  --format F           ${FORMATS.join(' | ')} (default table); html is one self-contained file with charts
  --out FILE           write there instead of standard output
  --config FILE        configuration with impacts.market (contractual factors, for market-based CO2e)
                       and impacts.embodied (per host); see config/default.yaml  [INFERWATT_CONFIG]

Example:
  inferwatt report --prometheus http://127.0.0.1:9090 --from -7d --by model,tenant --format html --out report.html
`;

const STRING_FLAGS = ['prometheus', 'match', 'records', 'from', 'to', 'by', 'format', 'out', 'config'];

export interface ReportIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: Readonly<Record<string, string | undefined>>;
  /** Tests: the time `now` means, and the HTTP client. */
  nowMs?: number;
  fetch?: typeof fetch;
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export async function runReportCommand(argv: readonly string[], io: ReportIo): Promise<number> {
  let values: Record<string, string | boolean | string[] | undefined>;
  let positionals: string[];
  // `--from -7d`: node's parseArgs takes a value that starts with a dash for a flag; joined as
  // `--from=-7d`, it is the value, as the usage shows it.
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (STRING_FLAGS.includes(a.slice(2)) && a.startsWith('--') && i + 1 < argv.length) args.push(`${a}=${argv[++i]!}`);
    else args.push(a);
  }
  try {
    ({ values, positionals } = parseArgs({
      args, allowPositionals: true, strict: true,
      options: {
        prometheus: { type: 'string' }, match: { type: 'string' }, records: { type: 'string', multiple: true },
        from: { type: 'string' }, to: { type: 'string' }, by: { type: 'string' }, format: { type: 'string' },
        out: { type: 'string' }, config: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    io.stderr(`inferwatt report: ${errorMessage(err)}\n(inferwatt report --help)\n`);
    return 2;
  }
  if (values.help) { io.stdout(REPORT_USAGE); return 0; }

  const nowMs = io.nowMs ?? Date.now();
  const problems: string[] = [];
  if (positionals.length) problems.push(`unexpected argument(s) ${positionals.map((p) => `"${p}"`).join(' ')}`);
  const prometheus = values.prometheus as string | undefined;
  const records = (values.records as string[] | undefined) ?? [];
  if (prometheus === undefined && !records.length) problems.push('no source: give --prometheus URL or --records FILE');
  if (prometheus !== undefined && records.length) problems.push('give --prometheus or --records, not both');
  if (prometheus !== undefined && !/^https?:\/\/[^/\s]+/.test(prometheus)) problems.push(`--prometheus "${prometheus}" is not an http:// or https:// URL`);
  if (values.match !== undefined && prometheus === undefined) problems.push('--match selects agents in Prometheus: it needs --prometheus');

  const byText = (values.by as string | undefined) ?? 'model';
  const by = byText.split(',').map((k) => k.trim()).filter(Boolean);
  for (const k of by) if (!(GROUP_KEYS as readonly string[]).includes(k)) problems.push(`unknown group key "${k}" in --by (known: ${GROUP_KEYS.join(', ')})`);
  const dup = by.filter((k, i) => by.indexOf(k) !== i);
  if (dup.length) problems.push(`--by names ${[...new Set(dup)].join(', ')} twice`);
  if (records.length && prometheus === undefined) {
    const hostKeys = by.filter((k) => k === 'instance' || k === 'cluster');
    if (hostKeys.length) problems.push(`--by ${hostKeys.join(',')}: records do not say which instance or cluster they came from; use --prometheus`);
  }
  const format = (values.format as string | undefined) ?? 'table';
  if (!(FORMATS as readonly string[]).includes(format)) problems.push(`unknown --format "${format}" (known: ${FORMATS.join(', ')})`);
  const period = parsePeriod((values.from as string | undefined) ?? '-7d', (values.to as string | undefined) ?? 'now', nowMs);
  if ('problems' in period) problems.push(...period.problems);

  let loaded;
  try {
    loaded = loadConfig({ env: io.env, ...(values.config !== undefined ? { configFile: values.config as string } : {}) });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems.map((p) => `configuration: ${p}`));
  }
  if (problems.length || !loaded || 'problems' in period) {
    io.stderr(`inferwatt report: ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${problems.map((p) => `  - ${p}`).join('\n')}\n(inferwatt report --help)\n`);
    return 2;
  }
  for (const w of loaded.warnings) io.stderr(`inferwatt report: ${w}\n`);

  const source: ReportSource = prometheus !== undefined
    ? { kind: 'prometheus', url: prometheus.replace(/\/+$/, ''), match: normalizeMatch(values.match as string | undefined) }
    : { kind: 'records', files: records };
  try {
    const report = await createReport({
      source, period: period.period, by: by as GroupKey[],
      market: loaded.config.impacts.market, embodied: loaded.config.impacts.embodied,
      version: packageVersion(), nowMs, ...(io.fetch ? { fetch: io.fetch } : {}),
    });
    const text = renderReport(report, format as ReportFormat);
    if (values.out !== undefined) {
      await writeFile(values.out as string, text);
      io.stderr(`inferwatt report: wrote ${String(values.out)} (${format}, ${report.groups.length} group${report.groups.length === 1 ? '' : 's'}, ${report.totals.requests} requests)\n`);
    } else io.stdout(text);
    return 0;
  } catch (err) {
    if (err instanceof ReportUsageError) { io.stderr(`inferwatt report: ${err.message}\n(inferwatt report --help)\n`); return 2; }
    if (err instanceof InferwattError) { io.stderr(`inferwatt report: ${err.message}\n`); return 1; }
    io.stderr(`inferwatt report: ${errorMessage(err)}\n`);
    return 1;
  }
}
