/** `agenc proof get|verify`: a task's Groth16 proof, checked here against the current verification key. */
import type { Command } from 'commander';
import { ensureArtifacts, releaseProverResources, verifyTaskProof } from '../../activities/proof';
import type { ProofRecord } from '../../shared/proof-records';
import { proofRecordQuery } from '../../shared/messages';
import { taskWorkflowId } from '../../shared/task-model';
import { CliError, emit, EXIT, type OutputOptions, withOutput } from '../output';
import { AdmissionError, getTaskState } from '../tasks';
import type { ClientFactory } from './context';

async function proofOf(clientFactory: ClientFactory, taskId: string) {
  const client = await clientFactory();
  const state = await getTaskState(client, taskId).catch((err) => {
    throw err instanceof AdmissionError ? new CliError(err.message, EXIT.usage) : err;
  });
  const record = (await client.workflow.getHandle(taskWorkflowId(taskId)).query(proofRecordQuery)) as ProofRecord | null;
  if (!record) throw new CliError(`task ${taskId} has no proof yet (status ${state.status}, proof ${state.proof.state})`, EXIT.negative);
  return { state, record };
}

export function registerProofCommands(program: Command, clientFactory: ClientFactory): void {
  const proof = program.command('proof').description('Read and verify task proofs');

  withOutput(proof.command('get').description("Show a task's proof record (proof, public signals, verification-key hash, timing)").argument('<taskId>')).action(
    async (taskId: string, opts: OutputOptions) => {
      const { record } = await proofOf(clientFactory, taskId);
      emit(opts, record, () =>
        [
          `proof of task ${taskId}: ${record.proof_type}`,
          `  public signals:        ${record.public_signals.join(', ')}`,
          `  verification key hash: ${record.verification_key_hash}`,
          `  generated in:          ${record.timing.duration_ms} ms (${record.timing.finished_at})`,
        ].join('\n'),
      );
    },
  );

  withOutput(
    proof
      .command('verify')
      .description("Verify a task's proof against the current verification key and the task's recorded commitments; exit 0 only when valid")
      .argument('<taskId>')
      .option('--artifacts <dir>', 'circuit artifacts cache (default .data/circuits or $AGENC_CIRCUITS_DIR)'),
  ).action(async (taskId: string, opts: OutputOptions & { artifacts?: string }) => {
    const { state, record } = await proofOf(clientFactory, taskId);
    const artifacts = await ensureArtifacts({ artifactsDir: opts.artifacts ?? process.env.AGENC_CIRCUITS_DIR, build: false });
    const verdict = await verifyTaskProof(record, artifacts, {
      taskId: state.task_id,
      agent: state.agent,
      outputCommitment: state.result_commitment ?? '',
      parentCommitment: state.parent_commitment ?? '0',
    }).finally(releaseProverResources);
    emit(opts, { task_id: taskId, verification_key_hash: artifacts.verificationKeyHash, ...verdict }, () =>
      verdict.valid
        ? `✓ proof of task ${taskId} is valid (key ${artifacts.verificationKeyHash.slice(0, 16)}…)`
        : `✗ proof of task ${taskId} is not valid: ${verdict.reason}`,
    );
    if (!verdict.valid) process.exitCode = EXIT.negative;
  });
}
