import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAgent } from './agent.js';
import { CONFIG_FLAGS, envName } from './config/flags.js';
import { PACKAGE_ROOT } from './config/load.js';
import { errorMessage } from './core/errors.js';
import { reportError } from './commands/cli-errors.js';
import { runSensorsCommand } from './commands/sensors.js';
import { runFactorsCommand } from './commands/factors.js';
import { runProjectCommand } from './commands/project.js';
import { runDemoCommand } from './commands/demo.js';
import { runCalibrateCommand } from './commands/calibrate.js';
import { runReportCommand } from './commands/report.js';
import { commandHelp } from './commands/help.js';

/**
 * `inferwatt <command>`: run, demo (`npm start`), sensors, factors, project, help [COMMAND], version.
 * Exit status: 0 ok, 1 runtime failure, 2 bad configuration or usage (every problem listed).
 */
export interface CliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: Readonly<Record<string, string | undefined>>;
}

const defaultIo = (): CliIo => ({
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  env: process.env,
});

function version(): string {
  try {
    return (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function usage(): string {
  const flags = CONFIG_FLAGS.map((f) => `  --${f.flag.padEnd(18)} ${f.help}  [${envName(f.flag)}]`).join('\n');
  return `inferwatt ${version()}: measured energy, CO2e and water of every LLM inference request

Usage: inferwatt <command> [flags]
       inferwatt <command> --help   (or inferwatt help <command>) lists the flags of one command

Commands:
  run                 sample the host's power, proxy the inference server, export /metrics
  demo [--duration S] [--concurrency N]
                      everything at once on any machine: a simulated LLM server and GPU, the agent,
                      and a load generator; prints each request's energy, CO2e and water
  sensors [--json]    show the sensors found on this host, the ones skipped and why, live readings
  factors [REGION]    list the regions, or show the factors for REGION with their sources
  project [flags]     project yearly energy, CO2e and water at scale (inferwatt project --help)
  report [flags]      totals, CO2e (location- and market-based), water and SCI per query over a period,
                      from Prometheus or records files, as table, csv, json, md or html (inferwatt report --help)
  calibrate --upstream URL --model NAME
                      measure what a prompt and a completion token cost on an otherwise idle server;
                      --out writes them for --attribution learned (inferwatt calibrate --help)
  version             print the version

Flags of run (env variables in brackets; flags win over env, env over --config FILE, that over
config/default.yaml; the other commands: inferwatt <command> --help):
  --config FILE        YAML configuration file  [INFERWATT_CONFIG]
${flags}

Docs: README.md, config/default.yaml (every key), docs/.
`;
}

export async function main(argv: readonly string[], io: CliIo = defaultIo()): Promise<number> {
  // Bare `inferwatt` prints the help: starting an agent takes `inferwatt run` (the image's CMD says so).
  const [command = 'help', ...rest] = argv;
  const wantsHelp = rest.includes('--help') || rest.includes('-h');
  try {
    switch (command) {
      case 'run':
        if (wantsHelp) { io.stdout(commandHelp('run')); return 0; }
        return await runCommand(rest, io);
      case 'sensors':
        if (wantsHelp) { io.stdout(commandHelp('sensors')); return 0; }
        return await runSensorsCommand(rest, io);
      case 'demo':
        if (wantsHelp) { io.stdout(commandHelp('demo')); return 0; }
        return await runDemo(rest, io);
      case 'factors':
        return await runFactorsCommand(rest, io);
      case 'project':
        return await runProjectCommand(rest, io);
      case 'report':
        return await runReportCommand(rest, io);
      case 'calibrate':
        if (wantsHelp) { io.stdout(commandHelp('calibrate')); return 0; }
        return await runCalibrateCommand(rest, io);
      case 'version': case '--version': case '-v':
        io.stdout(`${version()}\n`);
        return 0;
      case 'help': case '--help': case '-h':
        if (rest[0] === 'run' || rest[0] === 'sensors' || rest[0] === 'demo' || rest[0] === 'calibrate') io.stdout(commandHelp(rest[0]));
        else if (rest[0] === 'factors' || rest[0] === 'project' || rest[0] === 'report') return await main([rest[0], '--help'], io);
        else io.stdout(usage());
        return 0;
      default:
        io.stderr(`inferwatt: unknown command "${command}"\n\n${usage()}`);
        return 2;
    }
  } catch (err) {
    return reportError(err, io, command);
  }
}

function interruptSignal(): { promise: Promise<void>; dispose: () => void } {
  let dispose = () => {};
  const promise = new Promise<void>((resolve) => {
    const on = () => resolve();
    process.once('SIGINT', on);
    process.once('SIGTERM', on);
    dispose = () => { process.off('SIGINT', on); process.off('SIGTERM', on); };
  });
  return { promise, dispose };
}

async function runDemo(argv: readonly string[], io: CliIo): Promise<number> {
  const sig = interruptSignal();
  try {
    return await runDemoCommand(argv, { ...io, interrupted: sig.promise });
  } finally {
    sig.dispose();
  }
}

async function runCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const agent = await startAgent(argv, { env: io.env });
  // The endpoints go to stdout whatever the log level: with port 0 this is how to find them.
  io.stdout(`inferwatt: metrics ${agent.metricsUrl}/metrics${agent.proxyUrl ? `, proxy ${agent.proxyUrl}` : ''}\n`);
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      io.stderr(`inferwatt: ${signal} received, finishing records and stopping\n`);
      agent.stop().then(() => resolve(0), (err) => { io.stderr(`inferwatt: error while stopping: ${errorMessage(err)}\n`); resolve(1); });
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
}
