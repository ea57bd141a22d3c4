/**
 * A failing root with a tree below it, as the rollback tests build it: the root claims a wrong output,
 * so it executes (and its dependents speculate on that output) and then its proof fails, the agent's own
 * fault. Above it, by default, a task that confirms: the root then waits unconfirmed, speculating, and
 * with optimistic proofs off it proves only once that task is confirmed (on a chain that takes seconds to
 * finalize, the whole tree below is speculating by then).
 */
import type { Client } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { getTaskState, type SubmitRequest } from '../../client/tasks';
import type { TaskState } from '../../shared/task-model';
import { pollUntil } from './poll';

/** What the root claims: not its output (value² + parent output: 2² + 1 = 5, or 4 without a task above). */
const WRONG_OUTPUT = '12345';

export interface TreeShape {
  /** The agent of every task (its stake bonds their speculation); the default agent when absent. */
  agent?: string;
  /** A task above the root that confirms (default true); without it the root is a root task and proves at once. */
  above?: boolean;
  /** How many tasks hang below the root, each depending on the one before it (default 1). */
  below?: number;
  /** Fixed task ids `<ids>-above`, `<ids>-root`, `<ids>-1`, `<ids>-2`…, to hold their activities before they are submitted (see treeIds); random ids otherwise. */
  ids?: string;
}

export interface FailingRootTree {
  /** The task above the root (undefined with `above: false`). */
  above: string | undefined;
  /** The task whose proof fails. */
  root: string;
  /** The tasks below the root, from its dependent down. */
  below: string[];
}

/** The ids a tree of this shape is given: for holding a task's activities before the tree is submitted. */
export function treeIds(shape: TreeShape & { ids: string }): FailingRootTree {
  return {
    above: shape.above === false ? undefined : `${shape.ids}-above`,
    root: `${shape.ids}-root`,
    below: Array.from({ length: shape.below ?? 1 }, (_, i) => `${shape.ids}-${i + 1}`),
  };
}

/** Submits the tree, top down (compute tasks: values 1 above, 2 the root, 3, 4… below), and returns its ids. */
export async function failingRootWithTree(
  system: { submit(req: SubmitRequest): Promise<string> },
  shape: TreeShape = {},
): Promise<FailingRootTree> {
  const named = shape.ids === undefined ? undefined : treeIds({ ...shape, ids: shape.ids });
  const { agent } = shape;
  const above =
    shape.above === false
      ? undefined
      : await system.submit({ type: 'compute', payload: { value: 1 }, agent, taskId: named?.above });
  const root = await system.submit({
    type: 'compute',
    payload: { value: 2, claimed_output: WRONG_OUTPUT },
    dependsOn: above,
    agent,
    taskId: named?.root,
  });
  const below: string[] = [];
  for (let i = 0; i < (shape.below ?? 1); i++) {
    below.push(
      await system.submit({
        type: 'compute',
        payload: { value: 3 + i },
        dependsOn: below[i - 1] ?? root,
        agent,
        taskId: named?.below[i],
      }),
    );
  }
  return { above, root, below };
}

/**
 * Waits until every one of the tasks speculates with its bond locked (they start asynchronously); fails
 * at once if one ends first. With `advance`, a time-skipping server's clock moves on between reads.
 */
export async function untilSpeculating(
  client: Client,
  ids: string[],
  opts: { timeoutMs?: number; advance?: { env: Pick<TestWorkflowEnvironment, 'sleep'>; by: Duration } } = {},
): Promise<TaskState[]> {
  return pollUntil(
    `${ids.join(', ')} to speculate`,
    () => Promise.all(ids.map((id) => getTaskState(client, id))),
    (states) => states.every((s) => s.speculation_status === 'speculative' && s.bond?.state === 'locked'),
    {
      ...opts,
      everyMs: 200,
      hopeless: (states) =>
        states.some((s) => s.status === 'rolled_back' || s.status === 'failed')
          ? 'a task ended before it speculated'
          : undefined,
      show: (states) =>
        states.map((s) => `${s.task_id}: ${s.status}/${s.speculation_status}, bond ${s.bond?.state ?? 'none'}`),
    },
  );
}
