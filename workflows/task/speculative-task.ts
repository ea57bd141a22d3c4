/**
 * `speculativeTask`: one durable workflow per task (`task-<taskId>`). It builds the task's `TaskRun`,
 * hands each message to it, and runs it: wait for the parent, admit and bond, execute, prove, await
 * ancestors, commit — or roll back — then close (task-run.ts has the statuses and what each heeds).
 *
 * A dependent starts on its parent's *executed* (unconfirmed) result when the control workflow admits
 * it, bonding stake for the risk. Its proof may be generated early, but its commitment goes on-chain
 * only after every ancestor's has landed. When an ancestor fails, the rollback runs as a saga (rollback.ts).
 */
import { setHandler } from '@temporalio/workflow';
import {
  cascadeSettledSignal,
  commitsReadySignal,
  dependentSettledSignal,
  forceRollbackSignal,
  requestRollbackUpdate,
  gatherCommitsSignal,
  joinCascadeUpdate,
  parentCommittedSignal,
  parentConfirmedSignal,
  parentExecutedSignal,
  parentProgressSignal,
  parentRolledBackSignal,
  proofRecordQuery,
  registerDependentSignal,
  taskInputQuery,
  taskStateQuery,
} from '../../shared/messages';
import type { TaskInput, TaskState } from '../../shared/task-model';
import { heardCascadeVerdict, joinCascade } from './cascade';
import { TaskRun } from './task-run';

export async function speculativeTask(input: TaskInput): Promise<TaskState> {
  const run = new TaskRun(input);
  // Registered in this order so that signals delivered with the start are handled as they always were.
  setHandler(registerDependentSignal, ({ taskId }) => run.heardDependentRegistered(taskId), {
    description:
      'A dependent task registers; the parent pushes its current state to it at once and every change after.',
  });
  setHandler(parentExecutedSignal, (executed) => run.heardParentExecuted(executed), {
    description:
      'The parent has executed (not yet confirmed): its output, salt, commitment and unconfirmed-ancestor count.',
  });
  setHandler(
    parentProgressSignal,
    ({ parentTaskId, pendingAncestors }) => run.heardParentProgress(parentTaskId, pendingAncestors),
    {
      description: "The parent's count of unconfirmed ancestors changed.",
    },
  );
  setHandler(parentConfirmedSignal, (confirmed) => run.heardParentConfirmed(confirmed), {
    description: 'The parent is confirmed (proven and committed on-chain).',
  });
  setHandler(parentCommittedSignal, ({ parentTaskId, batch }) => run.heardParentCommitted(parentTaskId, batch), {
    description: "The parent's commitment has landed on-chain (not yet final): this task may send its own.",
  });
  setHandler(parentRolledBackSignal, ({ parentTaskId, reason }) => run.heardParentFailed(parentTaskId, reason), {
    description:
      'A parent failed or rolled back: this task and its subtree roll back (under `selective`, an order edge goes on without it).',
  });
  setHandler(
    forceRollbackSignal,
    ({ reason } = {}) => void run.forceRollback(reason ?? 'manual rollback by operator'),
    {
      description: 'Operator: roll this task and its whole subtree back through their compensations.',
    },
  );
  setHandler(requestRollbackUpdate, ({ reason }) => run.forceRollback(reason), {
    description:
      'Operator: roll this task and its whole subtree back; answers whether it will (not when final, committing or already rolling back).',
    validator: (req) => {
      if (typeof req?.reason !== 'string' || !req.reason.trim())
        throw new Error(
          `requestRollback needs {reason}: a non-empty string, got ${JSON.stringify(req)?.slice(0, 200)}`,
        );
    },
  });
  setHandler(dependentSettledSignal, ({ taskId }) => run.heardDependentSettled(taskId), {
    description: 'A dependent reached a final state.',
  });
  setHandler(gatherCommitsSignal, ({ parentTaskId }) => run.heardGatheringRequest(parentTaskId), {
    description:
      'The parent is committing: a proven dependent answers with what is proven in its subtree, to go on-chain in the same batch.',
  });
  setHandler(commitsReadySignal, ({ taskId, entries }) => run.heardGatheringAnswer(taskId, entries), {
    description: "A dependent's answer to gathering: its proven subtree, ancestors first.",
  });
  setHandler(joinCascadeUpdate, (join) => joinCascade(run, join), {
    description:
      "A failed ancestor's cascade: roll back now and leave the bond to its batch (answers whether this task joined, and its bond).",
  });
  setHandler(cascadeSettledSignal, (verdict) => heardCascadeVerdict(run, verdict), {
    description: "The cascade's verdict: this task's bond released in the origin's batch, or settle it yourself.",
  });
  setHandler(proofRecordQuery, () => run.proofRecord ?? null, {
    description: 'The Groth16 proof record: proof, public signals, verification-key hash, timing.',
  });
  setHandler(taskInputQuery, () => input, {
    description: "The run's input: what the task's next attempt starts from (agenc task retry, the checkpoint policy).",
  });
  setHandler(taskStateQuery, () => run.state, {
    description: "The task's full state: status, speculation status, depth, bond, proof, timestamps.",
  });
  return run.run();
}
