/**
 * `compute`: output = value² + parent output (mod the BN254 field), proven inside the circuit.
 * `{"fail": true}` makes execution fail, as the runbook's rollback smoke test expects.
 */
import { z } from 'zod';
import { computeOutput } from '../proof/fields';
import { TaskExecutionError, type TaskType } from './types';

const payloadSchema = z.union([
  z
    .object({
      value: z
        .number({ invalid_type_error: 'must be a number', required_error: 'is required (a whole number)' })
        .int({ message: 'must be a whole number' })
        .min(0, { message: 'must be >= 0' })
        .max(Number.MAX_SAFE_INTEGER, { message: `must be <= ${Number.MAX_SAFE_INTEGER}` }),
    })
    .strict(),
  z.object({ fail: z.literal(true, { errorMap: () => ({ message: 'must be true' }) }) }).strict(),
], { errorMap: () => ({ message: 'must be {"value": <whole number >= 0>} or {"fail": true}' }) });

type ComputePayload = z.infer<typeof payloadSchema>;

export const computeTask: TaskType<ComputePayload> = {
  name: 'compute',
  description: 'value² + parent output, proven in the circuit; {"fail": true} fails on purpose',
  payloadSchema,
  execute(payload, parentOutput) {
    if ('fail' in payload) throw new TaskExecutionError('the payload asked this task to fail ({"fail": true})');
    const value = BigInt(payload.value);
    return { output: computeOutput(value, parentOutput), proofValue: value };
  },
};
