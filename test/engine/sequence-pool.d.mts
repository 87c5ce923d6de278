// Types of sequence-pool.mjs for the TypeScript tests that import it.
export interface SequencePool<S> {
  readonly size: number;
  readonly busy: number;
  readonly queued: number;
  acquire(signal?: AbortSignal): Promise<S>;
  release(s: S): void;
}
export function createSequencePool<S>(sequences: readonly S[]): SequencePool<S>;
