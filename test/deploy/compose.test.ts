import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { requireBinary } from '../helpers/prometheus.js';
import { ruleFiles } from '../prometheus/promql-names.js';
import { parseDockerfile } from './dockerfile-parse.js';
import { REPO_ROOT } from './bundle-helpers.js';
import { checkAgentInvocation, COMPOSE_DIR, composeDefaults, IMAGE, type Doc } from './manifests.js';

/**
 * deploy/compose: both files parse (YAML; there is no Docker daemon or compose plugin here), name
 * pinned images, build inferwatt from this repository's Dockerfile with its CMD, pass only INFERWATT_*
 * variables that the CLI reads, publish the agent's ports on loopback, point the agent at an upstream
 * service of the same file, and mount Prometheus and Grafana files that exist, with the rules and the
 * dashboards of the repository; the compose Prometheus config passes `promtool check config`.
 */
const FILES = ['docker-compose.yml', 'docker-compose.cpu.yml'] as const;
const load = (f: string) => parse(readFileSync(join(COMPOSE_DIR, f), 'utf8')) as Doc;
const dockerCmd = parseDockerfile(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8')).filter((i) => i.keyword === 'CMD').pop()!.exec!;
const envOf = (svc: Doc): Record<string, string> =>
  Object.fromEntries(Object.entries((svc.environment ?? {}) as Record<string, string>).map(([k, v]) => [k, composeDefaults(String(v))]));
/** `host:container[:ro]` volume → [host path resolved against the compose file, container path, mode]. */
const bindMounts = (svc: Doc) => ((svc.volumes ?? []) as string[]).map((v) => v.split(':')).filter((p) => p[0]!.startsWith('.') || p[0]!.startsWith('/'))
  .map(([host, target, mode]) => ({ host: host!.startsWith('.') ? resolve(COMPOSE_DIR, host!) : host!, target: target!, mode }));

describe.each(FILES)('%s', (file) => {
  const compose = load(file);
  const services = compose.services as Record<string, Doc>;
  const agent = services.inferwatt!;
  const agentEnv = envOf(agent);
  const inv = checkAgentInvocation(agent.command as string[], agentEnv);

  it('has inferwatt, an inference server, Prometheus and Grafana, each image pinned to a version', () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining(['inferwatt', 'prometheus', 'grafana']));
    for (const [name, svc] of Object.entries(services)) {
      expect(svc.image, name).toMatch(/^[\w./-]+:[\w][\w.-]*$/);
      expect(svc.image, name).not.toMatch(/:latest$/);
    }
  });

  it('builds inferwatt from this repository\'s Dockerfile, as the image of this version, with the image\'s CMD', () => {
    expect(agent.image).toBe(IMAGE);
    expect(resolve(COMPOSE_DIR, agent.build.context)).toBe(REPO_ROOT);
    expect(existsSync(join(REPO_ROOT, agent.build.dockerfile ?? 'Dockerfile'))).toBe(true);
    expect(agent.command).toEqual(dockerCmd);
  });

  it('publishes the agent\'s proxy and metrics ports on the host\'s loopback only, and the upstream is a service of this file', () => {
    const published = (agent.ports as string[]).map((p) => p.split(':'));
    for (const p of published) expect(p[0], p.join(':')).toBe('127.0.0.1');
    expect(published.map((p) => Number(p[2])).sort()).toEqual([inv.proxyPort, inv.metricsPort].sort());
    for (const svc of Object.values(services)) for (const p of (svc.ports ?? []) as string[]) expect(p).toMatch(/^127\.0\.0\.1:/);
    const upstream = new URL(inv.config.proxy.upstream);
    const server = services[upstream.hostname];
    expect(server, `upstream ${upstream.hostname}`).toBeDefined();
    expect(server!.ports, 'the inference server is not published: clients go through the proxy').toBeUndefined();
    const args = (server!.command ?? []) as string[];
    // vLLM names its port; Ollama serves on 11434 (its documented default).
    const port = args.includes('--port') ? args[args.indexOf('--port') + 1] : server!.image.startsWith('ollama/') ? '11434' : undefined;
    expect(upstream.port).toBe(port);
  });

  it('runs the agent with a read-only root, no capabilities and no privilege escalation; root and the host /sys only together, for RAPL', () => {
    expect(agent.read_only).toBe(true);
    expect(agent.cap_drop).toEqual(['ALL']);
    expect(agent.security_opt).toContain('no-new-privileges:true');
    expect(agent.privileged ?? false).toBe(false);
    expect(agent.cap_add).toBeUndefined();
    const sys = bindMounts(agent).find((m) => m.host === '/sys');
    if (agent.user !== undefined) {
      expect(String(agent.user)).toBe('0');
      expect(sys).toMatchObject({ target: '/host/sys', mode: 'ro' });
      expect(agentEnv.INFERWATT_POWERCAP_ROOT).toBe(`${sys!.target}/class/powercap`);
      expect(inv.config.sensors.powercapRoot).toBe('/host/sys/class/powercap');
    } else {
      // The image's uid 1000 cannot read energy_uj: no mount it could not use.
      expect(sys).toBeUndefined();
      expect(agent.volumes).toBeUndefined();
    }
    for (const m of bindMounts(agent)) expect(m.mode).toBe('ro');
  });

  it('GPU variant only: the agent gets the GPUs through the NVIDIA toolkit with the management capability', () => {
    const gpus = agent.deploy?.resources?.reservations?.devices as Doc[] | undefined;
    if (file === 'docker-compose.yml') {
      expect(gpus?.[0]).toMatchObject({ driver: 'nvidia', count: 'all' });
      expect(gpus![0]!.capabilities).toContain('utility');
      expect(services.vllm!.deploy.resources.reservations.devices[0].capabilities).toContain('gpu');
    } else {
      expect(gpus).toBeUndefined();
    }
  });

  it('Prometheus scrapes the agent\'s metrics port and loads every rule file from config/prometheus/rules', () => {
    const prom = services.prometheus!;
    const mounts = bindMounts(prom);
    const cfgMount = mounts.find((m) => m.target === '/etc/prometheus/prometheus.yml')!;
    const rulesMount = mounts.find((m) => m.target === '/etc/prometheus/rules')!;
    expect(rulesMount.host).toBe(join(REPO_ROOT, 'config', 'prometheus', 'rules'));
    const cfg = parse(readFileSync(cfgMount.host, 'utf8')) as Doc;
    const job = (cfg.scrape_configs as Doc[]).find((j) => j.job_name === 'inferwatt')!;
    expect(job.static_configs[0].targets).toEqual([`inferwatt:${inv.metricsPort}`]);
    const loaded = (cfg.rule_files as string[]).map((r) => join(rulesMount.host, r.replace(/^rules\//, '')));
    for (const f of loaded) expect(existsSync(f), f).toBe(true);
    for (const f of ruleFiles()) expect(loaded).toContain(f);
    expect(loaded).toContain(join(rulesMount.host, 'fleet.yml'));
  });

  it('Grafana is provisioned with the repository\'s dashboards and a data source of the same uid, at the compose Prometheus', () => {
    const mounts = bindMounts(services.grafana!);
    for (const m of mounts) expect(existsSync(m.host), m.host).toBe(true);
    const provider = parse(readFileSync(mounts.find((m) => m.target.startsWith('/etc/grafana/provisioning/dashboards/'))!.host, 'utf8')) as Doc;
    const dashboardsMount = mounts.find((m) => m.target === provider.providers[0].options.path);
    expect(dashboardsMount?.host).toBe(join(REPO_ROOT, 'dashboards'));
    expect(statSync(dashboardsMount!.host).isDirectory()).toBe(true);
    const ds = parse(readFileSync(mounts.find((m) => m.target.startsWith('/etc/grafana/provisioning/datasources/'))!.host, 'utf8')) as Doc;
    const repoDs = parse(readFileSync(join(REPO_ROOT, 'dashboards', 'provisioning', 'datasources', 'inferwatt.yaml'), 'utf8')) as Doc;
    expect(ds.datasources[0].uid).toBe(repoDs.datasources[0].uid);
    expect(ds.datasources[0].url).toBe('http://prometheus:9090');
    const exemplarUrl = new URL(ds.datasources[0].jsonData.exemplarTraceIdDestinations[0].url.replace('$${__value.raw}', 'x'));
    expect(Number(exemplarUrl.port)).toBe(inv.metricsPort);
  });
});

describe('compose Prometheus configuration', () => {
  it('passes promtool check config with the rules laid out as the compose file mounts them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'inferwatt-compose-prom-'));
    cpSync(join(COMPOSE_DIR, 'prometheus', 'prometheus.yml'), join(dir, 'prometheus.yml'));
    mkdirSync(join(dir, 'rules'));
    cpSync(join(REPO_ROOT, 'config', 'prometheus', 'rules'), join(dir, 'rules'), { recursive: true });
    const r = spawnSync(requireBinary('promtool'), ['check', 'config', join(dir, 'prometheus.yml')], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    const listed = (parse(readFileSync(join(dir, 'prometheus.yml'), 'utf8')) as Doc).rule_files as string[];
    expect(r.stdout).toContain(`SUCCESS: ${listed.length} rule files found`);
  });
});
