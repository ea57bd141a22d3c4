/**
 * Temporal activities of the proof worker: `generateProof` on the `agenc-proofs` task queue, taken no
 * faster than the worker proves (so a backlog waits in Temporal), `verifyProof` on
 * `agenc-proof-verification` (workers/worker-process.ts).
 *
 *   const { generateProof, verifyProof } = createProofActivities({ timeoutMs: 30_000, maxConcurrent: 2, queueSize: 2 });
 *   Worker.create({ taskQueue: PROOF_TASK_QUEUE, activities: { generateProof }, maxConcurrentActivityTaskExecutions: 2, ... });
 *
 * Failures are ApplicationFailures whose `type` is the ProofError type: ProofWitnessInvalid,
 * ProofInputInvalid, ProofArtifactMissing, ProofTimeout, ProofQueueFull (all non-retryable); a
 * cancelled activity ends with Temporal's CancelledFailure. Outside an activity context (tests,
 * benchmarks) the functions work too: no heartbeats, same failures.
 */
import { ApplicationFailure, asyncLocalStorage, type Context } from '@temporalio/activity';
import { isProofError, ProofCancelledError } from './errors';
import { createProofService, type ProofService, type ProofServiceOptions, type VerifyProofInput } from './service';
import type { GenerateProofInput, ProofRecord, VerifyResult } from '../../shared/proof-records';

export const PROOF_TASK_QUEUE = 'agenc-proofs';

export interface ProofActivityOptions extends ProofServiceOptions {
  /** Heartbeat period while queued or proving (default 1000 ms; Temporal throttles to the heartbeat timeout). */
  heartbeatIntervalMs?: number;
}

export interface ProofActivities {
  generateProof(input: GenerateProofInput): Promise<ProofRecord>;
  verifyProof(input: VerifyProofInput): Promise<VerifyResult>;
}

/** Converts a ProofError to the ApplicationFailure the workflow sees; anything else passes through. */
export function toApplicationFailure(e: unknown): unknown {
  if (!isProofError(e)) return e;
  return ApplicationFailure.create({ message: e.message, type: e.type, nonRetryable: !e.retryable, cause: e });
}

export function createProofActivities(opts: ProofActivityOptions, service: ProofService = createProofService(opts)): ProofActivities {
  const heartbeatMs = opts.heartbeatIntervalMs ?? 1000;

  async function generateProof(input: GenerateProofInput): Promise<ProofRecord> {
    const ctx: Context | undefined = asyncLocalStorage.getStore();
    const beat = (): void => {
      try {
        ctx?.heartbeat({ taskId: input.taskId, ...service.stats() });
      } catch {
        // heartbeating must never fail the proof
      }
    };
    beat();
    const timer = ctx ? setInterval(beat, heartbeatMs) : undefined;
    try {
      return await service.generateProof(input, ctx?.cancellationSignal);
    } catch (e) {
      if (e instanceof ProofCancelledError && ctx) await ctx.cancelled; // rejects with Temporal's CancelledFailure
      throw toApplicationFailure(e);
    } finally {
      if (timer) clearInterval(timer);
    }
  }

  async function verifyProof(input: VerifyProofInput): Promise<VerifyResult> {
    try {
      return await service.verifyProof(input);
    } catch (e) {
      throw toApplicationFailure(e);
    }
  }

  return { generateProof, verifyProof };
}
