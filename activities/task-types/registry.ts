/**
 * Task types: each is a small module with a payload schema (checked at submission, so a bad payload is
 * refused before anything starts) and the function it runs. A new type is a new module registered here;
 * its proof circuits must prove the same function (circuits/task.circom and task-join.circom prove `compute`).
 */
import { computeTask } from './compute';
import { recordTask } from './record';
import type { TaskType } from './types';

export { TaskExecutionError, type TaskType } from './types';

const TASK_TYPES: ReadonlyMap<string, TaskType<unknown>> = new Map(
  [computeTask as TaskType<unknown>, recordTask as TaskType<unknown>].map((t) => [t.name, t]),
);

export function taskTypeNames(): string[] {
  return [...TASK_TYPES.keys()];
}

/** The task type of that name on this worker, or undefined when this worker's registry has none. */
export function findTaskType(name: string): TaskType<unknown> | undefined {
  return TASK_TYPES.get(name);
}

/** Does the type declare an undo of its effects? (A submission carries the answer: see TaskInput.undoable.) */
export function declaresUndo(typeName: string): boolean {
  return TASK_TYPES.get(typeName)?.undo !== undefined;
}

/** Validates a payload against its type; the message names the field, the value and what is allowed. */
export function checkPayload(
  typeName: string,
  payload: unknown,
): { ok: true; payload: unknown } | { ok: false; message: string } {
  const type = TASK_TYPES.get(typeName);
  if (!type)
    return { ok: false, message: `--type "${typeName}" is not a task type (known: ${taskTypeNames().join(', ')})` };
  const parsed = type.payloadSchema.safeParse(payload);
  if (parsed.success) return { ok: true, payload: parsed.data };
  const problems = parsed.error.issues.map(
    (i) => `${i.path.length ? `payload.${i.path.join('.')}` : 'payload'}: ${i.message}`,
  );
  return { ok: false, message: `payload does not match task type "${typeName}": ${problems.join('; ')}` };
}
