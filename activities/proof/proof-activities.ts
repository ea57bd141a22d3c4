/**
 * Temporal activities of the proof worker (the contract: ProofActivities in shared/activity-contract.ts):
 * `generateProof` on the `agenc-proofs` task queue, taken no faster than the worker proves (so a backlog
 * waits in Temporal), `verifyProof` on `agenc-proof-verification` (workers/worker-process.ts).
 *
 *   const { generateProof, verifyProof } = createProofActivities({ timeoutMs: 30_000, maxConcurrent: 2, queueSize: 2 });
 *   Worker.create({ taskQueue: PROOF_QUEUE, activities: { generateProof }, maxConcurrentActivityTaskExecutions: 2, ... });
 *
 * Failures are ApplicationFailures. What the agent's inputs cause keeps its ProofError type
 * (ProofWitnessInvalid, ProofInputInvalid; non-retryable), and so does ProofTimeout (the proving limit,
 * non-retryable). What is the system's fault is a retryable `SystemFault` naming the underlying type,
 * the worker and the detail (system-fault.ts): an artifact missing or corrupt (ProofArtifactMissing: which
 * file), a proof made with a key other than the verifier's (ProofKeyMismatch, not an "invalid" verdict:
 * both key hashes), a full queue (ProofQueueFull), anything unexpected in the prover. A cancelled
 * activity ends with Temporal's CancelledFailure. Outside an activity context (tests, benchmarks) the
 * functions work too: no heartbeats, same failures.
 */
import { ApplicationFailure, asyncLocalStorage, type Context } from '@temporalio/activity';
import { TemporalFailure } from '@temporalio/common';
import {
  isProofError,
  ProofArtifactMissingError,
  ProofCancelledError,
  ProofKeyMismatchError,
  type ProofErrorType,
} from './errors';
import { systemFault } from './system-fault';
import { createProofService, type ProofService, type ProofServiceOptions } from './service';
import type { ProofActivities } from '../../shared/activity-contract';
import type { GenerateProofInput, ProofRecord, VerifyProofInput, VerifyResult } from '../../shared/proof-records';

export interface ProofActivityOptions extends ProofServiceOptions {
  /** Heartbeat period while queued or proving (default 1000 ms; Temporal throttles to the heartbeat timeout). */
  heartbeatIntervalMs?: number;
}

/**
 * Proof errors that are the system's fault, never the agent's: its artifacts, its keys, its capacity.
 * The agent answers only for what its inputs decide (ProofWitnessInvalid, ProofInputInvalid).
 */
export const SYSTEM_PROOF_ERRORS: ReadonlySet<ProofErrorType> = new Set<ProofErrorType>([
  'ProofArtifactMissing',
  'ProofKeyMismatch',
  'ProofQueueFull',
]);

/**
 * The failure the workflow sees. A Temporal failure (a cancellation) passes through; a ProofError the
 * agent's inputs caused, or ProofTimeout, keeps its type; everything else (SYSTEM_PROOF_ERRORS, and any
 * error the prover did not expect) is a retryable SystemFault that keeps the underlying message.
 */
export function toApplicationFailure(e: unknown): unknown {
  if (e instanceof TemporalFailure) return e;
  if (isProofError(e) && !SYSTEM_PROOF_ERRORS.has(e.type)) {
    return ApplicationFailure.create({ message: e.message, type: e.type, nonRetryable: !e.retryable, cause: e });
  }
  const missingPath = e instanceof ProofArtifactMissingError ? e.missingPath : undefined;
  return systemFault({
    fault: isProofError(e) ? e.type : `ProverError (${e instanceof Error ? e.name : typeof e})`,
    component: 'proof worker',
    message: e instanceof Error ? e.message : String(e),
    cause: e,
    details: missingPath ? { artifact: missingPath } : undefined,
  });
}

export function createProofActivities(
  opts: ProofActivityOptions,
  service: ProofService = createProofService(opts),
): ProofActivities {
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
    let verdict: VerifyResult;
    try {
      verdict = await service.verifyProof(input);
    } catch (e) {
      throw toApplicationFailure(e);
    }
    // A proof made with another key is no verdict on the agent's work: the prover and this verifier run
    // different artifacts. Another verifier (one with the prover's key) may judge it.
    if (!verdict.valid && verdict.code === 'ProofKeyMismatch')
      throw toApplicationFailure(new ProofKeyMismatchError(verdict.reason));
    return verdict;
  }

  return { generateProof, verifyProof };
}
