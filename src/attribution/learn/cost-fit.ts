/**
 * Online non-negative least squares with exponential forgetting: the fit behind the `learned` policy.
 *
 * Rows (x, y) arrive one at a time; the fit keeps the forgetting-weighted normal equations
 *   S = Σ λ^age x xᵀ,   r = Σ λ^age x y,   yy = Σ λ^age y²,   n = Σ λ^age
 * (λ < 1 per row: a row's weight halves every ln 2 / −ln λ rows), so memory is O(k²) whatever the
 * number of rows, and a change of the truth (a driver, batch size or engine update) is followed within
 * a few memory spans. `solve()` finds β ≥ 0 minimising Σ λ^age (y − xᵀβ)² by Lawson and Hanson's active
 * set method on the normal equations (Lawson & Hanson, "Solving Least Squares Problems", 1974, ch. 23),
 * columns scaled to unit diagonal for conditioning.
 *
 * Uncertainty: the standard error of each coefficient is σ √[(S⁻¹)ⱼⱼ] with σ² the weighted residual
 * variance over n − p degrees of freedom; S⁻¹ over every feature that has data, so two features that
 * always move together (collinear) both show a large error instead of a confident wrong split.
 * Rows are sparse (a bucket holds tokens of a few models), so adding one costs O(nnz²) plus the O(k²)
 * decay; features are added as models appear (k grows, bounded by the caller).
 */
export class CostFit {
  private cap = 0;
  private k = 0;
  private S = new Float64Array(0);
  private r = new Float64Array(0);
  /** Per feature, the forgetting-weighted count of rows in which it was non-zero. */
  private cnt = new Float64Array(0);
  private yy = 0;
  private ysum = 0;
  private n = 0;
  private beta = new Float64Array(0);
  private se = new Float64Array(0);
  private rss = Number.NaN;
  private solved = false;

  constructor(private readonly decay: number) {
    if (!(decay > 0 && decay <= 1)) throw new RangeError(`decay must be in (0, 1], got ${decay}`);
  }

  /** Features in use. */
  get size(): number {
    return this.k;
  }

  /** Effective number of rows (forgetting-weighted). */
  get rows(): number {
    return this.n;
  }

  /** Makes room for k features (new ones start with no data). */
  grow(k: number): void {
    if (k <= this.k) return;
    if (k > this.cap) {
      const cap = Math.max(k, 2 * this.cap, 8);
      const S = new Float64Array(cap * cap);
      for (let a = 0; a < this.k; a++) for (let b = 0; b < this.k; b++) S[a * cap + b] = this.S[a * this.cap + b]!;
      const grown = (v: Float64Array) => { const out = new Float64Array(cap); out.set(v); return out; };
      this.S = S;
      this.r = grown(this.r);
      this.cnt = grown(this.cnt);
      this.beta = grown(this.beta);
      this.se = grown(this.se);
      this.cap = cap;
    }
    for (let j = this.k; j < k; j++) this.se[j] = Number.POSITIVE_INFINITY;
    this.k = k;
  }

  /** Adds a row: features idx[i] with values x[i] (the others 0), observed y. */
  add(idx: readonly number[], x: readonly number[], y: number): void {
    const { k, cap, S, r, cnt } = this;
    const l = this.decay;
    if (l !== 1) {
      for (let a = 0; a < k; a++) {
        r[a] = r[a]! * l;
        cnt[a] = cnt[a]! * l;
        const row = a * cap;
        for (let b = 0; b < k; b++) S[row + b] = S[row + b]! * l;
      }
      this.yy *= l;
      this.ysum *= l;
      this.n *= l;
    }
    for (let i = 0; i < idx.length; i++) {
      const a = idx[i]!;
      const xa = x[i]!;
      if (xa === 0) continue;
      r[a] = r[a]! + xa * y;
      cnt[a] = cnt[a]! + 1;
      for (let j = 0; j < idx.length; j++) S[a * cap + idx[j]!] = S[a * cap + idx[j]!]! + xa * x[j]!;
    }
    this.yy += y * y;
    this.ysum += y;
    this.n += 1;
    this.solved = false;
  }

