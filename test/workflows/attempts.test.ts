/**
 * Work that comes back, against the real dev server, Groth16 and the SVM: the `checkpoint` policy re-attempts a
 * task whose failure may pass and restarts its rolled-back subtree on the new result; `agenc task retry` does it
 * by hand. Each attempt is a run of `task-<id>` of its own, with a bond of its own; a slash of one attempt
 * stays a slash. A parent's proof is held (ActivityGate) so its dependents speculate as long as a test needs.
 */
import { settlementsOf } from '../../activities/chain/settlements';
import { getTaskState } from '../../client/tasks';
import { setConfigUpdate } from '../../shared/messages';
import type { TaskState } from '../../shared/task-model';
import { taskWorkflowId } from '../../shared/task-model';
import { controlHandle } from '../../temporal/control';
import { runOperatorAction } from '../../client/commands/operator';
import type { IntegrityReport } from '../../shared/operator-contract';
import { ActivityGate } from '../helpers/activity-gate';
import { runAgenc } from '../helpers/agenc-cli';
import { pollUntil } from '../helpers/poll';
import { speculativeConfig, startTestSystem, TEST_ADMIN_TOKEN, type TestSystem } from '../helpers/system';

let sys: TestSystem;
const gate = new ActivityGate();

beforeAll(async () => {
  sys = await startTestSystem({
    name: 'attempts',
    config: speculativeConfig({
      speculation: {
        rollback_policy: 'checkpoint',
        max_retries: 2,
        retry_backoff_ms: 500,
        proof: { batch_size: 1 },
        // A slash would keep the agent from speculating again at once: its next attempt speculates here.
        stake: { cooldown_period_ms: 0 },
      },
    }),
    worker: { embeddedFinalityMs: 0, activityInterceptors: [gate.interceptor] },
  });
  await sys.fundAgent('default');
});
afterAll(async () => {
  gate.releaseAll();
  await sys?.close();
});

const setLive = (changes: Record<string, unknown>) =>
  controlHandle(sys.client).executeUpdate(setConfigUpdate, { args: [changes] });

const compute = (taskId: string, payload: Record<string, unknown>, dependsOn?: string) =>
  sys.submit({ type: 'compute', payload, dependsOn, taskId });

/** Waits for the task's attempt `attempt` to reach a final status. */
const attemptEnds = (taskId: string, attempt: number, timeoutMs = 120_000) =>
  pollUntil(
    `${taskId}'s attempt ${attempt} to end`,
    () => getTaskState(sys.client, taskId),
    (s) => (s.attempt ?? 1) === attempt && ['confirmed', 'failed', 'rolled_back'].includes(s.status) && !s.retry,
    timeoutMs,
  );

/** The runs of a task's workflow, oldest first: one per attempt. */
async function runsOf(taskId: string): Promise<string[]> {
  const runs: Array<{ runId: string; startTime: Date }> = [];
  for await (const w of sys.client.workflow.list({ query: `WorkflowId = "${taskWorkflowId(taskId)}"` }))
    runs.push({ runId: w.runId, startTime: w.startTime });
  return runs.sort((a, b) => a.startTime.getTime() - b.startTime.getTime()).map((r) => r.runId);
}

async function settlements(): Promise<Array<{ task: string; action: string }>> {
  return (await settlementsOf(sys.worker.stakeDeps!, 'default')).map(({ task, action }) => ({ task, action }));
}

