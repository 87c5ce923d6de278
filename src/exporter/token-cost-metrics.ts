import { Gauge, type Registry, type RegistryContentType } from 'prom-client';
import type { PoolCostReport } from '../attribution/learn/pool-learner.js';

/**
 * The `learned` policy's token costs, read from the learners at scrape time: J per prompt and per
 * completion token by pool and model (baseline excluded), each pool's baseline power, and whether the
 * policy uses a model's costs yet. Registered only under `--attribution learned`. Models are bounded
 * by the learner (metrics.maxModels per pool), pools by the configuration.
 */
export function registerTokenCostMetrics(registry: Registry<RegistryContentType>, costs: () => readonly PoolCostReport[]): void {
  new Gauge({
    name: 'inferwatt_token_energy_joules',
    help: 'Learned energy per token by pool, model and type (prompt: an uncached prompt token in prefill; completion: a generated token), joules; the pool baseline is not in it.',
    labelNames: ['pool', 'model', 'type'], registers: [registry],
    collect() {
      this.reset();
      for (const p of costs()) {
        for (const m of p.models) {
          if (m.source === 'none' && m.samples === 0) continue;
          this.set({ pool: p.pool, model: m.model, type: 'prompt' }, m.promptJ);
          this.set({ pool: p.pool, model: m.model, type: 'completion' }, m.completionJ);
        }
      }
    },
  });
  new Gauge({
    name: 'inferwatt_pool_baseline_power_watts',
    help: 'Learned static power of each pool while it serves requests (the fit\'s baseline), watts.',
    labelNames: ['pool'], registers: [registry],
    collect() {
      this.reset();
      for (const p of costs()) if (p.rows > 0) this.set({ pool: p.pool }, p.baselineW);
    },
  });
  new Gauge({
    name: 'inferwatt_token_costs_ready',
    help: 'Whether the learned policy weighs each model\'s requests by its learned (or configured) costs (1) or still falls back to tokens (0).',
    labelNames: ['pool', 'model'], registers: [registry],
    collect() {
      this.reset();
      for (const p of costs()) for (const m of p.models) this.set({ pool: p.pool, model: m.model }, m.ready ? 1 : 0);
    },
  });
}