  /** Solves for β ≥ 0 and the standard errors (idempotent until the next row). */
  solve(): void {
    if (this.solved) return;
    this.solved = true;
    const { k, cap } = this;
    // Features with data, scaled to a unit diagonal.
    const act: number[] = [];
    for (let j = 0; j < k; j++) if (this.cnt[j]! > 1e-9 && this.S[j * cap + j]! > 0) act.push(j);
    this.beta.fill(0);
    this.se.fill(Number.POSITIVE_INFINITY);
    this.rss = Number.NaN;
    const m = act.length;
    if (m === 0) return;
    const sc = act.map((j) => Math.sqrt(this.S[j * cap + j]!));
    const A = new Float64Array(m * m);
    const rhs = new Float64Array(m);
    for (let a = 0; a < m; a++) {
      rhs[a] = this.r[act[a]!]! / sc[a]!;
      for (let b = 0; b < m; b++) A[a * m + b] = this.S[act[a]! * cap + act[b]!]! / (sc[a]! * sc[b]!);
    }
    const z = nnls(A, rhs, m);
    let free = 0;
    for (let a = 0; a < m; a++) {
      this.beta[act[a]!] = z[a]! / sc[a]!;
      if (z[a]! > 0) free++;
    }
    // σ² = (yy − 2 βᵀr + βᵀSβ) / (n − p): the weighted residual sum of squares.
    let bSb = 0;
    let br = 0;
    for (let a = 0; a < m; a++) {
      br += z[a]! * rhs[a]!;
      for (let b = 0; b < m; b++) bSb += z[a]! * A[a * m + b]! * z[b]!;
    }
    this.rss = Math.max(0, this.yy - 2 * br + bSb);
    const dof = this.n - free;
    if (!(dof > 1)) return;
    const sigma2 = this.rss / dof;
    const inv = invertSpd(A, m);
    if (inv === undefined) return;
    for (let a = 0; a < m; a++) this.se[act[a]!] = Math.sqrt(sigma2 * Math.max(0, inv[a * m + a]!)) / sc[a]!;
  }

  estimate(j: number): number {
    this.solve();
    return j < this.k ? this.beta[j]! : 0;
  }

  stdError(j: number): number {
    this.solve();
    return j < this.k ? this.se[j]! : Number.POSITIVE_INFINITY;
  }

  /** Share of the rows' variance (forgetting-weighted) that the fit explains; NaN without rows or variance. */
  r2(): number {
    this.solve();
    const sst = this.yy - (this.ysum * this.ysum) / this.n;
    return this.n > 1 && sst > 0 ? 1 - this.rss / sst : Number.NaN;
  }

  samples(j: number): number {
    return j < this.k ? this.cnt[j]! : 0;
  }

  /** The sufficient statistics, for a state file. */
  toJSON(): { k: number; S: number[]; r: number[]; cnt: number[]; yy: number; ysum: number; n: number } {
    const S: number[] = [];
    for (let a = 0; a < this.k; a++) for (let b = 0; b < this.k; b++) S.push(this.S[a * this.cap + b]!);
    return { k: this.k, S, r: Array.from(this.r.subarray(0, this.k)), cnt: Array.from(this.cnt.subarray(0, this.k)), yy: this.yy, ysum: this.ysum, n: this.n };
  }

  /** Restores statistics written by toJSON (same feature layout). */
  restore(s: { k: number; S: number[]; r: number[]; cnt: number[]; yy: number; ysum: number; n: number }): void {
    this.grow(s.k);
    for (let a = 0; a < s.k; a++) {
      this.r[a] = s.r[a]!;
      this.cnt[a] = s.cnt[a]!;
      for (let b = 0; b < s.k; b++) this.S[a * this.cap + b] = s.S[a * s.k + b]!;
    }
    this.yy = s.yy;
    this.ysum = s.ysum;
    this.n = s.n;
    this.solved = false;
  }
}

