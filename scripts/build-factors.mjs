#!/usr/bin/env node
/**
 * Rebuilds the factor tables in config/factors/ from a snapshot of the public data sets that
 * config/factors/README.md lists (--src, required). Run by hand when the sources are refreshed, never at test or run time: the generated CSVs are
 * committed, and src/impacts/factor-tables.ts validates them at start-up.
 *
 *   node scripts/build-factors.mjs --src DIR [--out DIR]
 *
 * Plain Node (no dependencies, no TypeScript build) so that it runs on a fresh checkout.
 * Every row written carries `source` and `year`; licences are listed in config/factors/README.md and
 * config/factors/NOTICE (Electricity Maps data is ODbL, share-alike).
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    src: { type: 'string' },
    out: { type: 'string', default: resolve(here, '../config/factors') },
  },
});
if (values.src === undefined) {
  console.error('build-factors: --src DIR is required (a snapshot of the data sets that config/factors/README.md lists)');
  process.exit(2);
}
const SRC = values.src;
const OUT = values.out;

// ---------------------------------------------------------------------------------------------------
// ISO 3166-1 alpha-2 <-> alpha-3 (the standard's code lists are facts; XK/XKX is Kosovo's user-assigned
// code, used by Ember and the EU). Only used to give each country row both codes.
const ISO = `AD AND AE ARE AF AFG AG ATG AI AIA AL ALB AM ARM AO AGO AQ ATA AR ARG AS ASM AT AUT AU AUS AW ABW
AX ALA AZ AZE BA BIH BB BRB BD BGD BE BEL BF BFA BG BGR BH BHR BI BDI BJ BEN BL BLM BM BMU BN BRN BO BOL
BQ BES BR BRA BS BHS BT BTN BV BVT BW BWA BY BLR BZ BLZ CA CAN CC CCK CD COD CF CAF CG COG CH CHE CI CIV
CK COK CL CHL CM CMR CN CHN CO COL CR CRI CU CUB CV CPV CW CUW CX CXR CY CYP CZ CZE DE DEU DJ DJI DK DNK
DM DMA DO DOM DZ DZA EC ECU EE EST EG EGY EH ESH ER ERI ES ESP ET ETH FI FIN FJ FJI FK FLK FM FSM FO FRO
FR FRA GA GAB GB GBR GD GRD GE GEO GF GUF GG GGY GH GHA GI GIB GL GRL GM GMB GN GIN GP GLP GQ GNQ GR GRC
GS SGS GT GTM GU GUM GW GNB GY GUY HK HKG HM HMD HN HND HR HRV HT HTI HU HUN ID IDN IE IRL IL ISR IM IMN
IN IND IO IOT IQ IRQ IR IRN IS ISL IT ITA JE JEY JM JAM JO JOR JP JPN KE KEN KG KGZ KH KHM KI KIR KM COM
KN KNA KP PRK KR KOR KW KWT KY CYM KZ KAZ LA LAO LB LBN LC LCA LI LIE LK LKA LR LBR LS LSO LT LTU LU LUX
LV LVA LY LBY MA MAR MC MCO MD MDA ME MNE MF MAF MG MDG MH MHL MK MKD ML MLI MM MMR MN MNG MO MAC MP MNP
MQ MTQ MR MRT MS MSR MT MLT MU MUS MV MDV MW MWI MX MEX MY MYS MZ MOZ NA NAM NC NCL NE NER NF NFK NG NGA
NI NIC NL NLD NO NOR NP NPL NR NRU NU NIU NZ NZL OM OMN PA PAN PE PER PF PYF PG PNG PH PHL PK PAK PL POL
PM SPM PN PCN PR PRI PS PSE PT PRT PW PLW PY PRY QA QAT RE REU RO ROU RS SRB RU RUS RW RWA SA SAU SB SLB
SC SYC SD SDN SE SWE SG SGP SH SHN SI SVN SJ SJM SK SVK SL SLE SM SMR SN SEN SO SOM SR SUR SS SSD ST STP
SV SLV SX SXM SY SYR SZ SWZ TC TCA TD TCD TF ATF TG TGO TH THA TJ TJK TK TKL TL TLS TM TKM TN TUN TO TON
TR TUR TT TTO TV TUV TW TWN TZ TZA UA UKR UG UGA UM UMI US USA UY URY UZ UZB VA VAT VC VCT VE VEN VG VGB
VI VIR VN VNM VU VUT WF WLF WS WSM YE YEM YT MYT ZA ZAF ZM ZMB ZW ZWE XK XKX`.split(/\s+/);
const A3_TO_A2 = new Map();
for (let i = 0; i < ISO.length; i += 2) A3_TO_A2.set(ISO[i + 1], ISO[i]);

// ---------------------------------------------------------------------------------------------------
// Tiny CSV reader/writer (RFC 4180 quoting), enough for these files.
function parseCsv(text) {
  const rows = [];
  let row = [], field = '', inQuotes = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inQuotes) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') inQuotes = false;
      else field += c;
    } else if (c === '"') inQuotes = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field); field = '';
      if (row.length > 1 || row[0] !== '') rows.push(row);
      row = [];
    } else field += c;
  }
  if (field !== '' || row.length) { row.push(field); rows.push(row); }
  const [header, ...body] = rows;
  return body.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? ''])));
}
const q = (v) => {
  const s = v === undefined || v === null ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};
function writeCsv(name, columns, rows) {
  const text = [columns.join(','), ...rows.map((r) => columns.map((c) => q(r[c])).join(','))].join('\n') + '\n';
  writeFileSync(join(OUT, name), text);
  console.log(`${name}: ${rows.length} rows`);
}
const readJson = (f) => JSON.parse(readFileSync(join(SRC, f), 'utf8'));
const readCsv = (f) => parseCsv(readFileSync(join(SRC, f), 'utf8'));
const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

mkdirSync(OUT, { recursive: true });

// ---------------------------------------------------------------------------------------------------
// 1. Countries: Ember yearly average (operational, location-based), as republished by co2.js
//    data/output/average-intensities.json (commit 27cbe832). Latest year per country.
const SRC_EMBER = 'Ember yearly electricity data via thegreenwebfoundation/co2.js average-intensities.json@27cbe832';
const ember = readJson('co2js_ember_average_intensities.json');
const countries = [];
const unmapped = [];
for (const [key, v] of Object.entries(ember)) {
  if (!v.country_code) continue; // aggregates (World, EU, Asia…) have no code; World goes to world.csv
  const alpha2 = A3_TO_A2.get(v.country_code);
  if (!alpha2) { unmapped.push(key); continue; }
  countries.push({
    alpha2, alpha3: v.country_code, name: v.country_or_region,
    gCo2ePerKWh: round(v.emissions_intensity_gco2_per_kwh), unit: 'gCO2e/kWh', year: v.year, source: SRC_EMBER,
  });
}
if (unmapped.length) console.warn(`countries without an ISO alpha-2 (left out): ${unmapped.join(' ')}`);
countries.sort((a, b) => a.alpha2.localeCompare(b.alpha2));
writeCsv('grid-countries.csv', ['alpha2', 'alpha3', 'name', 'gCo2ePerKWh', 'unit', 'year', 'source'], countries);

// ---------------------------------------------------------------------------------------------------
// 2. Grid zones: Electricity Maps 2024 yearly averages (lifecycle, the API default), republished by co2.js
//    data/output/electricity-maps/yearly_2024.json (commit 27cbe832). ODbL: attribute, share-alike.
const SRC_EM = 'Electricity Maps 2024 yearly (lifecycle) via thegreenwebfoundation/co2.js yearly_2024.json@27cbe832, ODbL';
const em = readJson('co2js_electricitymaps_yearly_2024.json');
const zones = [];
for (const [zone, v] of Object.entries(em)) {
  const ci = v?.carbonIntensity;
  if (!ci || typeof ci.value !== 'number' || ci.unit !== 'gCO2eq/kWh') { console.warn(`zone ${zone}: no usable intensity`); continue; }
  zones.push({ zone, name: v.zone?.zoneName ?? '', gCo2ePerKWh: ci.value, unit: 'gCO2e/kWh', year: 2024, source: SRC_EM });
}
zones.sort((a, b) => a.zone.localeCompare(b.zone));
writeCsv('grid-zones.csv', ['zone', 'name', 'gCo2ePerKWh', 'unit', 'year', 'source'], zones);
const zoneIds = new Set(zones.map((z) => z.zone));

// ---------------------------------------------------------------------------------------------------
// 3. US eGRID2022 subregions (CO2e total output emission rate). Public domain. The source file is a
//    third-party transcription of EPA's Summary Table 1: verify against epa.gov/egrid when refreshing.
const egrid = readCsv('egrid2022_subregion_co2e.csv')
  .filter((r) => r.egrid_subregion !== 'US') // the US average is the country row's job
  .map((r) => ({
    subregion: r.egrid_subregion, name: r.name, gCo2ePerKWh: Number(r.gCO2e_per_kWh), unit: 'gCO2e/kWh',
    year: Number(r.data_year), source: 'EPA eGRID2022 Summary Table 1 (CO2e total output rate), third-party transcription; public domain',
  }));
writeCsv('grid-egrid.csv', ['subregion', 'name', 'gCo2ePerKWh', 'unit', 'year', 'source'], egrid);

// ---------------------------------------------------------------------------------------------------
// 4. Cloud regions -> Electricity Maps zone, from cloud-carbon-footprint's region lists (Apache-2.0,
//    commit b7a049c7). CCF leaves some regions without a zone; those are mapped here by the country the
//    region is in (the provider's own region pages name the city), at country-zone granularity.
const MANUAL_ZONES = {
  'aws:ap-east-1': 'HK', 'aws:cn-north-1': 'CN', 'aws:cn-northwest-1': 'CN', 'aws:me-south-1': 'BH',
  'aws:me-central-1': 'AE', 'gcp:asia-east2': 'HK', 'azure:apeast': 'HK', 'azure:uaecentral': 'AE',
  'azure:uaenorth': 'AE',
};
const SRC_CCF = 'cloud-carbon-footprint packages/*/src/lib/*Regions.ts@b7a049c7 (Apache-2.0)';
const regionRows = new Map();
for (const r of readCsv('cloud_region_to_electricitymaps_zone.csv')) {
  if (!r.region || r.region === 'Unknown') continue;
  const id = `${r.provider}:${r.region.toLowerCase()}`;
  let zone = r.electricity_maps_zone;
  let source = SRC_CCF;
  if (!zone) {
    zone = MANUAL_ZONES[id];
    source = 'region location (provider region list), mapped to its country zone by scripts/build-factors.mjs';
    if (!zone) { console.warn(`cloud region ${id}: no zone, left out`); continue; }
  }
  if (!zoneIds.has(zone)) { console.warn(`cloud region ${id}: zone ${zone} not in grid-zones.csv, left out`); continue; }
  if (regionRows.has(id)) continue; // CCF lists a few aliases twice
  regionRows.set(id, { region: id, provider: r.provider, zone, country: zone.split('-')[0], year: 2024, source });
}
const cloudRegions = [...regionRows.values()].sort((a, b) => a.region.localeCompare(b.region));
writeCsv('cloud-regions.csv', ['region', 'provider', 'zone', 'country', 'year', 'source'], cloudRegions);

// ---------------------------------------------------------------------------------------------------
// 5. PUE and on-site WUE by provider (fleet), self-hosted default, and AWS per-region WUE.
//    Values picked from pue_defaults.csv / wue_onsite.csv (latest provider-reported figure per provider).
const SRC_SELF_PUE = 'Uptime Institute Global Data Center Survey 2024 average (via pue_defaults.csv)';
const efficiency = [
  { scope: 'aws', factor: 'pue', value: 1.15, unit: 'ratio', year: 2024, source: 'AWS global PUE 2024, aws.amazon.com/sustainability/data-centers' },
  { scope: 'aws', factor: 'wue', value: 0.15, unit: 'L/kWh', year: 2024, source: 'AWS global WUE 2024, sustainability.aboutamazon.com (third-party transcription)' },
  { scope: 'gcp', factor: 'pue', value: 1.09, unit: 'ratio', year: 2024, source: 'Google fleet TTM PUE, Elsworth et al. 2025 arXiv:2508.15734' },
  { scope: 'gcp', factor: 'wue', value: 1.1, unit: 'L/kWh', year: 2023, source: 'Google on-site WUE estimated from totals (New Scientist 2023), GSF water-cloud plugin cloud-wue.json' },
  { scope: 'azure', factor: 'pue', value: 1.16, unit: 'ratio', year: 2024, source: 'Microsoft global average PUE, datacenters.microsoft.com/sustainability/efficiency' },
  { scope: 'azure', factor: 'wue', value: 0.3, unit: 'L/kWh', year: 2024, source: 'Microsoft global WUE FY2024 (0.30 L/kWh)' },
  // Self-hosted: an average enterprise/colo site. PUE from the Uptime survey; on-site WUE from Li et al.
  // 2023's US average (evaporative cooling). An air-cooled room without cooling towers is near 0: override.
  { scope: 'self-hosted', factor: 'pue', value: 1.56, unit: 'ratio', year: 2024, source: SRC_SELF_PUE },
  { scope: 'self-hosted', factor: 'wue', value: 0.55, unit: 'L/kWh', year: 2022, source: 'Li, Yang, Islam, Ren 2023 arXiv:2304.03271 US average on-site WUE' },
];
for (const r of readCsv('wue_onsite.csv')) {
  if (r.provider !== 'aws' || !/^[a-z]{2}-[a-z]+-\d$/.test(r.region)) continue;
  const id = `aws:${r.region}`;
  if (!regionRows.has(id)) { console.warn(`WUE row ${id}: region not in cloud-regions.csv, left out`); continue; }
  efficiency.push({ scope: id, factor: 'wue', value: Number(r.wue_onsite_L_per_kWh_IT), unit: 'L/kWh', year: Number(r.year_of_data), source: 'AWS per-region WUE 2024, sustainability.aboutamazon.com (third-party transcription)' });
}
writeCsv('efficiency.csv', ['scope', 'factor', 'value', 'unit', 'year', 'source'], efficiency);

// ---------------------------------------------------------------------------------------------------
// 6. Off-site EWIF (water consumed per kWh generated) by country: EcoLogits electricity_mixes.csv
//    (genai-impact/ecologits@2d0a1c76, MPL-2.0 code; values per WRI guidance). WOR = world -> world.csv.
const SRC_ECOLOGITS = 'genai-impact/ecologits ecologits/data/electricity_mixes.csv@2d0a1c76 (wue column = off-site EWIF)';
const mixes = readCsv('ecologits_electricity_mixes.csv');
const ewif = [];
let worldEwif;
for (const r of mixes) {
  if (r.name === 'WOR') { worldEwif = Number(r.wue); continue; }
  const alpha2 = A3_TO_A2.get(r.name);
  if (!alpha2) { console.warn(`EWIF row ${r.name}: not an ISO alpha-3, left out`); continue; }
  ewif.push({ alpha2, alpha3: r.name, ewif: Number(r.wue), unit: 'L/kWh', year: 2024, source: SRC_ECOLOGITS });
}
ewif.sort((a, b) => a.alpha2.localeCompare(b.alpha2));
writeCsv('ewif-countries.csv', ['alpha2', 'alpha3', 'ewif', 'unit', 'year', 'source'], ewif);

// ---------------------------------------------------------------------------------------------------
// 7. World defaults, used only when no region is configured (with a warning) or a factor is missing.
const world = ember.World;
writeCsv('world.csv', ['factor', 'value', 'unit', 'year', 'source'], [
  { factor: 'gridGCo2ePerKWh', value: world.emissions_intensity_gco2_per_kwh, unit: 'gCO2e/kWh', year: world.year, source: `${SRC_EMBER} (World)` },
  { factor: 'ewif', value: worldEwif, unit: 'L/kWh', year: 2024, source: `${SRC_ECOLOGITS} (WOR)` },
]);
