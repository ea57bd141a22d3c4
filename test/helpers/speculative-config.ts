/** The configuration tests run with: the runbook's template with a test's own settings over it. No Node built-ins beyond the TOML reader, so any tier may import it. */
import { readTomlFile, TEMPLATE_PATH } from '../../config/load';

type Table = Record<string, unknown>;

/** `over` merged into `base`, table by table (a key `over` sets replaces the base's, except tables, which are merged in turn; arrays are values). */
export function deepMerge(base: Table, over: Table): Table {
  const out = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) ? deepMerge((base[k] as Table) ?? {}, v as Table) : v;
  }
  return out;
}

/** The runbook's template (config/speculation.toml) with `overrides` deep-merged over it. */
export function templateWith(overrides: Table): Table {
  return deepMerge(readTomlFile(TEMPLATE_PATH), overrides);
}

/** Speculation on for every task, fast timeouts: what most workflow tests want. */
export const SPECULATIVE_CONFIG = {
  speculation: {
    enabled: true,
    mode: 'balanced',
    max_depth: 5,
    max_parallel_branches: 4,
    confirmation_timeout_ms: 60_000,
    proof: { worker_threads: 2, timeout_ms: 60_000 },
    features: { rollout_percentage: 100 },
    // Tests fail tasks on purpose and share a loaded machine: adaptive speculation would lower the depth
    // or find the machine saturated under them. Its own tests turn it on (adaptive-speculation.test.ts).
    adaptive: { enabled: false },
    // Likewise the circuit breaker: its own test turns it on (circuit-breaker.test.ts).
    breaker: { enabled: false },
  },
};

/**
 * SPECULATIVE_CONFIG with a test's own settings deep-merged over it, e.g.
 * `speculativeConfig({ speculation: { limits: { gc_interval_ms: 500 } } })`: only what the test changes.
 */
export function speculativeConfig(overrides: Table): Table {
  return deepMerge(SPECULATIVE_CONFIG, overrides);
}
