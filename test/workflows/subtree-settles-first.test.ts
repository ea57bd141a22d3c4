/**
 * A rolling-back task compensates only after its whole subtree has settled, however long that takes:
 * no bond is released or slashed while a dependent still holds an unsettled speculation on it. The
 * wait is minutes long, so this runs on the time-skipping server, with the real workflows, the real
 * SVM and real proofs; the fault (the chain stops answering one dependent's bond release) is injected
 * at the activity boundary. The fast cascade's batch cannot reach the chain either, so what is tested is
 * the rollback it falls back to: level by level, each task settling after its dependents.
 */
import { mkdtempSync } from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure, type Duration } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { createStakeOperator } from '../../activities/chain';
import { getTaskState, type SubmitRequest } from '../../client/tasks';
import { type TaskState, taskWorkflowId } from '../../shared/task-model';
import { startWorkerProcess, type WorkerProcess } from '../../workers/worker-process';
import { submitAsAgent } from '../helpers/agent-keys';
import { failingRootWithTree, untilSpeculating } from '../helpers/failing-root';
import { testRunDir } from '../helpers/paths';
import { pollUntil } from '../helpers/poll';
import { speculativeConfig, testWorkerOptions, writeConfig } from '../helpers/system';
import { startTimeSkippingEnv } from '../helpers/time-skipping';

let env: TestWorkflowEnvironment;
let keysDir: string;
let worker: WorkerProcess;
/** Task whose bond release the chain refuses while set. */
let unreachableFor: string | undefined;
let refusedReleases = 0;
/** Task ids in the order their bonds were settled on-chain. */
const settled: string[] = [];

const chainFault: ActivityInterceptorsFactory = (ctx) => ({
  inbound: {
    async execute(input, next) {
      const type = ctx.info.activityType;
      const taskId = (input.args[0] as { taskId?: string } | undefined)?.taskId;
      // The chain does not answer the cascade's batch either: the rollback falls back to going level by level.
      if (type === 'cascadeRollback' && unreachableFor) {
        throw ApplicationFailure.retryable('injected fault: the chain does not answer the cascade', 'ChainUnavailable');
      }
      if (type === 'releaseBond' && taskId === unreachableFor) {
        refusedReleases += 1;
        throw ApplicationFailure.retryable(
          `injected fault: the chain does not answer the bond release of task ${taskId}`,
          'ChainUnavailable',
        );
      }
      const result = await next(input);
      if ((type === 'releaseBond' || type === 'slashBond') && taskId) settled.push(taskId);
      return result;
    },
  },
});

beforeAll(async () => {
  env = await startTimeSkippingEnv();
  const dir = mkdtempSync(path.join(testRunDir(), 'subtree-'));
  keysDir = path.join(dir, 'keys');
  worker = await startWorkerProcess(
    testWorkerOptions(
      {
        address: env.address,
        namespace: env.namespace ?? 'default',
        dir,
        configFile: writeConfig(
          dir,
          speculativeConfig({
            speculation: {
              confirmation_timeout_ms: 3_600_000,
              limits: { gc_interval_ms: 3_600_000 },
              features: { enable_optimistic_proofs: false },
            },
          }),
        ),
      },
      // The commit of the task above the failing root takes 6 s to finalize, so the tree below is speculating before the root's proof runs.
      { embeddedFinalityMs: 6000, activityInterceptors: [chainFault] },
    ),
  );
});
afterAll(async () => {
  await worker?.shutdown();
  await env?.teardown();
});

const system = {
  submit: async (req: SubmitRequest) => (await submitAsAgent(worker.client, keysDir, req)).task_id,
};
const state = (id: string) => getTaskState(worker.client, id);

/** Reads the tasks until `ok`; in wall-clock time, or with the test server's clock moved on by `advance` between reads. */
function until(what: string, ids: string[], ok: (s: TaskState[]) => boolean, advance?: Duration): Promise<TaskState[]> {
  return pollUntil(what, () => Promise.all(ids.map(state)), ok, {
    timeoutMs: 60_000,
    everyMs: 250,
    advance: advance === undefined ? undefined : { env, by: advance },
    show: (states) => states.map((s) => [s.task_id, s.status, s.speculation_status, s.bond?.state, s.error]),
  });
}

/** above → root (its proof fails) → parent → child, with parent and child speculating and the child's bond release refused. */
async function treeWithStuckChild(agent: string): Promise<{ parent: string; child: string }> {
  await createStakeOperator(worker.stakeDeps!).stakeInit({ agent, amount: 1_000_000_000 });
  const [parent, child] = (await failingRootWithTree(system, { agent, below: 2 })).below as [string, string];
  unreachableFor = child;
  refusedReleases = 0;
  await untilSpeculating(worker.client, [parent, child], { timeoutMs: 60_000 });
  await until(
    'the child to try releasing its bond',
    [parent, child],
    (s) => s[1]!.status === 'rolling_back' && refusedReleases > 0,
  );
  return { parent, child };
}

test('a parent whose dependent cannot settle for 15 minutes keeps its bond locked until it does, then settles after it', async () => {
  const { parent, child } = await treeWithStuckChild('patient');
  const rollbackBegan = (await state(parent)).timestamps.rolling_back;
  expect(rollbackBegan).toBeDefined();

  // Fifteen minutes pass with the child's release refused (the old bounded wait gave up after ten).
  for (let i = 0; i < 3; i++) await env.sleep('5 minutes');
  const [waiting, stuck] = [await state(parent), await state(child)];
  expect(waiting).toMatchObject({ status: 'rolling_back', bond: { state: 'locked' } });
  expect(waiting!.waiting_for).toContain(child);
  // Each minute's check says what it waits for; the rollback still began when it began.
  expect(waiting!.timestamps.rolling_back).toBe(rollbackBegan);
  expect(stuck).toMatchObject({ status: 'rolling_back', bond: { state: 'locked' } });
  expect(settled).not.toContain(parent);

  // The chain answers again: the child settles, then the parent.
  unreachableFor = undefined;
  const [p, c] = await until(
    'the tree to settle',
    [parent, child],
    (s) => s.every((t) => t.status === 'rolled_back'),
    '30 seconds',
  );
  expect(c).toMatchObject({ rollback_reason: 'parent_rolled_back', bond: { state: 'released' } });
  expect(p).toMatchObject({ rollback_reason: 'parent_failed', bond: { state: 'released' } });
  expect(settled.indexOf(child)).toBeGreaterThanOrEqual(0);
  expect(settled.indexOf(child)).toBeLessThan(settled.indexOf(parent));
});

test('a dependent terminated by an operator mid-rollback no longer holds its parent: the parent settles at the next check', async () => {
  // Another agent: the first test's root was slashed, and its agent is cooling down.
  const { parent, child } = await treeWithStuckChild('terminated');
  await worker.client.workflow.getHandle(taskWorkflowId(child)).terminate('operator test: terminated mid-rollback');
  unreachableFor = undefined;
  const [p] = await until('the parent to settle', [parent], (s) => s[0]!.status === 'rolled_back', '30 seconds');
  expect(p).toMatchObject({ rollback_reason: 'parent_failed', bond: { state: 'released' } });
  // Terminating skipped the child's compensations: its bond is still locked, for `agenc admin check-integrity` to report.
  expect(settled).not.toContain(child);
});
