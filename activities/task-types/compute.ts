/**
 * `compute`: output = value² + the sum of the consumed parents' outputs (mod the BN254 field), proven
 * inside the circuit (task.circom for at most one parent, task-join.circom for more).
 * `{"fail": true}` makes execution fail, as the runbook's rollback smoke test expects.
 * `fail_attempts: n` makes its first n attempts fail (a flaky agent, which the `checkpoint` policy re-attempts).
 * `claimed_output` is what an agent reports instead of computing: the task takes it as its output, and
 * the proof fails when the claim is wrong (the agent's own fault: its bond is slashed).
 * `work_ms` stands for the time an agent's real work takes (the computation itself is instant), so
 * demos and benchmarks can show what speculation saves when execution is not free.
 */
import { z } from 'zod';
import { computeOutput } from '../proof/fields';
import { valueField, workMsField } from './payload-fields';
import { TaskExecutionError, type TaskType } from './types';

const payloadSchema = z.union(
  [
    z
      .object({
        value: valueField(),
        work_ms: workMsField(),
        fail_attempts: z
          .number({ invalid_type_error: 'must be a whole number of attempts' })
          .int({ message: 'must be a whole number of attempts' })
          .min(0, { message: 'must be >= 0' })
          .max(10, { message: 'must be <= 10' })
          .optional(),
        claimed_output: z
          .string({ invalid_type_error: 'must be a decimal string (a field element)' })
          .regex(/^(0|[1-9][0-9]{0,76})$/, { message: 'must be a decimal string (a field element)' })
          .optional(),
      })
      .strict(),
    z.object({ fail: z.literal(true, { errorMap: () => ({ message: 'must be true' }) }) }).strict(),
  ],
  {
    errorMap: () => ({
      message: 'must be {"value": <whole number >= 0>} (optionally with "claimed_output") or {"fail": true}',
    }),
  },
);

type ComputePayload = z.infer<typeof payloadSchema>;

export const computeTask: TaskType<ComputePayload> = {
  name: 'compute',
  description: 'value² + the sum of the parent outputs, proven in the circuit; {"fail": true} fails on purpose',
  payloadSchema,
  execute(payload, parentOutputs, { attempt }) {
    if ('fail' in payload) throw new TaskExecutionError('the payload asked this task to fail ({"fail": true})');
    if (attempt <= (payload.fail_attempts ?? 0))
      throw new TaskExecutionError(
        `the payload asked its first ${payload.fail_attempts} attempt(s) to fail (attempt ${attempt})`,
      );
    const value = BigInt(payload.value);
    const output =
      payload.claimed_output === undefined ? computeOutput(value, parentOutputs) : BigInt(payload.claimed_output);
    return { output, proofValue: value, workMs: payload.work_ms ?? 0 };
  },
};
