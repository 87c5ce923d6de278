#!/usr/bin/env node
/**
 * Reads a GGUF with a parser other than ours (node-llama-cpp's readGgufFileInfo) and prints, as JSON, what
 * the tests compare with what random-llama.mjs meant to write: the format version, the metadata (token
 * lists as their lengths and first entries), the tensor table, and the file's own chat template rendered
 * by a Jinja engine (@huggingface/jinja, node-llama-cpp's) for the conversation given as --chat JSON.
 *
 * Usage: node test/engine/inspect-gguf.mjs FILE [--chat '[{"role":"user","content":"hi"}]']
 */
import { Template } from '@huggingface/jinja';
import { readGgufFileInfo } from 'node-llama-cpp';

const [file, flag, chatJson] = process.argv.slice(2);
const info = await readGgufFileInfo(file, { logWarnings: false });
const list = (a) => (Array.isArray(a) ? { length: a.length, first: a.slice(0, 3), last: a.slice(-3) } : a);
const tokenizer = info.metadata.tokenizer;
const out = {
  version: info.version,
  tensorCount: Number(info.totalTensorCount),
  general: info.metadata.general,
  llama: info.metadata.llama,
  tokenizer: {
    ...tokenizer,
    ggml: { ...tokenizer.ggml, tokens: list(tokenizer.ggml.tokens), scores: list(tokenizer.ggml.scores), token_type: list(tokenizer.ggml.token_type) },
  },
  tensors: info.fullTensorInfo.map((t) => ({ name: t.name, dims: t.dimensions.map(Number), ggmlType: t.ggmlType, offset: Number(t.offset), fileOffset: Number(t.fileOffset) })),
  renderedChat: flag === '--chat'
    ? new Template(tokenizer.chat_template).render({ messages: JSON.parse(chatJson), add_generation_prompt: true, bos_token: '', eos_token: '' })
    : null,
};
process.stdout.write(`${JSON.stringify(out)}\n`);
