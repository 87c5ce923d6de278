#!/usr/bin/env node
/**
 * A real inference engine for inferwatt's tests and demos: llama.cpp (node-llama-cpp, CPU) behind an
 * OpenAI-compatible server (openai-api.mjs), serving the seeded random llama of random-llama.mjs unless
 * --model names another GGUF. See docs/engine.md.
 *
 *   bash scripts/install-engine.sh        # once: node-llama-cpp and its CPU binary, into test/engine/
 *   node test/engine/server.mjs --port 8000
 *
 * Flags (llama.cpp server's names where it has one):
 *   --host H               default 127.0.0.1
 *   --port N               default 8000; 0 takes a free port
 *   --model PATH           a GGUF; default the random llama, written to .tmp/engine/ if absent
 *   --served-model-name S  default the GGUF's general.name
 *   --threads N            default 1 (see llama-engine.mjs)
 *   --parallel N           sequences decoded together, default 4; more requests wait in a queue
 *   --ctx-size N           tokens per sequence (prompt + completion), default 4096
 *   --batch-size N         prompt tokens per decode step, default 512
 *
 * Once the model is loaded it prints one line, `inferwatt test engine: <model> at http://HOST:PORT`, to
 * stdout; SIGINT or SIGTERM stops it.
 */
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createLlamaEngine } from './llama-engine.mjs';
import { createOpenAiHandler } from './openai-api.mjs';
import { ensureRandomLlama } from './random-llama.mjs';

const INT_FLAGS = ['port', 'threads', 'parallel', 'ctx-size', 'batch-size'];

function readFlags(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8000' },
      model: { type: 'string' },
      'served-model-name': { type: 'string' },
      threads: { type: 'string', default: '1' },
      parallel: { type: 'string', default: '4' },
      'ctx-size': { type: 'string', default: '4096' },
      'batch-size': { type: 'string', default: '512' },
    },
    strict: true,
  });
  const problems = [];
  const ints = {};
  for (const f of INT_FLAGS) {
    const n = Number(values[f]);
    if (!Number.isInteger(n) || n < (f === 'port' ? 0 : 1)) problems.push(`--${f} must be an integer ${f === 'port' ? '≥ 0' : '≥ 1'}, got "${values[f]}"`);
    ints[f] = n;
  }
  if (problems.length) throw new Error(problems.join('; '));
  return { ...values, ...ints };
}

/**
 * Starts the engine and its server; resolves once both are ready.
 * @param {string[]} argv flags as on the command line
 */
export async function startEngineServer(argv) {
  const flags = readFlags(argv);
  const modelPath = flags.model ? resolve(flags.model) : ensureRandomLlama().path;
  const engine = await createLlamaEngine({
    modelPath, threads: flags.threads, parallel: flags.parallel, contextSize: flags['ctx-size'], batchSize: flags['batch-size'],
  });
  const servedModelName = flags['served-model-name'] ?? engine.modelName;
  const handle = createOpenAiHandler(engine, { servedModelName });
  const server = createServer((req, res) => { void handle(req, res); });
  await new Promise((ok, fail) => { server.once('error', fail); server.listen(flags.port, flags.host, ok); });
  const { address, port } = server.address();
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}`,
    servedModelName,
    engine,
    async close() {
      server.closeAllConnections();
      await new Promise((ok) => server.close(() => ok()));
      await engine.close();
    },
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let running;
  try {
    running = await startEngineServer(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`inferwatt test engine: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  }
  const { engine } = running;
  process.stdout.write(`inferwatt test engine: ${running.servedModelName} at ${running.url} (threads ${engine.threads}, parallel ${engine.parallel}, context ${engine.contextSize} tokens per sequence)\n`);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    running.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
