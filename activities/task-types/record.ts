/**
 * `record`: computes what `compute` computes (value² + the sum of the consumed parents' outputs, so the same
 * circuits prove it) and, as a real effect outside the system, writes one row per attempt into a SQLite file
 * (records-store.ts). Its undo deletes that attempt's row, so a rolled-back task leaves nothing behind.
 * `note` is kept in the row. `work_ms` stands for the time real work takes, as in `compute`; `undo_ms` for
 * the time undoing it takes (the row is deleted only after it), so a test can stop a worker in the middle of
 * an undo and see the retried undo finish the job.
 */
import { Context } from '@temporalio/activity';
import { z } from 'zod';
import { computeOutput } from '../proof/fields';
import { millisecondsField, valueField, workMsField } from './payload-fields';
import { recordsStore } from './records-store';
import type { TaskType } from './types';

const MAX_UNDO_MS = 20_000;
const MAX_NOTE_CHARS = 200;

const payloadSchema = z
  .object({
    value: valueField(),
    note: z
      .string({ invalid_type_error: 'must be a string' })
      .max(MAX_NOTE_CHARS, { message: `must be at most ${MAX_NOTE_CHARS} characters` })
      .optional(),
    work_ms: workMsField(),
    undo_ms: millisecondsField(MAX_UNDO_MS).optional(),
  })
  .strict();

export type RecordPayload = z.infer<typeof payloadSchema>;

/** Heartbeats when running inside an activity; outside one (unit tests) there is no Context and nothing to do. */
function heartbeat(): void {
  try {
    Context.current().heartbeat();
  } catch {
    /* not in an activity */
  }
}

/** Waits ms in slices of at most a second, heartbeating between them. */
async function waitWithHeartbeats(ms: number): Promise<void> {
  for (let left = ms; left > 0;) {
    const slice = Math.min(1000, left);
    await new Promise((resolve) => setTimeout(resolve, slice));
    left -= slice;
    heartbeat();
  }
}

export const recordTask: TaskType<RecordPayload> = {
  name: 'record',
  description: 'value² + the sum of the parent outputs, written as a row to a SQLite file; its undo deletes the row',
  payloadSchema,
  execute(payload, parentOutputs, { taskId, attempt }) {
    const output = computeOutput(BigInt(payload.value), parentOutputs);
    recordsStore().write({ taskId, attempt, value: payload.value, output: output.toString(), note: payload.note });
    return { output, proofValue: BigInt(payload.value), workMs: payload.work_ms ?? 0 };
  },
  async undo(payload, { taskId, attempt }) {
    // The wait comes first on purpose: a worker stopped during it leaves the row, for the retried undo to delete.
    await waitWithHeartbeats(payload.undo_ms ?? 0);
    const store = recordsStore();
    const deleted = store.remove(taskId, attempt);
    return deleted > 0
      ? `deleted ${deleted} row${deleted === 1 ? '' : 's'} (task ${taskId}, attempt ${attempt}) from ${store.file}`
      : `no row of task ${taskId} attempt ${attempt} in ${store.file} (already undone or never written)`;
  },
};
