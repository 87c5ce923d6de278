/**
 * llama.cpp through node-llama-cpp, on the CPU only: one model, one context of `parallel` sequences
 * (see sequence-pool.mjs), greedy or seeded sampling, and the token counts llama.cpp itself sees.
 *
 * Why these settings:
 * - `gpu: false`, `build: 'never'`, `skipDownload`: only the prebuilt CPU binary of
 *   @node-llama-cpp/linux-x64 is installed (scripts/install-engine.sh); nothing is built or downloaded.
 * - `threads: 1` by default: on a 2-core machine llama.cpp's default thread count oversubscribes the cores
 *   and decoding falls from hundreds of tokens per second to a handful. One thread per engine also makes
 *   "CPU time of the engine" a clean measure of what its tokens cost.
 * - Every request starts from an empty sequence (no prompt cache), so its prompt is evaluated in full and
 *   `prompt_tokens` are all tokens that were computed.
 */
import { getLlama } from 'node-llama-cpp';
import { createSequencePool } from './sequence-pool.mjs';

export class EngineRequestError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

/**
 * @param {{ modelPath: string, threads?: number, parallel?: number, contextSize?: number, batchSize?: number }} opts
 */
export async function createLlamaEngine({ modelPath, threads = 1, parallel = 4, contextSize = 4096, batchSize = 512 }) {
  const llama = await getLlama({
    gpu: false, build: 'never', skipDownload: true, usePrebuiltBinaries: true, progressLogs: false,
    maxThreads: threads, logLevel: 'warn',
  });
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const context = await model.createContext({ contextSize, sequences: parallel, threads, batchSize });
  const sequences = Array.from({ length: parallel }, () => context.getSequence());
  const pool = createSequencePool(sequences);
  const bos = model.tokens.shouldPrependBosToken ? model.tokens.bos : null;

  return {
    /** `general.name` of the GGUF, or the file's name. */
    modelName: model.fileInfo.metadata?.general?.name ?? modelPath.split('/').pop(),
    /** Tokens one sequence holds: prompt + completion must fit. */
    contextSize: context.contextSize,
    parallel,
    threads,
    pool,

    /** The prompt's tokens as llama.cpp evaluates them: BOS (if the model asks for it) and the text's tokens. */
    tokenize(text) {
      const tokens = model.tokenize(text, false);
      return bos === null ? tokens : [bos, ...tokens];
    },

    /**
     * Generates up to `maxTokens` tokens after `promptTokens`, calling `onText` with each token's text.
     * Stops at an end-of-generation token unless `ignoreEos` (that token is counted, as vLLM and llama.cpp
     * count it, and has no text). Waits for a free sequence first.
     * @param {number[]} promptTokens
     * @param {{ maxTokens?: number, temperature?: number, seed?: number, ignoreEos?: boolean, signal?: AbortSignal, onText?: (text: string) => void }} o
     * @returns {Promise<{ completionTokens: number, finishReason: 'stop' | 'length' | 'abort' }>}
     */
    async generate(promptTokens, { maxTokens, temperature = 0, seed, ignoreEos = false, signal, onText }) {
      const room = context.contextSize - promptTokens.length;
      if (room < 1) throw new EngineRequestError(`the prompt has ${promptTokens.length} tokens; this engine's context holds ${context.contextSize}`, 'context_length_exceeded');
      const limit = maxTokens ?? room;
      if (limit > room) {
        throw new EngineRequestError(`prompt (${promptTokens.length} tokens) + max_tokens (${limit}) exceed this engine's context of ${context.contextSize} tokens`, 'context_length_exceeded');
      }
      let sequence;
      try {
        sequence = await pool.acquire(signal);
      } catch {
        return { completionTokens: 0, finishReason: 'abort' };
      }
      let n = 0;
      try {
        await sequence.clearHistory();
        const evaluateOptions = seed === undefined ? { temperature } : { temperature, seed };
        // The generator decodes a token only when the next one is asked for: breaking after the last
        // token leaves it sampled but not evaluated, as every engine does with its final token.
        for await (const token of sequence.evaluate(promptTokens, evaluateOptions)) {
          n++;
          const end = model.isEogToken(token);
          if (!end) onText?.(model.detokenize([token], false));
          if (end && !ignoreEos) return { completionTokens: n, finishReason: 'stop' };
          if (n >= limit) return { completionTokens: n, finishReason: 'length' };
          if (signal?.aborted) return { completionTokens: n, finishReason: 'abort' };
        }
        return { completionTokens: n, finishReason: 'stop' };
      } finally {
        pool.release(sequence);
      }
    },

    async close() {
      await context.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
}