test('checkpoint: a task that fails once is re-attempted with a new bond (the slash stays), and its rolled-back subtree restarts on the new result', async () => {
  const releaseAbove = gate.hold('generateProof', 'cp-above');
  await compute('cp-above', { value: 1 });
  // Its first attempt's execution fails (the agent's fault: its bond is slashed); the second succeeds.
  await compute('cp-f', { value: 2, fail_attempts: 1 }, 'cp-above');
  await compute('cp-a', { value: 3 }, 'cp-f');
  await compute('cp-b', { value: 4 }, 'cp-a');
  // The second attempts speculate again (cp-above is still unconfirmed), each on a bond of its own.
  const [f, a, b] = await pollUntil(
    'the second attempts to speculate',
    () => Promise.all(['cp-f', 'cp-a', 'cp-b'].map((id) => getTaskState(sys.client, id))),
    (states) => states.every((s) => s.attempt === 2 && s.bond?.state === 'locked'),
    120_000,
  );
  expect(f!.previous_attempts).toEqual([
    expect.objectContaining({ attempt: 1, status: 'failed', rollback_reason: 'execution_failed' }),
  ]);
  const slashed = f!.previous_attempts![0]!.bond!;
  expect(slashed.state).toBe('slashed');
  expect(f!.bond!.address).not.toBe(slashed.address);
  for (const [s, reason] of [
    [a!, 'parent_failed'],
    [b!, 'parent_rolled_back'],
  ] as const)
    expect(s.previous_attempts).toEqual([
      expect.objectContaining({ attempt: 1, status: 'rolled_back', rollback_reason: reason }),
    ]);

  releaseAbove();
  const [fDone, aDone, bDone] = await Promise.all(['cp-f', 'cp-a', 'cp-b'].map((id) => attemptEnds(id, 2)));
  for (const s of [fDone!, aDone!, bDone!])
    expect(s).toMatchObject({ status: 'confirmed', attempt: 2, bond: { state: 'released' } });
  // Each consumed its parent's second result.
  expect(aDone!.parent_commitment).toBe(fDone!.result_commitment);
  expect(bDone!.parent_commitment).toBe(aDone!.result_commitment);
  // Every attempt is a run of its own; the slash of the first stays, each bond settled once.
  expect(await runsOf('cp-f')).toHaveLength(2);
  expect(await runsOf('cp-a')).toHaveLength(2);
  const settled = (await settlements()).filter((s) => s.task.startsWith('cp-'));
  expect(settled.filter((s) => s.task === 'cp-f')).toEqual([
    { task: 'cp-f', action: 'slash' },
    { task: 'cp-f', action: 'release' },
  ]);
  expect(settled.filter((s) => s.task === 'cp-a')).toEqual([{ task: 'cp-a', action: 'release' }]);
  const integrity = await runOperatorAction<IntegrityReport>(sys.client, { kind: 'checkIntegrity' });
  expect(integrity.problems).toEqual([]);

  const status = await runAgenc(['--namespace', sys.namespace, 'task', 'status', 'cp-f']);
  expect(status.stdout).toMatch(/attempt: +2 — before: attempt 1 failed \(execution_failed\), bond slashed/);
}, 240_000);

test('checkpoint: a rollback that may pass (confirmation_timeout) is re-attempted once the parent confirms; the speculative child restarts on the new result', async () => {
  await setLive({ 'speculation.confirmation_timeout_ms': 4000 });
  try {
    const releaseAbove = gate.hold('generateProof', 'ct-above');
    await compute('ct-above', { value: 1 });
    await compute('ct-x', { value: 2 }, 'ct-above');
    await compute('ct-y', { value: 3 }, 'ct-x');
    const [x1, y1] = await pollUntil(
      'ct-x and ct-y to speculate',
      () => Promise.all(['ct-x', 'ct-y'].map((id) => getTaskState(sys.client, id))),
      (states) => states.every((s) => s.bond?.state === 'locked'),
      60_000,
    );
    // ct-above's commitment does not land within 4 s: ct-x rolls back, and ct-y with it.
    await pollUntil(
      'ct-x to be re-attempted',
      () => getTaskState(sys.client, 'ct-x'),
      (s) => (s.attempt ?? 1) >= 2,
      60_000,
    );
    releaseAbove();
    const [x, y] = await Promise.all([attemptEnds('ct-x', 2), attemptEnds('ct-y', 2)]);
    expect(x!.previous_attempts).toEqual([
      expect.objectContaining({
        attempt: 1,
        status: 'rolled_back',
        rollback_reason: 'confirmation_timeout',
        bond: expect.objectContaining({ address: x1!.bond!.address, state: 'released' }),
      }),
    ]);
    expect(y!.previous_attempts).toEqual([
      expect.objectContaining({
        attempt: 1,
        status: 'rolled_back',
        rollback_reason: 'parent_rolled_back',
        bond: expect.objectContaining({ address: y1!.bond!.address, state: 'released' }),
      }),
    ]);
    expect(x).toMatchObject({ status: 'confirmed' });
    expect(y).toMatchObject({ status: 'confirmed', parent_commitment: x!.result_commitment });
  } finally {
    await setLive({ 'speculation.confirmation_timeout_ms': 60_000 });
  }
}, 240_000);

