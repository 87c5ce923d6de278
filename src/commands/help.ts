/**
 * `inferwatt COMMAND --help` for the commands that take configuration flags (run, sensors, demo): each
 * lists its own flags, from the flag table (src/config/flags.ts) and the command's extra flags. factors and
 * project print their own usage.
 */
import type { ExtraFlag } from '../config/argv.js';
import { CONFIG_FLAGS, envName, type FlagSpec } from '../config/flags.js';
import { CALIBRATE_FLAGS } from './calibrate.js';
import { DEMO_FLAGS } from './demo.js';
import { SENSORS_FLAGS } from './sensors.js';

const line = (flag: string, help: string, env?: string) => `  --${flag.padEnd(18)} ${help}${env ? `  [${env}]` : ''}`;
const configLines = (flags: readonly FlagSpec[]) => [
  line('config FILE', 'YAML configuration file (config/default.yaml documents every key)', 'INFERWATT_CONFIG'),
  ...flags.map((f) => line(f.flag, f.help, envName(f.flag))),
];
const extraLines = (flags: readonly ExtraFlag[]) => flags.map((f) => line(f.flag, f.help));
const LAYERS = 'Flags win over INFERWATT_* environment variables, those over --config FILE, that over config/default.yaml.';
const EXIT = 'Exit status: 0 ok, 1 runtime failure, 2 bad configuration (every problem listed at once).';

/** The flags of the sensors' section: what `sensors` takes (the same sensor flags as `run`). */
const SENSOR_CONFIG_FLAGS = CONFIG_FLAGS.filter((f) => f.path[0] === 'sensors');

export type HelpTopic = 'run' | 'sensors' | 'demo' | 'calibrate';

export function commandHelp(command: HelpTopic): string {
  switch (command) {
    case 'run':
      return [
        'Usage: inferwatt run [flags]',
        '',
        'Samples the host\'s power, proxies the inference server and attributes energy, CO2e and water to each',
        'request; /metrics, /healthz, /readyz and /api/* on the metrics port. Stops on SIGTERM or SIGINT.',
        '',
        'Flags:',
        ...configLines(CONFIG_FLAGS),
        '',
        LAYERS,
        EXIT,
        '',
      ].join('\n');
    case 'sensors':
      return [
        'Usage: inferwatt sensors [flags]',
        '',
        'Shows the sensors found on this host, the ones skipped and why, and a few live readings.',
        '',
        'Flags:',
        ...extraLines(SENSORS_FLAGS),
        ...configLines(SENSOR_CONFIG_FLAGS),
        '',
        LAYERS,
        '',
      ].join('\n');
    case 'demo':
      return [
        'Usage: inferwatt demo [flags]',
        '',
        'Everything at once on any machine: a simulated OpenAI-compatible server and GPU, the agent in front of',
        'it and a load generator; prints each request\'s energy, CO2e and water, then a summary. When its',
        'default ports (8790, 9477) are taken it takes free ones and prints them.',
        '',
        'Flags:',
        ...extraLines(DEMO_FLAGS),
        // The upstream is the demo's own simulated server: --upstream and its timeouts are not the user's.
        ...configLines(CONFIG_FLAGS.filter((f) => f.flag !== 'upstream' && !f.flag.startsWith('upstream-'))),
        '',
        'The upstream is always the simulated server; --sensors defaults to simulated.',
        '',
      ].join('\n');
    case 'calibrate':
      return [
        'Usage: inferwatt calibrate --upstream URL --model NAME [flags]',
        '',
        'On an inference server that nothing else uses, sends a sweep of prompt lengths × completion lengths ×',
        'concurrency levels (random order, repeated) while the host\'s sensors measure, and fits what a token',
        'costs: J per prompt token, J per completion token, the baseline power while serving, R², and per',
        'concurrency level the J per completion token. --out writes the costs as configuration that',
        '`inferwatt run --attribution learned` uses until its live fit is ready. Ctrl-C stops after the',
        'requests in flight and reports what was fitted.',
        '',
        'Flags:',
        ...extraLines(CALIBRATE_FLAGS),
        line('upstream', 'the inference server (an OpenAI-compatible chat completions API)', envName('upstream')),
        ...configLines(SENSOR_CONFIG_FLAGS),
        '',
        EXIT,
        '',
      ].join('\n');
  }
}
