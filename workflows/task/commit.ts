/**
 * The commitment: on-chain after every ancestor's has landed, in a batch that carries the proven
 * descendants waiting only for this task (`proof.batch_size`), with one finality wait per batch.
 */
import { CancellationScope, condition } from '@temporalio/workflow';
import { commitsReadySignal, gatherCommitsSignal } from '../../shared/messages';
import type { CommitEntry } from '../../shared/proof-records';
import { commitBatchEntries, mayJoinParentBatch, unsettledDependents } from '../task-decisions';
import { COMMIT, taskActivities } from './activity-options';
import { CONFIRMED } from './compensations';
import { hasLanded, isConfirmed, toBeConfirmed } from './parents';
import { signalTask } from './signal-task';
import type { TaskRun } from './task-run';

/**
 * How long a committing task waits for its dependents to say what is proven below them. A dependent
 * that answers later is not lost: it commits itself once this task is confirmed.
 */
const COMMIT_GATHER_TIMEOUT = '2 seconds';

/** Past this point nothing rolls the task back, save a commitment that cannot land at all (system_error). */
export async function commit(run: TaskRun): Promise<void> {
  try {
    await (run.pipelinedCommits ? commitOnAncestorsLanded(run) : commitOnAncestorsConfirmed(run));
  } catch (err) {
    run.systemError('the commitment', err);
  }
}

/**
 * Commits once every ancestor's commitment has landed (it lands after theirs), tells the dependents as
 * soon as its own has landed, then waits for its finality and for the parent's confirmation.
 */
async function commitOnAncestorsLanded(run: TaskRun): Promise<void> {
  await CancellationScope.nonCancellable(async () => {
    if (!run.commitBatch) {
      const entries = await batchToCommit(run);
      const summary =
        entries.length > 1
          ? `commit: ${entries.length} commitments on Solana, ancestors first`
          : 'commit: the output commitment on Solana';
      const { signatures } = await taskActivities(COMMIT, summary).sendCommitments({ entries });
      run.commitBatch = { owner: run.input.taskId, signatures };
      run.commitLanded = true;
      // Dependents may send theirs now (they land after this one) while this one becomes final.
      await run.tellDependents();
      run.waitFor('the commitment to be final on Solana');
      await taskActivities(COMMIT, 'finality: the commitment batch final on Solana').awaitFinality({ signatures });
    } else {
      // An ancestor's batch carried this commitment: it has landed, and is final once that ancestor is confirmed.
      run.commitLanded = true;
      await run.tellDependents();
    }
    const waiting = run.parents.firstNotReady(isConfirmed, toBeConfirmed());
    if (waiting) {
      run.waitFor(waiting);
      await condition(() => run.parents.allConfirmed());
    }
    await settleCommitted(run);
  });
}

/**
 * Commits once every ancestor is confirmed: what workflows started before pipelined commitments do.
 * It can go once no task workflow started before the `pipelined-commits` patch is open (see the README's
 * "Changing workflow code"); until then the `before-patches` replay fixtures need it.
 */
async function commitOnAncestorsConfirmed(run: TaskRun): Promise<void> {
  await CancellationScope.nonCancellable(async () => {
    if (!run.commitBatch) {
      const entries = await batchToCommit(run);
      const summary =
        entries.length > 1
          ? `commit: ${entries.length} commitments on Solana, ancestors first, one finality wait`
          : 'commit: the output commitment on Solana';
      const { signatures } = await taskActivities(COMMIT, summary).commitResults({ entries });
      run.commitBatch = { owner: run.input.taskId, signatures };
    }
    await settleCommitted(run);
  });
}

/** Confirmed: the same steps that undo speculation now settle it (the bond is released in full). */
async function settleCommitted(run: TaskRun): Promise<void> {
  run.state.commit_signature = run.commitBatch!.signatures[run.input.taskId]!;
  run.state.committed_by = run.commitBatch!.owner;
  await run.compensations.runAll(CONFIRMED, (failure) => run.recordError(failure));
  if (run.state.undo?.state === 'registered') run.state.undo = { state: 'kept' };
}

/** Enters `committing` and forms this task's batch: its own entry, then the proven descendants waiting only for it. */
async function batchToCommit(run: TaskRun): Promise<CommitEntry[]> {
  run.enter('committing', 'the commitment transaction on Solana');
  // Preorder: any prefix keeps ancestors first.
  const below = run.batchSize() > 1 ? (run.handedUp?.slice(1) ?? (await gatherBelow(run))) : [];
  return commitBatchEntries(commitEntry(run), below, run.batchSize());
}

function commitEntry(run: TaskRun): CommitEntry {
  return {
    taskId: run.input.taskId,
    agent: run.input.agent,
    commitment: run.state.result!.commitment,
    parentCommitment: run.state.parent_commitment ?? '0',
    verificationKeyHash: run.proofRecord!.verification_key_hash,
    // Every parent it still depends on: the program refuses the record until each parent's exists and has not failed.
    parentTaskIds: run.parents.live().map(([id]) => id),
  };
}

/** Asks the running dependents for what is proven below them; their answers, ancestors first (preorder). */
async function gatherBelow(run: TaskRun): Promise<CommitEntry[]> {
  const asked = unsettledDependents(run.state.dependents, run.settledDependents);
  if (!asked.length) return [];
  await Promise.all(
    asked.map((d) => signalTask(d, (h) => h.signal(gatherCommitsSignal, { parentTaskId: run.input.taskId }))),
  );
  await condition(() => asked.every((d) => run.gathered.has(d) || run.settledDependents.has(d)), COMMIT_GATHER_TIMEOUT);
  return asked.flatMap((d) => run.gathered.get(d) ?? []);
}

/**
 * Answers a committing ancestor's gathering: the same answer as before if asked again, nothing unless
 * this task may join the batch, else its own entry and what is proven below it. Joining is the point
 * of no return, as for a task committing on its own: the ancestor is past its own commitment and may
 * carry this one, so the task enters `committing` here. This runs when the request arrives (its signal
 * handler), not in the run, so that the commands it issues keep their place in recorded histories.
 */
export async function answerGathering(run: TaskRun, parentTaskId: string): Promise<void> {
  const answer = (entries: CommitEntry[]) =>
    signalTask(parentTaskId, (h) => h.signal(commitsReadySignal, { taskId: run.input.taskId, entries }));
  // A join answers the one parent whose batch took it; another parent's batch must not carry it twice.
  if (run.handedUp) return answer(run.handedUpTo === parentTaskId ? run.handedUp : []);
  const othersLanded = run.parents.live().every(([id, p]) => id === parentTaskId || hasLanded(p));
  const ready =
    othersLanded &&
    mayJoinParentBatch({
      status: run.state.status,
      proofState: run.state.proof.state,
      rollbackRequested: Boolean(run.rollbackRequest),
      ownFault: Boolean(run.ownFault),
      batchSize: run.batchSize(),
    });
  if (!ready) return answer([]);
  run.enter('committing', `parent task ${parentTaskId}'s commitment batch`);
  run.handedUpTo = parentTaskId;
  run.handedUp = [commitEntry(run), ...(await gatherBelow(run))];
  return answer(run.handedUp);
}
