/**
 * Found with the chaos run's kills: a worker SIGKILLed during each of a task's three execution attempts
 * made the task `failed/execution_failed` and slashed its agent ("activity StartToClose timeout"),
 * although its payload was valid and nothing it did was wrong. A worker that dies is the system's
 * fault: the execution runs again, the task confirms and its bond is released in full.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import * as path from 'node:path';
import { temporal } from '@temporalio/proto';
import { taskWorkflowId } from '../../shared/task-model';
import { PROJECT_ROOT } from '../helpers/paths';
import { pollUntil } from '../helpers/poll';
import { startTestSystem, TEST_ADMIN_TOKEN, type TestSystem } from '../helpers/system';

let sys: TestSystem;
const children: ChildProcess[] = [];
const STARTED = temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;

/** The worker as its own process (tsx as a loader, so SIGKILL hits the worker itself); resolves once it polls. */
function startWorker(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts', '--http-port', 'off'], {
    cwd: PROJECT_ROOT,
    env: {
      ...process.env,
      TEMPORAL_NAMESPACE: sys.namespace,
      AGENC_CONFIG: sys.configFile,
      AGENC_CHAIN_FILE: path.join(sys.dir, 'chain', 'svm-accounts.json'),
      AGENC_KEYS_DIR: path.join(sys.dir, 'keys'),
      AGENC_EMBEDDED_FINALITY_MS: '0',
      TEMPORAL_SDK_METRICS_PORT: '0',
      ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      LOG_FORMAT: 'json',
      TEMPORAL_LOG_LEVEL: 'WARN',
      RUST_LOG: 'error',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const log = createWriteStream(path.join(sys.dir, `worker-${children.length}.log`));
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('"taskQueue":"agenc-proofs"') && out.includes('worker polling')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`worker exited with ${code} before polling; see worker-${children.length}.log`)));
  });
}

beforeAll(async () => {
  sys = await startTestSystem({ name: 'exec-lost' });
  await sys.fundAgent('innocent');
  await sys.stopWorker();
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await sys?.close();
});

test('a worker killed during every execution attempt of a valid speculative task does not fail it or slash its agent', async () => {
  let worker = await startWorker();
  const root = await sys.submit({ type: 'compute', payload: { value: 1 }, agent: 'innocent' });
  const dependent = await sys.submit({ type: 'compute', payload: { value: 2, work_ms: 20_000 }, dependsOn: root, agent: 'innocent' });
  const handle = sys.client.workflow.getHandle(taskWorkflowId(dependent));
  for (const attempt of [1, 2, 3]) {
    // The attempt counts only once this worker runs it: an attempt on a dead worker looks started until it times out.
    const victim = worker;
    await pollUntil(
      `execution attempt ${attempt} to run on worker ${victim.pid}`,
      async () => (await handle.describe()).raw.pendingActivities ?? [],
      (pending) =>
        pending.some(
          (a) =>
            a.activityType?.name === 'executeTask' && a.state === STARTED && a.attempt === attempt && (a.lastWorkerIdentity ?? '').startsWith(`${victim.pid}@`),
        ),
      120_000,
      200,
    );
    victim.kill('SIGKILL');
    await new Promise((r) => victim.once('exit', r));
    worker = await startWorker();
  }
  const final = await sys.wait(dependent, 240_000);
  expect(final).toMatchObject({ status: 'confirmed', speculation_status: 'speculative', rollback_reason: null, bond: { state: 'released' } });
  worker.kill('SIGTERM');
  await new Promise((r) => worker.once('exit', r));
}, 420_000);
