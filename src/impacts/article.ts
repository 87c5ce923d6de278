/**
 * The article that started this project: K. G. A. Ludvigsen, "Environmental impact of ubiquitous generative
 * AI", Towards Data Science, 12 July 2023. Its inputs, as `inferwatt project --preset article` takes them,
 * and its printed table computed from them, line by line, each figure formatted as the article prints it.
 *
 * Where the article's own arithmetic differs from its text, the table follows the arithmetic (that is what
 * its printed figures come from) and says so in ARTICLE_NOTES; where a printed figure does not follow from
 * its inputs at all, the table prints what they give and says what the article prints. docs/projection.md
 * compares the two row by row; test/impacts/reference-points.test.ts pins every row.
 */
import type { PerPerson, ProjectionInputs, ProjectionResult } from './projection.js';

/** The article's inputs. */
export const ARTICLE = {
  users: 3.5e9,
  queriesPerUserPerDay: 30,
  /** ChatGPT's queries a day and the HGX A100 servers serving them (the article, after SemiAnalysis). */
  chatgptQueriesPerDay: 195e6,
  chatgptServers: 3617,
  gpusPerServer: 8,
  serverPowerKW: 6.5,
  utilization: 0.75,
  /** Mean of Microsoft's 1.18 and Google's 1.10. */
  pue: 1.14,
  gridGCo2ePerKWh: 484,
  /** HPE DL345 Gen10 Plus 2,500 kg + 8 × A100 150 kg. */
  serverKgCo2e: 3700,
  serverLifeYears: 5,
  /** 500 mL per 50 queries (Li et al. 2023). */
  waterMlPerQuery: 10,
  /** GPT-3's training (Patterson et al. 2021), taken as facility energy. */
  trainingKWhPerModel: 1_287_000,
  /** The text lists nine makers; the printed training figure is ten models' (see ARTICLE_NOTES). */
  modelsPerYear: 10,
  /** The article's comparisons. */
  tonnesPerDane: 11,
  adultDrinkingLitersPerDay: 3.2,
  turbineKWhPerYear: 6e6,
  /** Wind power's life-cycle intensity (offshore median) used for the all-wind case. */
  windGCo2ePerKWh: 12,
} as const;

export const ARTICLE_QUERIES_PER_SERVER_PER_DAY = ARTICLE.chatgptQueriesPerDay / ARTICLE.chatgptServers;
const DAYS_PER_YEAR = 365;

export const DANES: PerPerson = {
  tonnes: ARTICLE.tonnesPerDane,
  who: 'Danes',
  source: `the article's comparison: ${ARTICLE.tonnesPerDane} tCO2e per Dane per year`,
};

export function articleInputs(): ProjectionInputs {
  return {
    users: ARTICLE.users,
    queriesPerUserPerDay: ARTICLE.queriesPerUserPerDay,
    energy: {
      kind: 'server',
      serverPowerKW: ARTICLE.serverPowerKW,
      utilization: ARTICLE.utilization,
      queriesPerServerPerDay: ARTICLE_QUERIES_PER_SERVER_PER_DAY,
      origin: `the article: ${int(ARTICLE.chatgptServers)} HGX A100 servers × ${ARTICLE.serverPowerKW} kW × ${ARTICLE.utilization * 100} % serve ${words(ARTICLE.chatgptQueriesPerDay)} queries a day`,
    },
    pue: ARTICLE.pue,
    gridGCo2ePerKWh: ARTICLE.gridGCo2ePerKWh,
    water: { kind: 'per-query', mlPerQuery: ARTICLE.waterMlPerQuery },
    embodied: { serverKgCo2e: ARTICLE.serverKgCo2e, serverLifeYears: ARTICLE.serverLifeYears, queriesPerServerPerDay: ARTICLE_QUERIES_PER_SERVER_PER_DAY, wholeServers: false },
    training: { kWhPerModel: ARTICLE.trainingKWhPerModel, modelsPerYear: ARTICLE.modelsPerYear },
    perPerson: DANES,
  };
}

// -------------------------------------------------------------------------------------------------
// Formatting as the article prints

/** Whole number with thousands separators: 1,947,615. */
export const int = (x: number): string => Math.round(x).toLocaleString('en-US');
/** "105 billion", "3.5 billion", "195 million". */
export function words(x: number): string {
  const scale = Math.abs(x) >= 1e9 ? [1e9, 'billion'] as const : Math.abs(x) >= 1e6 ? [1e6, 'million'] as const : undefined;
  return scale ? `${(x / scale[0]).toLocaleString('en-US', { maximumFractionDigits: 2 })} ${scale[1]}` : int(x);
}
/** "about 15,800": rounded to `digits` significant figures. */
const about = (x: number, digits = 3): string => `about ${int(Number(x.toPrecision(digits)))}`;

