import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINE_DIR, requireEngineInstalled } from '../helpers/engine.js';
import { describeModel, ensureRandomLlama, RANDOM_LLAMA, renderChat } from './random-llama.mjs';

/**
 * The model of the real-engine tests is ours: random-llama.mjs writes it from a seed. Written afresh here
 * (not the cached copy in .tmp/engine, which an older generator may have left) and checked three ways: the
 * same bytes as the digest committed below, read back by another GGUF parser (node-llama-cpp's) with the
 * intended metadata and tensor table, and its chat template rendering what the server renders.
 *
 * When the generator changes on purpose, bump RANDOM_LLAMA.generatorVersion (the cached file's name changes
 * with it) and update the digest from the failure message.
 */
const GOLDEN_SHA256 = 'a8629923b2bc3bdbc55289efa78e9bafff0e69186f3f2083f15d0adcc50662be';
const GOLDEN_BYTES = 110_549_824;

let dir: string;
let path: string;
let writeMs: number;

function sha256(file: string): Promise<string> {
  return new Promise((ok, fail) => {
    const h = createHash('sha256');
    createReadStream(file).on('data', (c) => h.update(c)).on('end', () => ok(h.digest('hex'))).on('error', fail);
  });
}

interface Inspected {
  version: number;
  tensorCount: number;
  general: Record<string, unknown>;
  llama: { embedding_length: number; block_count: number; feed_forward_length: number; context_length: number; vocab_size: number; attention: { head_count: number; head_count_kv: number } };
  tokenizer: { ggml: { model: string; tokens: { length: number; first: string[]; last: string[] }; bos_token_id: number; eos_token_id: number } };
  tensors: { name: string; dims: number[]; ggmlType: number; offset: number; fileOffset: number }[];
  renderedChat: string | null;
}

function inspect(file: string, chat: unknown): Inspected {
  requireEngineInstalled();
  const r = spawnSync(process.execPath, [join(ENGINE_DIR, 'inspect-gguf.mjs'), file, '--chat', JSON.stringify(chat)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`inspect-gguf.mjs failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Inspected;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'inferwatt-random-llama-'));
  const r = ensureRandomLlama(dir);
  expect(r.generated).toBe(true);
  path = r.path;
  writeMs = r.ms;
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the random llama GGUF (test/engine/random-llama.mjs)', () => {
  it('is the same file on every machine: its digest is the committed one', async () => {
    const bytes = statSync(path).size;
    const digest = await sha256(path);
    console.log(`random llama: ${bytes} bytes written in ${writeMs.toFixed(0)} ms, sha256 ${digest}`);
    expect({ digest, bytes }).toEqual({ digest: GOLDEN_SHA256, bytes: GOLDEN_BYTES });
  });

  it('reads back through node-llama-cpp\'s GGUF parser as the llama it describes', () => {
    const chat = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'What does a token cost?' }];
    const got = inspect(path, chat);
    const want = describeModel();
    expect(got.version).toBe(3);
    expect(got.general).toMatchObject({ architecture: 'llama', name: RANDOM_LLAMA.name, file_type: 0, alignment: 32 });
    expect(got.llama).toMatchObject({
      embedding_length: 512, block_count: 8, feed_forward_length: 1536, context_length: RANDOM_LLAMA.contextLength,
      vocab_size: want.vocab.tokens.length, attention: { head_count: 8, head_count_kv: 8 },
    });
    expect(got.tokenizer.ggml).toMatchObject({ model: 'llama', bos_token_id: 1, eos_token_id: 2 });
    expect(got.tokenizer.ggml.tokens).toEqual({ length: 354, first: ['<unk>', '<s>', '</s>'], last: ['|', '}', '~'] });
    // The tensor table: names and shapes in order, every tensor F32 and aligned, packed without overlap,
    // and the last one ending where the file ends.
    expect(got.tensorCount).toBe(3 + 8 * 9);
    expect(got.tensors.map((t) => [t.name, t.dims])).toEqual(want.tensors.map((t) => [t.name, t.dims]));
    let end = 0;
    for (const t of got.tensors) {
      expect(t.ggmlType).toBe(0);
      expect(t.offset % 32).toBe(0);
      expect(t.offset).toBeGreaterThanOrEqual(end);
      end = t.offset + t.dims.reduce((a, b) => a * b, 1) * 4;
    }
    const last = got.tensors.at(-1)!;
    expect(last.fileOffset - last.offset + end).toBe(statSync(path).size);
    // The template in the file and the server's renderChat give the same prompt text.
    expect(got.renderedChat).toBe(renderChat(chat));
    expect(got.renderedChat).toBe('system: Be brief.\nuser: What does a token cost?\nassistant:');
  });
});