test('agenc task retry: refused for a confirmed or running task; a failed task with --subtree runs again, its rolled-back dependents with it', async () => {
  await setLive({ 'speculation.rollback_policy': 'cascade' });
  try {
    const env = {
      ...process.env,
      AGENC_ADMIN_URL: `http://127.0.0.1:${sys.worker.httpPort}`,
      ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    };
    const agenc = (...args: string[]) => runAgenc(['--namespace', sys.namespace, ...args], { env });
    await compute('rt-f', { value: 5, fail_attempts: 1 });
    await compute('rt-a', { value: 6 }, 'rt-f');
    expect(await sys.wait('rt-f')).toMatchObject({
      status: 'failed',
      rollback_reason: 'execution_failed',
      retry: null,
    });
    expect(await sys.wait('rt-a')).toMatchObject({ status: 'rolled_back', rollback_reason: 'parent_failed' });

    const releaseHeld = gate.hold('generateProof', 'rt-held');
    await compute('rt-held', { value: 7 });
    const running = await agenc('task', 'retry', 'rt-held');
    expect(running.code).toBe(2);
    expect(running.stderr).toMatch(
      /task rt-held is still (executing|executed|proving).*only a failed or rolled-back task can be retried/,
    );
    releaseHeld();
    await sys.wait('rt-held');
    const confirmed = await agenc('task', 'retry', 'rt-held', '--output', 'json');
    expect(confirmed.code).toBe(2);
    expect(confirmed.stderr).toMatch(/task rt-held is confirmed .*nothing to retry/);
    expect((await agenc('task', 'retry', 'no-such-task')).code).toBe(2);

    const retried = await agenc('task', 'retry', 'rt-f', '--subtree', '--output', 'json');
    expect(retried.code).toBe(0);
    expect(JSON.parse(retried.stdout)).toMatchObject({
      task_id: 'rt-f',
      attempt: 2,
      previous: { attempt: 1, status: 'failed', rollback_reason: 'execution_failed' },
      restart_dependents: ['rt-a'],
    });
    const [f, a] = await Promise.all([attemptEnds('rt-f', 2), attemptEnds('rt-a', 2)]);
    expect(f).toMatchObject({ status: 'confirmed', attempt: 2 });
    expect(a).toMatchObject({ status: 'confirmed', attempt: 2, parent_commitment: f!.result_commitment });
    expect(a!.previous_attempts![0]).toMatchObject({ status: 'rolled_back', rollback_reason: 'parent_failed' });
  } finally {
    await setLive({ 'speculation.rollback_policy': 'checkpoint' });
  }
}, 240_000);

test('checkpoint gives up after max_retries; every attempt bonds and settles once, its speculative dependent released in the cascade each time', async () => {
  await setLive({ 'speculation.max_retries': 1 });
  try {
    // mx-f claims an output its proof cannot show, on every attempt; mx-a speculates on it each time.
    let releaseProof = gate.hold('generateProof', 'mx-f');
    await compute('mx-f', { value: 8, claimed_output: '12345' });
    await compute('mx-a', { value: 9 }, 'mx-f');
    const speculating = (attempt: number) =>
      pollUntil(
        `mx-a's attempt ${attempt} to speculate`,
        () => getTaskState(sys.client, 'mx-a'),
        (s) => (s.attempt ?? 1) === attempt && s.bond?.state === 'locked',
        60_000,
      );
    const first = await speculating(1);
    releaseProof();
    releaseProof = gate.hold('generateProof', 'mx-f');
    const second = await speculating(2);
    expect(second.bond!.address).not.toBe(first.bond!.address);
    releaseProof();

    const f: TaskState = await attemptEnds('mx-f', 2);
    expect(f).toMatchObject({ status: 'failed', rollback_reason: 'proof_failed', attempt: 2, retry: null });
    expect(f.previous_attempts).toEqual([expect.objectContaining({ attempt: 1, rollback_reason: 'proof_failed' })]);
    const a = await attemptEnds('mx-a', 2);
    // The last attempt ends as cascade: the dependent stays rolled back, its bond released in mx-f's batch.
    expect(a).toMatchObject({
      status: 'rolled_back',
      rollback_reason: 'parent_failed',
      bond: { address: second.bond!.address, state: 'released', settled_by: 'mx-f' },
    });
    expect(a.previous_attempts![0]!.bond).toMatchObject({ address: first.bond!.address, state: 'released' });
    expect(await runsOf('mx-f')).toHaveLength(2);
    expect(await runsOf('mx-a')).toHaveLength(2);
    expect((await settlements()).filter((x) => x.task === 'mx-a')).toEqual([
      { task: 'mx-a', action: 'release' },
      { task: 'mx-a', action: 'release' },
    ]);
    const integrity = await runOperatorAction<IntegrityReport>(sys.client, { kind: 'checkIntegrity' });
    expect(integrity.problems).toEqual([]);
  } finally {
    await setLive({ 'speculation.max_retries': 2 });
  }
}, 240_000);
