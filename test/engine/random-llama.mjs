#!/usr/bin/env node
/**
 * A llama-architecture GGUF with seeded random F32 weights, for the real-engine tests and demos: no
 * downloaded weights, the same bytes on every machine (test/engine/random-llama.test.ts checks the digest).
 * The text it generates is gibberish; the CPU a token costs is real.
 *
 * Shape: 512 dimensions, 8 blocks, feed-forward 1536, 8 heads (no GQA), ~27.6 M parameters, ~110 MB.
 * Tensor names and shapes are llama.cpp's for LLM_ARCH_LLAMA (ggml order, ne0 first; a matrix [in, out]).
 *
 * Tokenizer: Llama-style SentencePiece (`tokenizer.ggml.model = "llama"`) with
 *   <unk> <s> </s>, the 256 byte tokens <0x00>…<0xFF>, and one token per printable ASCII character
 *   (space written as "▁", U+2581, as SentencePiece does),
 * and no merges, so that each printable character is one token and every other byte is one byte token.
 * The byte tokens are there because llama.cpp's SPM tokenizer maps a character it has no token for through
 * its byte token, and fails without one (see docs/engine.md), so any UTF-8 prompt must be tokenizable.
 *
 * Usage: node test/engine/random-llama.mjs [--dir DIR]   prints the model's path (written if absent).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GgufType, writeGguf } from './gguf-writer.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
/** Where the model is cached: ignored by git (.tmp/), regenerated when absent. */
export const DEFAULT_MODEL_DIR = resolve(HERE, '..', '..', '.tmp', 'engine');

/** The model's hyper-parameters. Changing any of them (or the generator) changes the file name. */
export const RANDOM_LLAMA = Object.freeze({
  name: 'inferwatt-random-llama',
  embd: 512,
  blocks: 8,
  ff: 1536,
  heads: 8,
  headsKv: 8,
  contextLength: 4096,
  ropeFreqBase: 10000,
  rmsEps: 1e-5,
  seed: 12,
  /** Bumped whenever the bytes this script writes change for the same hyper-parameters. */
  generatorVersion: 2,
});

/** The chat format, as a Jinja template in the file (for llama.cpp's own server) and as the function below. */
export const CHAT_TEMPLATE =
  "{% for message in messages %}{{ message['role'] + ': ' + message['content'] + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ 'assistant:' }}{% endif %}";

/**
 * The prompt text of a conversation, exactly as CHAT_TEMPLATE renders it with add_generation_prompt.
 * @param {{ role: string, content: string }[]} messages
 */
export function renderChat(messages) {
  let text = '';
  for (const m of messages) text += `${m.role}: ${m.content}\n`;
  return `${text}assistant:`;
}

const SPM_SPACE = '\u2581';
const TOKEN_TYPE = Object.freeze({ NORMAL: 1, UNKNOWN: 2, CONTROL: 3, BYTE: 6 });

/** The vocabulary: ids 0–2 special, 3–258 bytes, then printable ASCII. */
export function buildVocabulary() {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [TOKEN_TYPE.UNKNOWN, TOKEN_TYPE.CONTROL, TOKEN_TYPE.CONTROL];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(TOKEN_TYPE.BYTE);
  }
  for (let c = 0x20; c <= 0x7e; c++) {
    tokens.push(c === 0x20 ? SPM_SPACE : String.fromCharCode(c));
    types.push(TOKEN_TYPE.NORMAL);
  }
  // Scores only order merges; with no multi-character token there is nothing to merge.
  const scores = tokens.map(() => 0);
  return { tokens, types, scores, unk: 0, bos: 1, eos: 2 };
}

/** mulberry32: a small, fast, seeded 32-bit generator (the same one as src/core/prng.ts). */
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a of a tensor's name, so that each tensor has its own stream whatever the order of writing. */
function fnv1a(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Uniform in [−a, a] with a = √3 / √fanIn: standard deviation 1/√fanIn, so activations stay of order one.
 * Rows (ne1 indices) for which `zeroRow` is true are written as zeros, after drawing their numbers, so that
 * the stream of every other element is unchanged.
 */
function randomTensor(name, dims, seed, zeroRow = undefined) {
  const rand = mulberry32(seed ^ fnv1a(name));
  const a = Math.sqrt(3 / dims[0]);
  const rowLength = dims[0];
  return {
    name, dims,
    fill: (chunk, first) => {
      for (let i = 0; i < chunk.length; i++) {
        const v = (rand() * 2 - 1) * a;
        chunk[i] = zeroRow && zeroRow(Math.floor((first + i) / rowLength)) ? 0 : v;
      }
    },
  };
}

const onesTensor = (name, n) => ({ name, dims: [n], fill: (chunk) => chunk.fill(1) });

/** The file name: the model's name and a digest of everything that decides its bytes. */
export function modelFileName(spec = RANDOM_LLAMA) {
  const digest = createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 12);
  return `${spec.name}-${spec.embd}d-${spec.blocks}l-f32-${digest}.gguf`;
}