/** Cholesky factor L (p×p, lower) of A restricted to `set`, with a tiny ridge on the (unit) diagonal that keeps near-collinear columns solvable; undefined if not positive definite. */
function cholesky(A: Float64Array, m: number, set: readonly number[]): Float64Array | undefined {
  const p = set.length;
  const L = new Float64Array(p * p);
  for (let i = 0; i < p; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[set[i]! * m + set[j]!]!;
      if (i === j) s += 1e-10;
      for (let q = 0; q < j; q++) s -= L[i * p + q]! * L[j * p + q]!;
      if (i === j) {
        if (!(s > 0)) return undefined;
        L[i * p + i] = Math.sqrt(s);
      } else L[i * p + j] = s / L[j * p + j]!;
    }
  }
  return L;
}

/** Solves L Lᵀ z = b[set] for the p×p factor L. */
function cholSolve(L: Float64Array, p: number, b: Float64Array, set: readonly number[]): Float64Array {
  const y = new Float64Array(p);
  for (let i = 0; i < p; i++) {
    let s = b[set[i]!]!;
    for (let q = 0; q < i; q++) s -= L[i * p + q]! * y[q]!;
    y[i] = s / L[i * p + i]!;
  }
  const z = new Float64Array(p);
  for (let i = p - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let q = i + 1; q < p; q++) s -= L[q * p + i]! * z[q]!;
    z[i] = s / L[i * p + i]!;
  }
  return z;
}

function solveSubset(A: Float64Array, b: Float64Array, m: number, set: readonly number[]): Float64Array | undefined {
  const L = cholesky(A, m, set);
  return L === undefined ? undefined : cholSolve(L, set.length, b, set);
}

/** Lawson–Hanson NNLS on the normal equations A z = b (A m×m SPD, unit diagonal): z ≥ 0. */
export function nnls(A: Float64Array, b: Float64Array, m: number): Float64Array {
  const x = new Float64Array(m);
  const inP = new Array<boolean>(m).fill(false);
  const tol = 1e-12 * Math.max(1, ...Array.from(b, Math.abs));
  const grad = () => {
    const w = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      let s = b[i]!;
      for (let j = 0; j < m; j++) s -= A[i * m + j]! * x[j]!;
      w[i] = s;
    }
    return w;
  };
  for (let iter = 0; iter < 3 * m + 10; iter++) {
    const w = grad();
    let t = -1;
    for (let i = 0; i < m; i++) if (!inP[i] && w[i]! > tol && (t < 0 || w[i]! > w[t]!)) t = i;
    if (t < 0) break;
    inP[t] = true;
    for (let inner = 0; inner < 3 * m + 10; inner++) {
      const set: number[] = [];
      for (let i = 0; i < m; i++) if (inP[i]) set.push(i);
      const zs = solveSubset(A, b, m, set);
      if (zs === undefined) { inP[t] = false; break; }
      let ok = true;
      for (const v of zs) if (!(v > 0)) ok = false;
      if (ok) {
        x.fill(0);
        set.forEach((i, q) => { x[i] = zs[q]!; });
        break;
      }
      // Step back towards the feasible point until a passive coefficient hits 0; drop those.
      let alpha = 1;
      set.forEach((i, q) => {
        if (!(zs[q]! > 0)) alpha = Math.min(alpha, x[i]! / (x[i]! - zs[q]!));
      });
      set.forEach((i, q) => { x[i] = x[i]! + alpha * (zs[q]! - x[i]!); });
      for (const i of set) if (x[i]! <= 1e-15) { x[i] = 0; inP[i] = false; }
    }
  }
  return x;
}

/** Inverse of the m×m SPD matrix A (with the same tiny ridge as the solve), or undefined if singular. */
function invertSpd(A: Float64Array, m: number): Float64Array | undefined {
  const all = Array.from({ length: m }, (_, i) => i);
  const L = cholesky(A, m, all);
  if (L === undefined) return undefined;
  const inv = new Float64Array(m * m);
  const e = new Float64Array(m);
  for (let c = 0; c < m; c++) {
    e.fill(0);
    e[c] = 1;
    const col = cholSolve(L, m, e, all);
    for (let i = 0; i < m; i++) inv[i * m + c] = col[i]!;
  }
  return inv;
}
