/** Execution: the task's step on its input (the parent's output), on the execution worker. */
import { isCancellation, patched } from '@temporalio/workflow';
import { classifyExecutionFailure, executionWorkerLost, rootMessage } from '../task-decisions';
import { EXECUTION, EXECUTION_UNDOABLE, taskActivities } from './activity-options';
import { startConfirmationTimer } from './admission';
import { OwnFault, type TaskRun } from './task-run';
import { registerUndo } from './undo';

/** Rounds of execution attempts all lost to their worker (each round is EXECUTION's attempts) before the task gives up. */
const MAX_LOST_EXECUTION_ROUNDS = 3;

/**
 * Runs the task's step on its input; the dependents hear the result at once. Executions lost to their
 * worker run again, a bounded number of rounds. (The loop awaits the activity itself, with nothing
 * between its answer and the next command: see "Changing workflow code" in the README.)
 */
export async function execute(run: TaskRun): Promise<void> {
  // Started here, right before the execution's first command, not when the bond is locked: a rollback
  // request that arrives with the bond's result then cancels it after that command, as it always did.
  if (run.state.speculation_status === 'speculative') startConfirmationTimer(run);
  run.enter('executing');
  registerUndo(run);
  try {
    let executed: Awaited<ReturnType<typeof startExecution>> | undefined;
    for (let lostRounds = 1; !executed; lostRounds++) {
      try {
        executed = await startExecution(run);
      } catch (err) {
        // A task type's work is bounded below the start-to-close timeout, so that timeout means the
        // worker died: the system's fault, like a lost proof attempt, not the agent's. Attempts all lost
        // that way run the execution again instead of failing it and slashing the bond.
        if (!(executionWorkerLost(err) && patched('execution-worker-lost-not-own-fault'))) throw err;
        // But not forever: an execution that hangs (its worker stops heartbeating every time) ends as
        // execution_unavailable, bond released, after this many rounds of lost attempts.
        if (lostRounds >= MAX_LOST_EXECUTION_ROUNDS && patched('bounded-execution-rounds')) throw err;
      }
    }
    run.proofValue = executed.proofValue;
    run.state.result = { output: executed.output, salt: executed.salt, commitment: executed.commitment };
  } catch (err) {
    if (isCancellation(err)) throw err;
    if (!run.systemFaultsReleased) throw new OwnFault('execution_failed', rootMessage(err));
    const failure = classifyExecutionFailure(err);
    // No worker could run it (a task type or schema they lack): the system's fault, bond released.
    if (!failure.ownFault) await run.rollBackForSystemFault(failure.reason, failure.message);
    throw new OwnFault(failure.reason, failure.message);
  }
  run.state.result_commitment = run.state.result.commitment;
  run.enter('executed');
  await run.tellDependents();
}

function startExecution(run: TaskRun) {
  const { input, consumed } = run;
  const on = consumed.length
    ? `parent${consumed.length > 1 ? 's' : ''} ${consumed.map((c) => c.taskId).join(', ')}'s output`
    : 'no parent';
  return taskActivities(input.undoable ? EXECUTION_UNDOABLE : EXECUTION, `execute: ${input.type} on ${on}`).executeTask(
    {
      taskId: input.taskId,
      type: input.type,
      payload: input.payload,
      parentOutputs: consumed.map((c) => c.output.output),
      ...(input.attempt ? { attempt: input.attempt } : {}),
    },
  );
}
