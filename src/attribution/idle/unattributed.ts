import type { PoolState } from '../pool-state.js';
import type { Win } from '../window.js';
import type { IdleContext, PieceFn, PoolIdle } from './idle-sink.js';

/** `unattributed` (the default): idle energy stays out of requests, booked apart; records are given at once. */
class UnattributedSink implements PoolIdle {
  constructor(private readonly ctx: IdleContext) {}

  cut(P: PoolState, a: number, b: number, piece: PieceFn): void {
    piece(P, a, b, -1);
  }

  idlePiece(_e: number[], total: number): void {
    this.ctx.books.addUnattributed(total);
  }

  ended(): void {}

  activeFinal(w: Win): void {
    this.ctx.emit(w, !w.late, undefined);
  }

  lagFinalised(): void {}

  check(): void {}

  flush(): void {}

  busy(): boolean {
    return false;
  }
}

export function createUnattributedSink(ctx: IdleContext): (P: PoolState) => PoolIdle {
  const sink = new UnattributedSink(ctx);
  return () => sink;
}
