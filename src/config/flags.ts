/**
 * The flags of `run` and `sensors`, each bound to one config key. The same table gives the
 * environment variables: `--metrics-listen` ⇔ INFERWATT_METRICS_LISTEN (flags override env).
 */
export type FlagType = 'string' | 'int' | 'number' | 'bool' | 'list' | 'nullable-string';

export interface FlagSpec {
  readonly flag: string;
  readonly path: readonly string[];
  readonly type: FlagType;
  readonly help: string;
}

export const CONFIG_FLAGS: readonly FlagSpec[] = [
  { flag: 'upstream', path: ['proxy', 'upstream'], type: 'string', help: 'inference server to proxy to (default http://127.0.0.1:8000)' },
  { flag: 'listen', path: ['proxy', 'listen'], type: 'string', help: 'proxy HOST:PORT (default 127.0.0.1:8790)' },
  { flag: 'upstream-timeout-ms', path: ['proxy', 'upstreamTimeoutMs'], type: 'int', help: 'time to the upstream\'s response headers, then 504 (default 600000)' },
  { flag: 'upstream-idle-timeout-ms', path: ['proxy', 'upstreamIdleTimeoutMs'], type: 'int', help: 'longest silence of the upstream once its response began, then cut; 0 = never (default 300000)' },
  { flag: 'proxy', path: ['proxy', 'enabled'], type: 'bool', help: 'run the proxy (default true; --proxy=false measures devices only)' },
  { flag: 'metrics-listen', path: ['metrics', 'listen'], type: 'string', help: 'metrics/API HOST:PORT (default 127.0.0.1:9477)' },
  { flag: 'region', path: ['impacts', 'region'], type: 'nullable-string', help: 'grid region: FR, US-CAL-CISO, aws:eu-west-1, … (see `inferwatt factors`)' },
  { flag: 'provider', path: ['impacts', 'provider'], type: 'nullable-string', help: 'data-centre provider for PUE/WUE: self-hosted, aws, gcp, azure' },
  { flag: 'sensors', path: ['sensors', 'enabled'], type: 'list', help: 'auto, or any of nvml,nvidia-smi,rapl,estimate,simulated' },
  { flag: 'interval-ms', path: ['sensors', 'gpuIntervalMs'], type: 'int', help: 'GPU sampling interval (default 100)' },
  { flag: 'cpu-interval-ms', path: ['sensors', 'cpuIntervalMs'], type: 'int', help: 'RAPL/estimate sampling interval (default 250)' },
  { flag: 'nvidia-smi', path: ['sensors', 'nvidiaSmi'], type: 'string', help: 'path of nvidia-smi (default: on PATH)' },
  { flag: 'nvml-lib', path: ['sensors', 'nvmlLib'], type: 'nullable-string', help: 'path of libnvidia-ml.so.1 (default: standard locations)' },
  { flag: 'gpu-cross-check', path: ['sensors', 'gpuCrossCheck'], type: 'bool', help: 'run nvml and nvidia-smi side by side and export their disagreement' },
  { flag: 'powercap-root', path: ['sensors', 'powercapRoot'], type: 'string', help: 'powercap sysfs root (default /sys/class/powercap)' },
  { flag: 'cpu-tdp-w', path: ['sensors', 'cpuTdpW'], type: 'number', help: 'CPU TDP for the load-based estimate, W' },
  { flag: 'simulated-gpus', path: ['sensors', 'simulatedGpus'], type: 'int', help: 'GPUs of the simulated sensor (default 1)' },
  { flag: 'attribution', path: ['attribution', 'policy'], type: 'string', help: 'time | tokens | learned' },
  { flag: 'queued-prefill', path: ['attribution', 'learn', 'queuedPrefill'], type: 'bool', help: 'learned: the engine computes the prompts of requests that arrive together one after another (llama.cpp slots), so a request\'s prefill starts when the one before it ends' },
  { flag: 'learn-state', path: ['attribution', 'learn', 'stateFile'], type: 'nullable-string', help: 'learned: keep the learned token costs across restarts in this file' },
  { flag: 'idle', path: ['attribution', 'idle'], type: 'string', help: 'unattributed | amortize' },
  { flag: 'records', path: ['records', 'file'], type: 'nullable-string', help: 'append finished request records to this JSONL file' },
  { flag: 'log-level', path: ['log', 'level'], type: 'string', help: 'debug | info | warn | error | silent' },
  { flag: 'log-format', path: ['log', 'format'], type: 'string', help: 'text | json' },
];

export function envName(flag: string): string {
  return 'INFERWATT_' + flag.toUpperCase().replace(/-/g, '_');
}

/** Converts a flag or env string to the key's type; returns a problem text on failure. */
export function coerceFlagValue(spec: FlagSpec, raw: string | boolean): { value: unknown } | { problem: string } {
  if (typeof raw === 'boolean') {
    return spec.type === 'bool' ? { value: raw } : { problem: `--${spec.flag} needs a value` };
  }
  const s = raw.trim();
  switch (spec.type) {
    case 'string': return { value: s };
    case 'nullable-string': return { value: s === '' || s === 'none' ? null : s };
    case 'int': {
      if (!/^-?\d+$/.test(s)) return { problem: `--${spec.flag}: "${raw}" is not a whole number` };
      return { value: Number(s) };
    }
    case 'number': {
      const n = Number(s);
      if (s === '' || !Number.isFinite(n)) return { problem: `--${spec.flag}: "${raw}" is not a number` };
      return { value: n };
    }
    case 'bool': {
      if (/^(1|true|yes|on)$/i.test(s)) return { value: true };
      if (/^(0|false|no|off)$/i.test(s)) return { value: false };
      return { problem: `--${spec.flag}: "${raw}" is not true/false` };
    }
    case 'list': {
      const items = s.split(',').map((x) => x.trim()).filter(Boolean);
      return { value: items.length === 1 && items[0] === 'auto' ? 'auto' : items };
    }
  }
}
