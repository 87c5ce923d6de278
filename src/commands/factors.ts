/**
 * `inferwatt factors [REGION]`: the resolved factors for a region with their sources and years; without
 * REGION, the regions the tables know. An unknown region exits 2 with near matches (docs/design.md).
 */
import { parseArgv, type ExtraFlag } from '../config/argv.js';
import { ConfigError } from '../core/errors.js';
import { reportError } from './cli-errors.js';
import { createFactorResolver, loadFactorTables } from '../impacts/factor-tables.js';
import { findRegion, listRegions, type RegionKind } from '../impacts/regions.js';
import type { FactorOrigin } from '../impacts/types.js';

export interface CommandIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  fetch?: typeof fetch;
}

const USAGE = `Usage: inferwatt factors [REGION] [--provider aws|gcp|azure|self-hosted] [--json]

REGION: a cloud region (aws:us-east-1, gcp:europe-west1, azure:westeurope), a country by its ISO 3166 code
or name as listed (FR, FRA, France), a US eGRID subregion (CAMX) or an Electricity Maps zone (US-CAL-CISO,
zone:DE). Without REGION, lists them.
`;

const KIND_TITLES: Record<RegionKind, string> = {
  cloud: 'Cloud regions (provider:region → grid zone)',
  country: 'Countries (ISO 3166 alpha-2, alpha-3 also accepted; Ember)',
  egrid: 'US eGRID subregions (EPA eGRID2022)',
  zone: 'Grid zones (Electricity Maps; prefix zone: where the id is also a country)',
};

const FLAGS: readonly ExtraFlag[] = [
  { flag: 'json', type: 'bool', help: 'machine-readable output' },
  { flag: 'provider', type: 'string', help: 'aws | gcp | azure | self-hosted' },
  { flag: 'factors-dir', type: 'string', help: 'factor tables directory (default config/factors)' },
];

export async function runFactorsCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  try {
    return await factorsCommand(argv, io);
  } catch (err) {
    return reportError(err, io, 'factors');
  }
}

async function factorsCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  const parsed = parseArgv(argv, FLAGS, { configFlags: false });
  if (parsed.flags.help === true) { io.stdout(USAGE); return 0; }
  const problems = [...parsed.problems];
  const values = {
    json: parsed.flags.json === true,
    provider: typeof parsed.flags.provider === 'string' ? parsed.flags.provider : undefined,
    'factors-dir': typeof parsed.flags['factors-dir'] === 'string' ? parsed.flags['factors-dir'] : undefined,
  };
  const dir = values['factors-dir'];
  const tables = loadFactorTables(dir);
  // `inferwatt factors United Kingdom` without quotes: the words are one country's name.
  const positionals = parsed.positionals;
  const joined = positionals.join(' ');
  if (positionals.length > 1 && !findRegion(tables, joined)) problems.push(`one REGION at most (got ${positionals.length}: ${joined})`);
  if (problems.length) throw new ConfigError(problems);
  const region = positionals.length ? joined : undefined;
  if (region === undefined) {
    const regions = listRegions(tables);
    if (values.json) { io.stdout(JSON.stringify(regions, null, 2) + '\n'); return 0; }
    for (const kind of ['cloud', 'country', 'egrid', 'zone'] as const) {
      const of = regions.filter((r) => r.kind === kind);
      io.stdout(`${KIND_TITLES[kind]}: ${of.length}\n`);
      const width = Math.max(...of.map((r) => r.id.length)) + 2;
      for (const r of of) io.stdout(`  ${r.id.padEnd(width)}${r.alias ? `${r.alias}  ` : ''}${r.name}\n`);
      io.stdout('\n');
    }
    io.stdout('`inferwatt factors REGION` shows the factors for one of them.\n');
    return 0;
  }

  const f = createFactorResolver({ ...(dir !== undefined ? { dir } : {}), region, ...(values.provider !== undefined ? { provider: values.provider } : {}) });
  const match = findRegion(tables, region);
  if (values.json) {
    io.stdout(JSON.stringify({ ...f, kind: match?.kind ?? null, name: match?.name ?? null }, null, 2) + '\n');
    return 0;
  }
  const line = (label: string, o: FactorOrigin, fmt: string) =>
    `  ${label.padEnd(16)}${fmt.padEnd(18)}${String(o.year ?? '').padEnd(6)}${o.resolution.padEnd(9)}${o.source} [${o.from}]\n`;
  io.stdout(`region ${f.region}${match ? ` — ${match.name} (${match.kind}${match.kind === 'cloud' ? `, zone ${match.cloud?.zone}` : ''})` : ''}\n`);
  io.stdout(`  ${'factor'.padEnd(16)}${'value'.padEnd(18)}${'year'.padEnd(6)}${'from'.padEnd(9)}source\n`);
  io.stdout(line('grid intensity', f.details.gridGCo2ePerKWh, `${f.gridGCo2ePerKWh} gCO2e/kWh`));
  io.stdout(line('PUE', f.details.pue, `${f.pue}`));
  io.stdout(line('WUE (on-site)', f.details.wue, `${f.wue} L/kWh IT`));
  io.stdout(line('EWIF (off-site)', f.details.ewif, `${f.ewif} L/kWh`));
  io.stdout(`  record source: ${f.source}\n`);
  // What 1 kWh of IT energy becomes here, so the factors are easy to sanity-check.
  const facility = f.pue;
  io.stdout(`  1 kWh IT → ${(facility * f.gridGCo2ePerKWh).toFixed(1)} gCO2e, ${(f.wue + facility * f.ewif).toFixed(3)} L water\n`);
  if (match?.kind === 'country') {
    // The same id is often also an Electricity Maps zone, with a lifecycle figure: show both, say how to pick.
    const zone = findRegion(tables, `zone:${match.id}`);
    if (zone) io.stdout(`  also: zone:${zone.id} = ${zone.grid.gCo2ePerKWh} gCO2e/kWh (${zone.grid.year}, Electricity Maps, lifecycle)\n`);
  }
  for (const w of f.warnings) io.stderr(`warning: ${w}\n`);
  return 0;
}