export interface ArticleRow {
  /** The quantity's id (the `quantity` column of test/fixtures/reference/ludvigsen_2023_published.csv). */
  quantity: string;
  label: string;
  /** Unrounded, in `unit`. */
  value: number;
  unit: string;
  /** The figure as the article prints it. */
  printed: string;
  /** What follows the figure on its line: its unit in words and how it was obtained. */
  detail: string;
}

export interface ArticleTable {
  rows: ArticleRow[];
  /** Where the table follows the article's arithmetic rather than its text, or cannot follow its print. */
  notes: string[];
  /** True when flags changed some of the article's inputs: the table is then not the article's. */
  changedInputs: boolean;
}

/**
 * The article's table from a projection's inputs and result (normally `articleInputs()`; flags may change
 * them, and the table then shows what the article's method gives for those inputs).
 */
export function articleTable(i: ProjectionInputs, r: ProjectionResult): ArticleTable {
  const servers = r.servers ?? NaN;
  const gpus = servers * ARTICLE.gpusPerServer;
  const embodiedTotal = i.embodied ? (servers * i.embodied.serverKgCo2e) / 1000 : NaN;
  const itPerDay = r.energy.itKWhPerYear / DAYS_PER_YEAR;
  const waterPerDay = r.waterLiters.perQuery * r.queriesPerDay;
  const adultLitersPerYear = ARTICLE.adultDrinkingLitersPerDay * DAYS_PER_YEAR;
  // The article's wind comparisons start from "about 95 TWh", its facility energy to two figures.
  const aboutFacilityKWh = Number(r.energy.facilityKWhPerYear.toPrecision(2));
  const allWindTonnes = (aboutFacilityKWh * ARTICLE.windGCo2ePerKWh) / 1e6;
  const perPerson = r.comparisons.perPersonTonnes;
  const who = r.comparisons.perPersonWho;
  const models = i.training?.modelsPerYear ?? 0;
  const tonnes = 'tCO2e';

  const row = (quantity: string, label: string, value: number, unit: string, printed: string, detail: string): ArticleRow =>
    ({ quantity, label, value, unit, printed, detail });
  const rows: ArticleRow[] = [
    row('daily_queries', 'daily queries', r.queriesPerDay, 'queries/day', words(r.queriesPerDay), `(${words(i.users)} users × ${i.queriesPerUserPerDay})`),
    row('servers_needed', 'servers needed', servers, 'HGX A100 servers', int(servers), 'HGX A100 servers'),
    row('gpus_needed', 'GPUs needed', gpus, 'A100 GPUs', int(gpus), `A100 GPUs (${ARTICLE.gpusPerServer} a server)`),
    row('embodied_total', 'embodied CO2e of the fleet', embodiedTotal, tonnes, int(embodiedTotal), `${tonnes} (${int(i.embodied?.serverKgCo2e ?? NaN)} kgCO2e a server)`),
    row('embodied_per_year', 'embodied CO2e per year', r.co2eTonnes.embodied ?? NaN, `${tonnes}/yr`, int(r.co2eTonnes.embodied ?? NaN), `${tonnes} (over ${i.embodied?.serverLifeYears} years)`),
    row('training_per_year', 'training CO2e per year', r.co2eTonnes.training ?? NaN, `${tonnes}/yr`, int(r.co2eTonnes.training ?? NaN), `${tonnes} (${models} ${models === 1 ? 'model' : 'models'} × ${int(i.training?.kWhPerModel ?? NaN)} kWh)`),
    row('it_energy_per_hour', 'IT energy per hour', itPerDay / 24, 'kWh/h', int(itPerDay / 24), 'kWh'),
    row('it_energy_per_day', 'IT energy per day', itPerDay, 'kWh/day', int(itPerDay), 'kWh'),
    row('it_energy_per_year', 'IT energy per year', r.energy.itKWhPerYear, 'kWh/yr', int(r.energy.itKWhPerYear), 'kWh'),
    row('facility_energy_per_year', 'facility energy per year', r.energy.facilityKWhPerYear, 'kWh/yr', int(r.energy.facilityKWhPerYear), `kWh (about ${aboutFacilityKWh / 1e9} TWh)`),
    row('operational_per_year', 'operational CO2e per year', r.co2eTonnes.operational, `${tonnes}/yr`, int(r.co2eTonnes.operational), `${tonnes} (${i.gridGCo2ePerKWh} gCO2e/kWh)`),
    row('total_per_year', 'total CO2e per year', r.co2eTonnes.total, `${tonnes}/yr`, int(r.co2eTonnes.total), `${tonnes} (operational, embodied and training)`),
    row('danes_equivalent', `${who}' yearly emissions`, r.comparisons.personEquivalents, 'people', int(r.comparisons.personEquivalents), `(at ${perPerson} ${tonnes} each)`),
    row('global_share', 'share of global emissions', r.comparisons.shareOfGlobal, 'fraction', `${(r.comparisons.shareOfGlobal * 100).toFixed(2)} %`, `(of ${r.comparisons.globalEmissionsTonnes / 1e9} GtCO2e a year)`),
    row('water_per_day', 'water per day', waterPerDay, 'L/day', int(waterPerDay), `L (${r.waterLiters.perQuery * 1000} mL a query)`),
    row('water_per_year', 'water per year', r.waterLiters.perYear, 'L/yr', int(r.waterLiters.perYear), 'L'),
    row('adults_drinking_water_equivalent', "adults' drinking water", r.waterLiters.perYear / adultLitersPerYear, 'people', int(r.waterLiters.perYear / adultLitersPerYear), `adults (at ${int(adultLitersPerYear)} L a year each)`),
    row('wind_turbines_needed', 'wind turbines to supply it', aboutFacilityKWh / ARTICLE.turbineKWhPerYear, 'turbines', about(aboutFacilityKWh / ARTICLE.turbineKWhPerYear), `(at ${ARTICLE.turbineKWhPerYear / 1e6} GWh a year each)`),
    row('all_wind_operational', 'operational CO2e on wind', allWindTonnes, `${tonnes}/yr`, about(allWindTonnes), `${tonnes} (${about(allWindTonnes / perPerson)} ${who})`),
  ];

  const changedInputs = JSON.stringify(i) !== JSON.stringify(articleInputs());
  // Said of the article's own inputs only (renderArticleTable leaves them out when flags changed them).
  const trainingOf = (n: number) => int(((i.training?.kWhPerModel ?? NaN) * n * i.gridGCo2ePerKWh) / 1e6);
  const twh = `about ${aboutFacilityKWh / 1e9} TWh`;
  const notes = [
    `training: ${models} models a year, which is what the article's training figure is (${models} × ${int(i.training?.kWhPerModel ?? NaN)} kWh × ${i.gridGCo2ePerKWh} gCO2e/kWh = ${trainingOf(models)} t), although its text lists nine makers (nine would give ${trainingOf(9)} t)`,
    `servers: ChatGPT's ${int(ARTICLE.chatgptServers)} servers scaled to ${words(r.queriesPerDay)} queries a day are ${servers.toLocaleString('en-US', { maximumFractionDigits: 2 })} servers; as in the article, the GPUs and the embodied CO2e use that count, not rounded up to whole servers`,
    `${twh}: the wind comparisons start from the facility energy to two figures, as the article's do`,
    `adults: the figure of the article's table (water per year ÷ ${int(adultLitersPerYear)} L); its body text says 328,135,000`,
    `operational: ${r.co2eTonnes.operational.toLocaleString('en-US', { maximumFractionDigits: 2 })} t, printed rounded; the article prints 45,891,487 (cut, where its other figures are rounded)`,
    `all on wind: ${twh} × ${ARTICLE.windGCo2ePerKWh} gCO2e/kWh = ${int(allWindTonnes)} t, ${about(allWindTonnes / perPerson)} ${who} as the article says; the article prints 1,114,000 t, which its inputs do not give`,
  ];
  return { rows, notes, changedInputs };
}

export function renderArticleTable(t: ArticleTable): string {
  const width = Math.max(...t.rows.map((r) => r.label.length)) + 2;
  const lines = [
    t.changedInputs
      ? "The article's table, computed by its method from the inputs above (flags changed some of the article's inputs)"
      : "The article's table (Ludvigsen 2023), computed from its inputs",
    ...t.rows.map((r) => `  ${r.label.padEnd(width)}${r.printed}${r.detail ? ` ${r.detail}` : ''}`),
  ];
  if (!t.changedInputs) {
    lines.push('', "Where this follows the article's arithmetic rather than its text (docs/projection.md):", ...t.notes.map((n) => `  - ${n}`));
  }
  return lines.join('\n') + '\n';
}
