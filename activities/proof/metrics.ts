/**
 * The proof-duration metric. This module creates no registry: the worker owns it and passes an
 * observer in through the options (`onProofDuration`).
 *
 *   const h = new Histogram({ ...PROOF_GENERATION_HISTOGRAM, registers: [registry] });
 *   createProofActivities({ ..., onProofDuration: proofDurationObserver(h) });
 */

/** Configuration of the `speculation_proof_generation_seconds` prom-client Histogram. */
export const PROOF_GENERATION_HISTOGRAM = {
  name: 'speculation_proof_generation_seconds',
  help: 'Time to generate one task Groth16 proof (witness + prove), seconds; queue wait excluded',
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
} as const;

/** Anything with prom-client's Histogram.observe(value). */
export interface ObservesSeconds {
  observe(value: number): void;
}

/** An `onProofDuration` callback that observes into the given histogram. */
export function proofDurationObserver(histogram: ObservesSeconds): (seconds: number) => void {
  return (seconds) => histogram.observe(seconds);
}
