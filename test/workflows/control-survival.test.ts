/**
 * The control workflow holds the operator's live state (configuration, pause/drain, cooldowns, admitted
 * and active tasks). Against the real dev server, proofs and SVM: a failing clean-up activity never fails
 * it; a control workflow that closed is restored from its own last state, never restarted from the file;
 * tasks running while it is away do not fail and tell it what they owe once it is back; a stored
 * configuration the current schema refuses loads with defaults instead of wedging it.
 */
import { Worker } from '@temporalio/worker';
import { admitTask, controlHandle, controlStatus, ensureControl } from '../../temporal/control';
import { getTaskState } from '../../client/tasks';
import { CONTROL_WORKFLOW_ID, pauseSignal } from '../../shared/messages';
import { TASK_QUEUE } from '../../shared/task-queues';
import { taskWorkflowId } from '../../shared/task-model';
import { ActivityGate } from '../helpers/activity-gate';
import { pollUntil } from '../helpers/poll';
import { speculativeConfig, startTestSystem, type TestSystem } from '../helpers/system';

const agent = 'survivor';
let sys: TestSystem;
/** How many times the clean-up activity is made to fail (the control workflow gives it three attempts). */
let cleanupFailuresLeft = 0;
let cleanupFailures = 0;
const gate = new ActivityGate();

beforeAll(async () => {
  sys = await startTestSystem({
    name: 'control-survival',
    config: speculativeConfig({ speculation: { limits: { gc_interval_ms: 200 } } }),
    worker: {
      activityInterceptors: [
        (ctx) => ({
          inbound: {
            async execute(input, next) {
              if (
                ctx.info.activityType === 'findClosedTasks' &&
                ctx.info.workflowExecution?.workflowId === CONTROL_WORKFLOW_ID &&
                cleanupFailuresLeft > 0
              ) {
                cleanupFailuresLeft -= 1;
                cleanupFailures += 1;
                throw new Error('visibility store unavailable (injected by the test)');
              }
              return next(input);
            },
          },
        }),
        gate.interceptor,
      ],
    },
  });
  await sys.fundAgent(agent);
});
afterAll(async () => {
  gate.releaseAll();
  await sys?.close();
});

const controlRunId = async () => (await controlHandle(sys.client).describe()).runId;

test('a clean-up activity failing all three attempts while paused: the control workflow keeps running, still paused, with the same live configuration', async () => {
  await controlHandle(sys.client).signal(pauseSignal);
  const before = await pollUntil(
    'paused',
    () => controlStatus(sys.client),
    (s) => s.paused,
  );
  const runBefore = await controlRunId();

  // An admission whose workflow never starts is what a clean-up round asks about.
  cleanupFailuresLeft = 3;
  await admitTask(sys.client, 'never-started');
  await pollUntil(
    'three failed clean-up attempts',
    async () => cleanupFailures,
    (n) => n >= 3,
    30_000,
    100,
  );
  // The next round, with a working activity, frees the stale admission: the workflow went on.
  await pollUntil(
    'the stale admission freed',
    () => controlStatus(sys.client),
    (s) => s.open_tasks === 0,
    30_000,
    200,
  );

  const task = await sys.submit({ type: 'compute', payload: { value: 4 }, agent });
  const after = await controlStatus(sys.client);
  expect(after).toMatchObject({ paused: true, config_version: before.config_version });
  expect(after.config).toEqual(before.config);
  expect(await controlRunId()).toBe(runBefore);
  expect((await controlHandle(sys.client).describe()).status.name).toBe('RUNNING');
  expect(await sys.wait(task)).toMatchObject({ status: 'confirmed' });
  await controlHandle(sys.client).signal('resume');
});

test('a speculative chain of two confirms while the control workflow is terminated; restored from its last state, it hears what the tasks owed it', async () => {
  const root = `survive-root-${Date.now()}`;
  const releaseRoot = gate.hold('generateProof', root);
  await sys.submit({ taskId: root, type: 'compute', payload: { value: 2 }, agent });
  const child = await sys.submit({ type: 'compute', payload: { value: 3 }, dependsOn: root, agent });
  await pollUntil(
    'the child speculates',
    () => getTaskState(sys.client, child),
    (s) => s.speculation_status === 'speculative' && s.bond?.state === 'locked',
  );

  // A live setting the file does not have: it must survive.
  await controlHandle(sys.client).signal(pauseSignal);
  const before = await pollUntil(
    'paused, with the child active',
    () => controlStatus(sys.client),
    (s) => s.paused && s.active_tasks === 1,
  );
  await controlHandle(sys.client).terminate('test: the control workflow goes away');

  releaseRoot();
  const [r, c] = [await sys.wait(root), await sys.wait(child)];
  expect(r).toMatchObject({ status: 'confirmed' });
  expect(c).toMatchObject({ status: 'confirmed', speculation_status: 'speculative', bond: { state: 'released' } });
  // Both wait to tell the control workflow (slot free, speculation ended): running, not failed.
  for (const id of [root, child])
    expect((await sys.client.workflow.getHandle(taskWorkflowId(id)).describe()).status.name).toBe('RUNNING');

  // Anonymous status reads never start it.
  const res = await fetch(`http://127.0.0.1:${sys.worker.httpPort}/admin/status`);
  expect(res.status).toBe(503);
  expect(((await res.json()) as { error: string }).error).toMatch(
    /speculation-control is not running.*agenc speculation restore-control/,
  );
  expect((await controlHandle(sys.client).describe()).status.name).toBe('TERMINATED');

  expect(await ensureControl(sys.client, sys.worker.config.raw)).toMatchObject({
    outcome: 'restored',
    closedAs: 'TERMINATED',
  });
  const restored = await controlStatus(sys.client);
  expect(restored).toMatchObject({ paused: true, config_version: before.config_version });
  expect(restored.config).toEqual(before.config);

  await pollUntil(
    'the tasks delivered what they owed',
    () => controlStatus(sys.client),
    (s) => s.active_tasks === 0 && s.open_tasks === 0,
    90_000,
    500,
  );
  for (const id of [root, child]) {
    await pollUntil(
      `${id} completed`,
      async () => (await sys.client.workflow.getHandle(taskWorkflowId(id)).describe()).status.name,
      (n) => n === 'COMPLETED',
    );
  }
  await controlHandle(sys.client).signal('resume');
});

test('a stored configuration that the current schema refuses loads with defaults and says so, instead of wedging the control workflow', async () => {
  // What a history recorded by an older build holds after a deploy narrowed max_depth to [1, 20].
  const namespaceClient = sys.client;
  const id = `control-old-schema-${Date.now()}`;
  const handle = await namespaceClient.workflow.start('speculationControl', {
    workflowId: id,
    taskQueue: TASK_QUEUE,
    args: [
      {
        rawConfig: {
          speculation: { enabled: true, mode: 'balanced', max_depth: 50, features: { rollout_percentage: 100 } },
        },
      },
    ],
  });
  const status = await pollUntil(
    'the status of a control workflow with a refused stored key',
    () => handle.query('status'),
    () => true,
    15_000,
  );
  expect(status).toMatchObject({ enabled: true, rollout_percentage: 100, config: { speculation: { max_depth: 5 } } });
  expect((status as { config_problems: string[] }).config_problems).toEqual([
    expect.stringMatching(/^speculation\.max_depth = 50 /),
  ]);

  // Its history replays on this build.
  await Worker.runReplayHistory(
    { workflowBundle: { codePath: process.env.AGENC_TEST_WORKFLOW_BUNDLE! } },
    await handle.fetchHistory(),
    id,
  );
  await handle.terminate('test done');
});
