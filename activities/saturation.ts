/**
 * What adaptive speculation reads of the system's saturation when a task asks to speculate: the proof
 * backlog (from Temporal, system-wide) and this machine's load per core. Read at most once a second per
 * worker process and shared by the admissions of that second, so a burst of admissions costs one call to
 * the server; a backlog that cannot be read is left out (the decision then rests on the load alone).
 */
import { availableParallelism, loadavg } from 'node:os';

export interface SaturationSample {
  proofBacklog?: number;
  loadPerCore: number;
}

const SAMPLE_TTL_MS = 1000;

export function saturationSampler(readProofBacklog?: () => Promise<number>): () => Promise<SaturationSample> {
  let last: { at: number; sample: Promise<SaturationSample> } | undefined;
  const read = async (): Promise<SaturationSample> => {
    const proofBacklog = await readProofBacklog?.().catch(() => undefined);
    const loadPerCore = Math.round((loadavg()[0]! / availableParallelism()) * 100) / 100;
    return proofBacklog === undefined ? { loadPerCore } : { proofBacklog, loadPerCore };
  };
  return () => {
    const now = Date.now();
    if (!last || now - last.at >= SAMPLE_TTL_MS) last = { at: now, sample: read() };
    return last.sample;
  };
}
