/** Proof: a Groth16 proof of the output from the agenc-proofs queue, then its verification. */
import { isCancellation, patched } from '@temporalio/workflow';
import {
  classifyProofFailure,
  proofActivityLost,
  proofFailureReason,
  proofPriority,
  provesBeforeParentConfirmed,
  rootMessage,
} from '../task-decisions';
import { proofActivities, verificationActivities } from './activity-options';
import { isConfirmed, toBeConfirmed } from './parents';
import { OwnFault, type TaskRun } from './task-run';

/** A Groth16 proof of the output, verified; proven before the parent confirms only with optimistic proofs. */
export async function prove(run: TaskRun): Promise<void> {
  const { input, state } = run;
  const optimisticProofs = run.config!.speculation.features.enable_optimistic_proofs;
  if (
    !provesBeforeParentConfirmed({
      hasParent: run.parents.any,
      parentConfirmed: run.parents.allConfirmed(),
      optimisticProofs,
    })
  ) {
    const words = toBeConfirmed(' before proving');
    run.enter('awaiting_ancestors', run.parents.firstNotReady(isConfirmed, words) ?? null);
    await run.awaitEachParent(isConfirmed, words);
  }
  run.enter('proving', 'a Groth16 proof from the agenc-proofs queue');
  state.proof = { state: 'generating' };
  const parents = run.consumed.map((c) => c.output);
  const parentCommitments = parents.map((p) => p.commitment);
  // The verified agent key (verify-submission); runs without one prove the agent's name, as they did.
  const agentPublicKey = state.agent_public_key ?? undefined;
  try {
    // Closer to confirmation, sooner proven (a backlog of speculative proofs does not hold up confirmable ones).
    const priority = patched('proof-priority') ? proofPriority(run.pendingAncestors()) : undefined;
    run.proofRecord = await proofActivities(
      run.config!,
      `prove: Groth16 proof of the output${priority === undefined ? '' : ` (priority ${priority})`}`,
      priority,
    ).generateProof({
      taskId: input.taskId,
      agent: input.agent,
      agentPublicKey,
      value: run.proofValue,
      parents,
      output: state.result!.output,
      salt: state.result!.salt,
      // The live timeout, the one this activity's start-to-close is set from: the proof worker uses it too.
      timeoutMs: run.config!.speculation.proof.timeout_ms,
    });
    const expected = {
      taskId: input.taskId,
      agent: input.agent,
      agentPublicKey,
      outputCommitment: state.result!.commitment,
      parentCommitments,
    };
    const verdict = await verificationActivities(
      run.config!,
      'verify: the proof against the verification key',
    ).verifyProof({
      record: run.proofRecord,
      expected,
    });
    if (!verdict.valid) throw new Error(`proof did not verify: ${verdict.reason}`);
  } catch (err) {
    if (isCancellation(err)) {
      // Rolled back while proving: no verified proof will come.
      if (state.proof.state === 'generating')
        state.proof = { state: 'none', error: 'not finished: the task rolled back while proving' };
      throw err;
    }
    return proofFailed(run, err);
  }
  state.proof = {
    state: 'verified',
    verification_key_hash: run.proofRecord.verification_key_hash,
    duration_ms: run.proofRecord.timing.duration_ms,
  };
}

async function proofFailed(run: TaskRun, err: unknown): Promise<never> {
  const confirmationTimeoutMs = run.config!.speculation.confirmation_timeout_ms;
  if (run.systemFaultsReleased) {
    const failure = classifyProofFailure(err, confirmationTimeoutMs);
    run.state.proof = { state: 'failed', error: failure.message };
    // The system's fault (no proof worker, a SystemFault) or the machine's load (proof_timeout): bond released.
    if (!failure.ownFault) await run.rollBackForSystemFault(failure.reason, failure.message);
    throw new OwnFault(failure.reason, failure.message);
  }
  const lost = proofActivityLost(err, confirmationTimeoutMs);
  run.state.proof = { state: 'failed', error: lost ?? rootMessage(err) };
  // Not the agent's fault: roll back with the bond released, like any other system failure.
  if (lost) await run.rollBackForSystemFault('proof_unavailable', lost);
  throw new OwnFault(proofFailureReason(err), rootMessage(err));
}
