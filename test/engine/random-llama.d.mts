// Types of random-llama.mjs for the TypeScript tests that import it.
export interface RandomLlamaSpec {
  readonly name: string;
  readonly embd: number;
  readonly blocks: number;
  readonly ff: number;
  readonly heads: number;
  readonly headsKv: number;
  readonly contextLength: number;
  readonly ropeFreqBase: number;
  readonly rmsEps: number;
  readonly seed: number;
  readonly generatorVersion: number;
}
export const DEFAULT_MODEL_DIR: string;
export const RANDOM_LLAMA: RandomLlamaSpec;
export const CHAT_TEMPLATE: string;
export function renderChat(messages: readonly { role: string; content: string }[]): string;
export function buildVocabulary(): { tokens: string[]; types: number[]; scores: number[]; unk: number; bos: number; eos: number };
export function modelFileName(spec?: RandomLlamaSpec): string;
export function describeModel(spec?: RandomLlamaSpec): {
  metadata: { key: string; type: number; value: unknown; elementType?: number }[];
  tensors: { name: string; dims: number[] }[];
  vocab: ReturnType<typeof buildVocabulary>;
};
export function ensureRandomLlama(dir?: string, spec?: RandomLlamaSpec): { path: string; generated: boolean; ms: number };
