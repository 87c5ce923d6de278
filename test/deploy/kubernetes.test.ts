import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without type declarations
import { generate, FLEET_RULE_FILE, objectName, perJobRuleFiles } from '../../scripts/gen-k8s-rules.mjs';
import { parseDockerfile } from './dockerfile-parse.js';
import { REPO_ROOT } from './bundle-helpers.js';
import { checkAgentInvocation, IMAGE, K8S_DIR, k8sEnv, loadYamlDocs, PACKAGE_VERSION, yamlFiles, type Doc } from './manifests.js';

/**
 * deploy/kubernetes: every manifest parses; the inferwatt containers run the image of this version
 * with flags and INFERWATT_* variables that the CLI accepts, ports and probes that match what the
 * agent then listens on and serves, and the least-privilege settings; Services, ServiceMonitors and
 * selectors fit together; the PrometheusRules are exactly what scripts/gen-k8s-rules.mjs makes from
 * config/prometheus/rules.
 */
const docs = loadYamlDocs(K8S_DIR);
const ofKind = (kind: string) => docs.filter((d) => d.doc.kind === kind);
const workloads = docs.filter((d) => d.doc.kind === 'Deployment' || d.doc.kind === 'DaemonSet');
const podSpec = (w: Doc): Doc => w.spec.template.spec;
const inferwattContainers = workloads.flatMap((w) => (podSpec(w.doc).containers as Doc[]).filter((c) => String(c.image).startsWith('inferwatt')).map((c) => ({ w, c })));
const dockerCmd = parseDockerfile(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8')).filter((i) => i.keyword === 'CMD').pop()!.exec!;
const matches = (selector: Record<string, string>, labels: Record<string, string> | undefined) =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

describe('Kubernetes manifests', () => {
  it('parse, and each object has apiVersion, kind and a name; kustomizations list files that exist and pin this version', () => {
    expect(docs.length).toBeGreaterThan(8);
    for (const { file, doc } of docs) {
      expect(doc.apiVersion, file).toBeTruthy();
      expect(doc.kind, file).toBeTruthy();
      if (doc.kind !== 'Kustomization') expect(doc.metadata?.name, file).toMatch(/^[a-z0-9-]+$/);
    }
    const kustomizations = ofKind('Kustomization');
    expect(kustomizations.map((k) => basename(dirname(k.file))).sort()).toEqual(['daemonset', 'monitoring', 'sidecar']);
    for (const k of kustomizations) {
      for (const r of k.doc.resources as string[]) expect(existsSync(join(REPO_ROOT, dirname(k.file), r)), `${k.file}: ${r}`).toBe(true);
      for (const img of (k.doc.images ?? []) as { name: string; newTag: string }[]) {
        expect(img.name).toBe('inferwatt');
        expect(img.newTag).toBe(PACKAGE_VERSION);
      }
    }
    // Every manifest file is reachable from a kustomization (none forgotten), apart from the fleet
    // rules, which are listed commented out (they belong where all clusters meet: docs/fleet.md).
    const listed = new Set(kustomizations.flatMap((k) => (k.doc.resources as string[]).map((r) => join(dirname(k.file), r))));
    const unlisted = yamlFiles(K8S_DIR).map((f) => f.slice(REPO_ROOT.length + 1)).filter((f) => !f.endsWith('kustomization.yaml') && !listed.has(f));
    expect(unlisted).toEqual(['deploy/kubernetes/monitoring/prometheusrule-fleet.yaml']);
  });

  it('there is a sidecar Deployment and a DaemonSet, each running the image of this version', () => {
    expect(workloads.map((w) => w.doc.kind).sort()).toEqual(['DaemonSet', 'Deployment']);
    expect(inferwattContainers).toHaveLength(2);
    for (const { c } of inferwattContainers) expect(c.image).toBe(IMAGE);
    // Other images are pinned to a version as well.
    for (const w of workloads) for (const c of podSpec(w.doc).containers as Doc[]) expect(c.image, c.name).toMatch(/:[\w][\w.-]*$/);
    for (const w of workloads) for (const c of podSpec(w.doc).containers as Doc[]) expect(c.image).not.toMatch(/:latest$/);
  });

  it('inferwatt containers: args and INFERWATT_* variables accepted by the CLI; container ports, probes and the loaded config agree', () => {
    for (const { w, c } of inferwattContainers) {
      const where = `${w.file} ${c.name}`;
      expect(c.args, where).toEqual(dockerCmd);
      const inv = checkAgentInvocation(c.args as string[], k8sEnv(c));
      const ports = Object.fromEntries((c.ports as { name: string; containerPort: number }[]).map((p) => [p.name, p.containerPort]));
      expect(ports.metrics, where).toBe(inv.metricsPort);
      if (inv.config.proxy.enabled) expect(ports.proxy, where).toBe(inv.proxyPort);
      else expect(ports.proxy, `${where}: no proxy port when the proxy is off`).toBeUndefined();
      for (const probe of ['livenessProbe', 'readinessProbe'] as const) {
        const get = c[probe]?.httpGet as { path: string; port: string } | undefined;
        expect(get, `${where} ${probe}`).toBeDefined();
        expect(['/healthz', '/readyz']).toContain(get!.path);
        expect(get!.port).toBe('metrics');
      }
      expect(c.livenessProbe.httpGet.path, where).toBe('/healthz');
    }
  });

  it('least privilege: no escalation, read-only root, every capability dropped, runtime seccomp, no token, no host namespaces', () => {
    for (const { w, c } of inferwattContainers) {
      const where = `${w.file} ${c.name}`;
      const sc = c.securityContext as Doc;
      expect(sc.allowPrivilegeEscalation, where).toBe(false);
      expect(sc.readOnlyRootFilesystem, where).toBe(true);
      expect(sc.privileged ?? false, where).toBe(false);
      expect(sc.capabilities?.drop, where).toEqual(['ALL']);
      expect(sc.capabilities?.add, where).toBeUndefined();
      const spec = podSpec(w.doc);
      expect(spec.automountServiceAccountToken, where).toBe(false);
      // Service links would put INFERWATT_SERVICE_* / INFERWATT_PORT into the agent's env namespace.
      expect(spec.enableServiceLinks, where).toBe(false);
      expect(spec.securityContext?.seccompProfile?.type, where).toBe('RuntimeDefault');
      for (const k of ['hostNetwork', 'hostPID', 'hostIPC']) expect(spec[k] ?? false, `${where} ${k}`).toBe(false);
      for (const m of (c.volumeMounts ?? []) as { readOnly?: boolean; name: string }[]) expect(m.readOnly, `${where} mount ${m.name}`).toBe(true);
    }
  });

  it('the sidecar is non-root with no volume, and vLLM listens only on the pod loopback where INFERWATT_UPSTREAM points', () => {
    const dep = workloads.find((w) => w.doc.kind === 'Deployment')!;
    const { c } = inferwattContainers.find((x) => x.w === dep)!;
    expect(c.securityContext.runAsNonRoot).toBe(true);
    expect(c.securityContext.runAsUser).toBeGreaterThan(0);
    expect(c.volumeMounts).toBeUndefined();
    const vllm = (podSpec(dep.doc).containers as Doc[]).find((x) => x.name === 'vllm')!;
    const args = vllm.args as string[];
    const upstream = new URL(k8sEnv(c).INFERWATT_UPSTREAM!);
    expect(args[args.indexOf('--host') + 1]).toBe('127.0.0.1');
    expect(upstream.hostname).toBe('127.0.0.1');
    expect(args[args.indexOf('--port') + 1]).toBe(upstream.port);
    // The sidecar asks for no GPU of its own; vLLM does.
    expect(c.resources?.limits?.['nvidia.com/gpu']).toBeUndefined();
    expect(vllm.resources.limits['nvidia.com/gpu']).toBeGreaterThan(0);
  });

  it('the DaemonSet runs as root only for RAPL: host /sys read-only at /host/sys, INFERWATT_POWERCAP_ROOT inside it, NVIDIA variables, ready on /readyz', () => {
    const ds = workloads.find((w) => w.doc.kind === 'DaemonSet')!;
    const { c } = inferwattContainers.find((x) => x.w === ds)!;
    const env = k8sEnv(c);
    expect(c.securityContext.runAsUser).toBe(0);
    const mounts = c.volumeMounts as { name: string; mountPath: string; readOnly: boolean }[];
    expect(mounts).toHaveLength(1);
    const vol = (podSpec(ds.doc).volumes as Doc[]).find((v) => v.name === mounts[0]!.name)!;
    expect(vol.hostPath.path).toBe('/sys');
    expect(mounts[0]!.mountPath).toBe('/host/sys');
    expect(env.INFERWATT_POWERCAP_ROOT).toBe(`${mounts[0]!.mountPath}/class/powercap`);
    expect(env.NVIDIA_VISIBLE_DEVICES).toBe('all');
    expect(env.NVIDIA_DRIVER_CAPABILITIES).toBe('utility');
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    // hostPath is outside the Pod Security Standards "baseline": the namespace says so explicitly.
    const ns = ofKind('Namespace').find((n) => n.file.includes('daemonset'))!;
    const kust = ofKind('Kustomization').find((k) => k.file.includes('daemonset'))!;
    expect(kust.doc.namespace).toBe(ns.doc.metadata.name);
    expect(ns.doc.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('privileged');
  });

  it('Services select their pods and target named container ports; ServiceMonitors scrape /metrics on a Service whose name contains "inferwatt"', () => {
    for (const svc of ofKind('Service')) {
      const dir = dirname(svc.file);
      const pods = workloads.filter((w) => dirname(w.file) === dir && matches(svc.doc.spec.selector, w.doc.spec.template.metadata.labels));
      expect(pods, `${svc.file} ${svc.doc.metadata.name}`).toHaveLength(1);
      const names = new Set((podSpec(pods[0]!.doc).containers as Doc[]).flatMap((c) => ((c.ports ?? []) as Doc[]).map((p) => p.name as string)));
      for (const p of svc.doc.spec.ports as Doc[]) expect(names.has(p.targetPort), `${svc.doc.metadata.name} → ${p.targetPort}`).toBe(true);
      expect(matches(pods[0]!.doc.spec.selector.matchLabels, pods[0]!.doc.spec.template.metadata.labels)).toBe(true);
    }
    const monitors = ofKind('ServiceMonitor');
    expect(monitors).toHaveLength(2);
    for (const sm of monitors) {
      const dir = dirname(sm.file);
      const selected = ofKind('Service').filter((s) => dirname(s.file) === dir && matches(sm.doc.spec.selector.matchLabels, s.doc.metadata.labels));
      expect(selected, sm.file).toHaveLength(1);
      // The Operator's job label is the Service name; InferwattAgentDown matches job=~".*inferwatt.*".
      expect(selected[0]!.doc.metadata.name).toContain('inferwatt');
      for (const ep of sm.doc.spec.endpoints as Doc[]) {
        expect(ep.path).toBe('/metrics');
        expect((selected[0]!.doc.spec.ports as Doc[]).map((p) => p.name)).toContain(ep.port);
      }
    }
    // The sidecar's client-facing Service goes to the proxy, never straight to vLLM.
    const llm = ofKind('Service').find((s) => s.doc.metadata.name === 'llm')!;
    expect(llm.doc.spec.ports.map((p: Doc) => p.targetPort)).toEqual(['proxy']);
  });
});

describe('PrometheusRule generated from config/prometheus/rules', () => {
  it('the files on disk are exactly what scripts/gen-k8s-rules.mjs generates now (run it after editing the rules)', () => {
    const generated = generate() as Record<string, string>;
    expect(Object.keys(generated).map((p) => p.slice(REPO_ROOT.length + 1)).sort()).toEqual([
      'deploy/kubernetes/monitoring/prometheusrule-fleet.yaml', 'deploy/kubernetes/monitoring/prometheusrule.yaml',
    ]);
    for (const [path, content] of Object.entries(generated)) expect(readFileSync(path, 'utf8'), `${path} is stale: run node scripts/gen-k8s-rules.mjs`).toBe(content);
  });

  it('each PrometheusRule\'s groups equal its source file\'s groups, object for object, one object per rule file', () => {
    const rules = ofKind('PrometheusRule');
    const sources = [...(perJobRuleFiles() as string[]), FLEET_RULE_FILE as string];
    expect(rules.map((r) => r.doc.metadata.name).sort()).toEqual(sources.map((f) => objectName(f) as string).sort());
    for (const src of sources) {
      const rule = rules.find((r) => r.doc.metadata.name === objectName(src))!;
      expect(rule.doc.apiVersion).toBe('monitoring.coreos.com/v1');
      expect(rule.doc.spec.groups, src).toEqual((parse(readFileSync(src, 'utf8')) as { groups: unknown }).groups);
    }
    // Group names are unique across the objects that are deployed together.
    const groupNames = rules.flatMap((r) => (r.doc.spec.groups as { name: string }[]).map((g) => g.name));
    expect(new Set(groupNames).size).toBe(groupNames.length);
  });

  it('a changed rule file makes the committed manifest stale (the comparison can fail)', () => {
    const text = readFileSync(join(K8S_DIR, 'monitoring', 'prometheusrule.yaml'), 'utf8');
    const docsOnDisk = parseAllDocuments(text).map((d) => d.toJS() as Doc);
    const recording = docsOnDisk.find((d) => d.metadata.name === 'inferwatt-recording')!;
    const src = perJobRuleFiles().find((f: string) => f.endsWith('inferwatt-recording.rules.yml'));
    const srcGroups = (parse(readFileSync(src, 'utf8')) as { groups: { rules: { expr: string }[] }[] }).groups;
    srcGroups[0]!.rules[0]!.expr = 'sum(up)';
    expect(recording.spec.groups).not.toEqual(srcGroups);
  });
});
