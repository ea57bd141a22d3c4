/** What a task type is; see registry.ts. */
import type { z } from 'zod';

export interface TaskType<P> {
  name: string;
  description: string;
  payloadSchema: z.ZodType<P>;
  /**
   * Runs the task on the outputs of the parents it consumes, in order (none for a root; a run started before
   * task graphs passes its one parent output, 0 for a root). Throws TaskExecutionError on a failure that is
   * the task's own (its bond may be slashed); anything else it throws is the system's (a SystemFault).
   */
  execute(payload: P, parentOutputs: readonly bigint[]): { output: bigint; proofValue: bigint; workMs?: number };
}

export class TaskExecutionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TaskExecutionError';
  }
}
