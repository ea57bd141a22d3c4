/**
 * `agenc proof get|verify`: a task's Groth16 proof, checked here against the current verification key,
 * and (verify) the chain's commitment record for the task checked against the proof record.
 */
import type { Command } from 'commander';
import type { ProofRecord } from '../../shared/proof-records';
import { proofRecordQuery } from '../../shared/messages';
import { parentCommitmentsOf, taskWorkflowId } from '../../shared/task-model';
import { CliError, emit, EXIT, type OutputOptions, withOutput } from '../output';
import { getTaskState, TaskNotFoundError } from '../tasks';
import type { ClientFactory } from './context';

async function proofOf(clientFactory: ClientFactory, taskId: string) {
  const client = await clientFactory();
  const state = await getTaskState(client, taskId).catch((err) => {
    throw err instanceof TaskNotFoundError ? new CliError(err.message, EXIT.usage) : err;
  });
  const record = (await client.workflow
    .getHandle(taskWorkflowId(taskId))
    .query(proofRecordQuery)) as ProofRecord | null;
  if (!record)
    throw new CliError(
      `task ${taskId} has no proof yet (status ${state.status}, proof ${state.proof.state})`,
      EXIT.negative,
    );
  return { state, record };
}

export function registerProofCommands(program: Command, clientFactory: ClientFactory): void {
  const proof = program.command('proof').description('Read and verify task proofs');

  withOutput(
    proof
      .command('get')
      .description("Show a task's proof record (proof, public signals, verification-key hash, timing)")
      .argument('<taskId>'),
  ).action(async (taskId: string, opts: OutputOptions) => {
    const { record } = await proofOf(clientFactory, taskId);
    emit(opts, record, () =>
      [
        `proof of task ${taskId}: ${record.proof_type}`,
        `  public signals:        ${record.public_signals.join(', ')}`,
        `  verification key hash: ${record.verification_key_hash}`,
        `  generated in:          ${record.timing.duration_ms} ms (${record.timing.finished_at})`,
      ].join('\n'),
    );
  });

  withOutput(
    proof
      .command('verify')
      .description(
        "Verify a task's proof against the current verification key and the task's recorded commitments, and check the chain's commitment record " +
          'for the task says the same (commitment, parent commitment, agent, verification-key hash); exit 0 only when both hold',
      )
      .argument('<taskId>')
      .option('--artifacts <dir>', 'circuit artifacts cache (default .data/circuits or $AGENC_CIRCUITS_DIR)')
      .option(
        '--authority <address>',
        'the protocol authority that signs commitment records (default: the key in $AGENC_KEYS_DIR or .data/keys)',
      )
      .option(
        '--program <id>',
        'the custody program that holds the records (default: $AGENC_CUSTODY_PROGRAM_ID, else the key in $AGENC_KEYS_DIR)',
      ),
  ).action(
    async (taskId: string, opts: OutputOptions & { artifacts?: string; authority?: string; program?: string }) => {
      const { state, record } = await proofOf(clientFactory, taskId);
      // The prover's libraries and the chain's are loaded by the one command that needs them, not at every
      // CLI start (the prebuilt CLI's start time: README, CLI).
      const { ensureTaskCircuits, releaseProverResources, verifyTaskProof } = await import('../../activities/proof');
      const { checkChainRecord } = await import('./proof-chain');
      const circuits = await ensureTaskCircuits({
        artifactsDir: opts.artifacts ?? process.env.AGENC_CIRCUITS_DIR,
        build: false,
      });
      // The key the record names, among every task circuit's (a join's proof is made with the join circuit).
      const verdict = await verifyTaskProof(record, Object.values(circuits), {
        taskId: state.task_id,
        agent: state.agent,
        // The key the task verified its submission with: the proof must bind it (tasks from before agent keys: the name).
        agentPublicKey: state.agent_public_key ?? undefined,
        outputCommitment: state.result_commitment ?? '',
        ...parentCommitmentsOf(state),
      }).finally(releaseProverResources);
      const chain = await checkChainRecord(record, { authority: opts.authority, program: opts.program });
      const valid = verdict.valid && chain.ok;
      const failure = !verdict.valid
        ? { reason: [verdict.reason, chain.reason].filter(Boolean).join('; '), code: verdict.code }
        : !chain.ok
          ? { reason: chain.reason, code: chain.record ? 'ChainRecordMismatch' : 'ChainRecordMissing' }
          : {};
      emit(
        opts,
        {
          task_id: taskId,
          valid,
          verification_key_hash: record.verification_key_hash,
          ...failure,
          proof: verdict,
          chain,
        },
        () =>
          [
            verdict.valid
              ? `✓ proof of task ${taskId} is valid (key ${record.verification_key_hash.slice(0, 16)}…)`
              : `✗ proof of task ${taskId} is not valid: ${verdict.reason}`,
            chain.ok
              ? `✓ the chain's commitment record matches the proof (signature ${chain.signature}, record ${chain.address}, ${chain.chain} chain)`
              : `✗ ${chain.reason}`,
          ].join('\n'),
      );
      if (!valid) process.exitCode = EXIT.negative;
    },
  );
}