/** Metadata and tensors of the model, in the order they are written. */
export function describeModel(spec = RANDOM_LLAMA) {
  const vocab = buildVocabulary();
  const nVocab = vocab.tokens.length;
  const headDim = spec.embd / spec.heads;
  const kvDim = headDim * spec.headsKv;
  const A = 'llama';
  const u32 = (key, value) => ({ key, type: GgufType.UINT32, value });
  const metadata = [
    { key: 'general.architecture', type: GgufType.STRING, value: A },
    { key: 'general.name', type: GgufType.STRING, value: spec.name },
    { key: 'general.description', type: GgufType.STRING, value: 'Random F32 weights (seeded) for measuring the CPU cost of tokens; its text is gibberish. Generated by inferwatt test/engine/random-llama.mjs.' },
    u32('general.file_type', 0), // ALL_F32
    u32('general.alignment', 32),
    u32(`${A}.context_length`, spec.contextLength),
    u32(`${A}.embedding_length`, spec.embd),
    u32(`${A}.block_count`, spec.blocks),
    u32(`${A}.feed_forward_length`, spec.ff),
    u32(`${A}.rope.dimension_count`, headDim),
    u32(`${A}.attention.head_count`, spec.heads),
    u32(`${A}.attention.head_count_kv`, spec.headsKv),
    { key: `${A}.attention.layer_norm_rms_epsilon`, type: GgufType.FLOAT32, value: spec.rmsEps },
    { key: `${A}.rope.freq_base`, type: GgufType.FLOAT32, value: spec.ropeFreqBase },
    u32(`${A}.vocab_size`, nVocab),
    { key: 'tokenizer.ggml.model', type: GgufType.STRING, value: 'llama' },
    { key: 'tokenizer.ggml.tokens', type: GgufType.ARRAY, elementType: GgufType.STRING, value: vocab.tokens },
    { key: 'tokenizer.ggml.scores', type: GgufType.ARRAY, elementType: GgufType.FLOAT32, value: vocab.scores },
    { key: 'tokenizer.ggml.token_type', type: GgufType.ARRAY, elementType: GgufType.INT32, value: vocab.types },
    u32('tokenizer.ggml.unknown_token_id', vocab.unk),
    u32('tokenizer.ggml.bos_token_id', vocab.bos),
    u32('tokenizer.ggml.eos_token_id', vocab.eos),
    { key: 'tokenizer.ggml.add_bos_token', type: GgufType.BOOL, value: true },
    { key: 'tokenizer.ggml.add_eos_token', type: GgufType.BOOL, value: false },
    // No space is prepended to a prompt: its token count is then BOS + one per character (or byte).
    { key: 'tokenizer.ggml.add_space_prefix', type: GgufType.BOOL, value: false },
    { key: 'tokenizer.chat_template', type: GgufType.STRING, value: CHAT_TEMPLATE },
  ];
  const s = spec.seed;
  const tensors = [
    randomTensor('token_embd.weight', [spec.embd, nVocab], s),
    onesTensor('output_norm.weight', spec.embd),
    // The output rows of <unk> and of the byte tokens are zero: their logit is always 0 while a printable
    // character's is drawn around 0, so greedy text is (mostly) printable ASCII instead of invalid UTF-8.
    // The cost of a token is the same: the output layer still multiplies every row.
    randomTensor('output.weight', [spec.embd, nVocab], s, (id) => id === vocab.unk || vocab.types[id] === TOKEN_TYPE.BYTE),
  ];
  for (let i = 0; i < spec.blocks; i++) {
    const b = `blk.${i}`;
    tensors.push(
      onesTensor(`${b}.attn_norm.weight`, spec.embd),
      randomTensor(`${b}.attn_q.weight`, [spec.embd, spec.embd], s),
      randomTensor(`${b}.attn_k.weight`, [spec.embd, kvDim], s),
      randomTensor(`${b}.attn_v.weight`, [spec.embd, kvDim], s),
      randomTensor(`${b}.attn_output.weight`, [spec.embd, spec.embd], s),
      onesTensor(`${b}.ffn_norm.weight`, spec.embd),
      randomTensor(`${b}.ffn_gate.weight`, [spec.embd, spec.ff], s),
      randomTensor(`${b}.ffn_up.weight`, [spec.embd, spec.ff], s),
      randomTensor(`${b}.ffn_down.weight`, [spec.ff, spec.embd], s),
    );
  }
  return { metadata, tensors, vocab };
}

/**
 * The model's path in `dir`, written first if it is not there yet (atomically, so concurrent callers are
 * safe: each writes its own temporary file and the renames land the same bytes).
 * @returns {{ path: string, generated: boolean, ms: number }}
 */
export function ensureRandomLlama(dir = DEFAULT_MODEL_DIR, spec = RANDOM_LLAMA) {
  const path = join(dir, modelFileName(spec));
  if (existsSync(path)) return { path, generated: false, ms: 0 };
  mkdirSync(dir, { recursive: true });
  const t0 = performance.now();
  const { metadata, tensors } = describeModel(spec);
  writeGguf(path, { metadata, tensors });
  return { path, generated: true, ms: performance.now() - t0 };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--dir');
  const r = ensureRandomLlama(i > 0 ? resolve(process.argv[i + 1]) : DEFAULT_MODEL_DIR);
  if (r.generated) process.stderr.write(`random-llama: wrote ${r.path} in ${(r.ms / 1000).toFixed(2)} s\n`);
  process.stdout.write(`${r.path}\n`);
}
