import { describe, expect, it } from 'vitest';
import { runFactorsCommand } from '../../src/commands/factors.js';

async function run(argv: string[]) {
  let out = '';
  let err = '';
  const code = await runFactorsCommand(argv, { stdout: (s) => { out += s; }, stderr: (s) => { err += s; } });
  return { code, out, err };
}

describe('inferwatt factors', () => {
  it('without REGION lists the regions of every kind', async () => {
    const r = await run([]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/Cloud regions .*: \d+/);
    expect(r.out).toMatch(/aws:us-east-1 +US-MIDA-PJM/);
    expect(r.out).toMatch(/gcp:europe-west1/);
    expect(r.out).toMatch(/azure:westeurope/);
    expect(r.out).toMatch(/FR +FRA +France/);
    expect(r.out).toMatch(/CAMX +WECC California/);
    expect(r.out).toMatch(/US-CAL-CISO/);
  });

  it('--json lists regions as objects', async () => {
    const r = await run(['--json']);
    expect(r.code).toBe(0);
    const list = JSON.parse(r.out) as { kind: string; id: string }[];
    expect(list.find((x) => x.id === 'aws:eu-west-1')?.kind).toBe('cloud');
    expect(list.find((x) => x.id === 'FR')?.kind).toBe('country');
  });

  it('REGION prints each factor with value, year and source', async () => {
    const r = await run(['aws:eu-west-1']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/region aws:eu-west-1 — Ireland \(IE\) \(cloud, zone IE\)/);
    expect(r.out).toMatch(/grid intensity +352 gCO2e\/kWh +2024 +region +Electricity Maps 2024/);
    expect(r.out).toMatch(/PUE +1\.15 +2024 +region +AWS global PUE 2024/);
    expect(r.out).toMatch(/WUE \(on-site\) +0\.03 L\/kWh IT +2024 .*\[aws:eu-west-1\]/);
    expect(r.out).toMatch(/EWIF \(off-site\) +1\.4769 L\/kWh .*\[IE\]/);
    expect(r.out).toMatch(/record source: static:electricitymaps/);
    // 1 kWh IT → 1.15 × 352 = 404.8 g; 0.03 + 1.15 × 1.4769 = 1.728 L
    expect(r.out).toMatch(/1 kWh IT → 404\.8 gCO2e, 1\.728 L water/);
    expect(r.err).toBe('');
  });

  it('a country that is also a zone shows the zone figure and how to ask for it', async () => {
    const r = await run(['FR']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/record source: static:ember/);
    expect(r.out).toMatch(/also: zone:FR = 33 gCO2e\/kWh \(2024, Electricity Maps, lifecycle\)/);
  });

  it('REGION --json gives the resolved factors with details', async () => {
    const r = await run(['US-CAL-CISO', '--json', '--provider', 'gcp']);
    expect(r.code).toBe(0);
    const f = JSON.parse(r.out);
    expect(f).toMatchObject({ region: 'US-CAL-CISO', gridGCo2ePerKWh: 229, pue: 1.09, kind: 'zone', source: 'static:electricitymaps' });
    expect(f.details.gridGCo2ePerKWh.year).toBe(2024);
  });

  it('an unknown region exits 2 and suggests near matches', async () => {
    const r = await run(['aws:eu-wst-1']);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/region "aws:eu-wst-1" is not in the factor tables; did you mean aws:eu-west-1/);
  });

  it('a bad flag or two regions exit 2 with usage', async () => {
    expect((await run(['--bogus'])).code).toBe(2);
    const two = await run(['FR', 'DE']);
    expect(two.code).toBe(2);
    expect(two.err).toMatch(/one REGION at most/);
  });

  it('an unknown provider exits 2', async () => {
    const r = await run(['FR', '--provider', 'oracle']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/provider "oracle"/);
  });

  it('finds a country by its name, as the list shows it (France → FR), and suggests names', async () => {
    const r = await run(['France']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^region FR — France \(country\)/);
    expect((await run(['united kingdom'])).out).toMatch(/^region GB — United Kingdom/);
    expect((await run(['United', 'Kingdom'])).out).toMatch(/^region GB — United Kingdom/);
    const near = await run(['Frence']);
    expect(near.code).toBe(2);
    expect(near.err).toMatch(/did you mean .*\bFR\b/);
  });
});
