/** What a task type is; see registry.ts. */
import type { z } from 'zod';

/** Which run of which task the step is for: an attempt's effects are its own (an undo removes only them). */
export interface TaskContext {
  taskId: string;
  /** 1 for the first run; each re-attempt (the `checkpoint` policy, `agenc task retry`) counts up. */
  attempt: number;
}

export interface TaskResult {
  output: bigint;
  proofValue: bigint;
  workMs?: number;
}

export interface TaskType<P> {
  name: string;
  description: string;
  payloadSchema: z.ZodType<P>;
  /**
   * Runs the task on the outputs of the parents it consumes, in order (none for a root; a run started before
   * task graphs passes its one parent output, 0 for a root). Throws TaskExecutionError on a failure that is
   * the task's own (its bond may be slashed); anything else it throws is the system's (a SystemFault).
   * A type with effects outside the system must make them idempotent per attempt: a retried execution
   * (its worker died) runs it again.
   */
  execute(payload: P, parentOutputs: readonly bigint[], context: TaskContext): TaskResult | Promise<TaskResult>;
  /**
   * Undoes what `execute` did outside the system, when the task rolls back. Idempotent and retried: it may run
   * after an execution that never finished or never started (then `output` is null), and again after its own
   * worker died. Returns what it undid, in words (kept in the task's state). A type without one leaves its
   * effects in place on a rollback (the README says which types have none).
   */
  undo?(payload: P, context: TaskContext & { output: bigint | null }): Promise<string>;
}

export class TaskExecutionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TaskExecutionError';
  }
}
