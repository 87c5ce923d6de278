/**
 * impacts.live.zone: null means "the configured region" (config/default.yaml): the provider must be asked
 * for that region's grid zone, and a region the provider does not cover is a configuration error, never
 * another grid's intensity reported under this region's name.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startAgent } from '../../src/agent.js';
import { ConfigError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';

const configFile = (yaml: string) => { const f = join(mkdtempSync(join(tmpdir(), 'inferwatt-live-')), 'c.yaml'); writeFileSync(f, yaml); return f; };
const base = ['--sensors', 'simulated', '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'];

async function firstLiveUrl(region: string, provider: string): Promise<string> {
  const urls: string[] = [];
  let arrived: () => void = () => {};
  const asked = new Promise<void>((r) => { arrived = r; });
  const fetchStub = (async (url: string | URL) => {
    urls.push(String(url));
    arrived();
    return new Response(JSON.stringify({ carbonIntensity: 100 }), { status: 200, headers: { 'content-type': 'application/json' } });
  }) as typeof fetch;
  const cfg = configFile(`impacts:\n  live:\n    provider: ${provider}\n    token: t\n`);
  const agent = await startAgent([...base, '--region', region, '--config', cfg], { env: {}, logger: silentLogger, fetch: fetchStub });
  try {
    await asked;
  } finally {
    await agent.stop();
  }
  return urls[0]!;
}

async function configProblems(region: string, provider: string): Promise<string[]> {
  try {
    const a = await startAgent([...base, '--region', region, '--config', configFile(`impacts:\n  live:\n    provider: ${provider}\n    token: t\n`)], { env: {}, logger: silentLogger, fetch: (async () => new Response('{}')) });
    await a.stop();
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

describe('live grid intensity: the zone asked for comes from the region', () => {
  it('electricitymaps with a cloud region asks for its grid zone (aws:eu-west-1 → IE), not the region id', async () => {
    expect(new URL(await firstLiveUrl('aws:eu-west-1', 'electricitymaps')).searchParams.get('zone')).toBe('IE');
  });

  it('gb-carbon-intensity with a region outside Great Britain is a configuration error (exit 2)', async () => {
    expect((await configProblems('FR', 'gb-carbon-intensity')).join('\n')).toMatch(/covers Great Britain only/);
  });

  it('electricitymaps with an eGRID subregion (no zone) asks for impacts.live.zone', async () => {
    expect((await configProblems('CAMX', 'electricitymaps')).join('\n')).toMatch(/no Electricity Maps zone; set impacts.live.zone/);
  });
});
