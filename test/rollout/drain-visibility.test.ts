/**
 * On the suite's dev server with a real system (startTestSystem): real speculative tasks, real bonds
 * on the embedded SVM.
 *
 * Keeping speculative tasks active, deterministically: the system runs the `agenc-tasks` worker only,
 * no `agenc-proofs` worker. A root task executes, then waits in `proving` for a proof no worker will
 * take (its activity is scheduled with no schedule-to-start limit), so it never confirms. Its
 * dependents speculate on its executed result (bond locked), execute, and wait too; a child of a
 * child speculates at depth 2. Nothing times out on its own (confirmation_timeout_ms 10 minutes), so
 * these tasks stay active exactly until the test drains or force-rolls them back. No sleeps or races:
 * the state is reached and then holds.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { createStakeOperator } from '../../activities/chain';
import { createVisibilitySource } from '../../activities/rollout-metrics';
import { controlStatus } from '../../temporal/control';
import { rolloutStatus, startRollout } from '../../client/commands/rollout';
import { parsePlan, rolloutWorkflowId } from '../../shared/rollout-model';
import { TASK_QUEUE } from '../../shared/task-queues';
import { PROJECT_ROOT } from '../helpers/paths';
import { pollUntil } from '../helpers/poll';
import { SPECULATIVE_CONFIG, startTestSystem, TEST_ADMIN_TOKEN, type TestSystem } from '../helpers/system';
import { rolloutAbortSignal } from '../../shared/messages';

const run = promisify(execFile);
let sys: TestSystem;
const t0 = new Date(Date.now() - 60_000).toISOString();

beforeAll(async () => {
  sys = await startTestSystem({
    name: 'rollout-drain',
    config: { speculation: { ...SPECULATIVE_CONFIG.speculation, confirmation_timeout_ms: 600_000 } },
    worker: { queues: [TASK_QUEUE] },
  });
  await sys.fundAgent('default');
});
afterAll(() => sys?.close());

const url = (p: string) => `http://127.0.0.1:${sys.worker.httpPort}${p}`;
const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
const window = () => ({ start: t0, end: new Date(Date.now() + 60_000).toISOString() });

const until = <T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, ms = 30_000) =>
  pollUntil(what, read, ok, ms, 250);

test('visibility counts real speculative tasks and rollbacks; drain times out (504), the emergency script force-rolls back; bonds released', async () => {
  const root = await sys.submit({ type: 'compute', payload: { value: 3 } });
  const b = await sys.submit({ type: 'compute', payload: { value: 4 }, dependsOn: root });
  const c = await sys.submit({ type: 'compute', payload: { value: 5 }, dependsOn: b });
  const d = await sys.submit({ type: 'compute', payload: { value: 6 }, dependsOn: root });
  const speculative = [b, c, d];

  await until(
    'three active speculative tasks',
    () => controlStatus(sys.client),
    (s) => s.active_tasks === 3,
  );
  const source = createVisibilitySource({ client: sys.client });
  const before = await until(
    'visibility to see 3 speculative tasks',
    () => source.read(window()),
    (r) => r.speculativeTasks === 3,
  );
  expect(before).toMatchObject({
    speculativeTasks: 3,
    rollbacks: 0,
    rollbackRate: 0,
    memoryGrowthPerHour: 0,
    p1Alerts: [],
    source: 'visibility',
  });
  expect(before.proofQueueDepth).toBeGreaterThanOrEqual(1); // the root at least waits in `proving`
  expect(before.proofQueueCapacity).toBe(sys.worker.config.config.speculation.proof.queue_size);

  // Drain through the admin API: nothing can finish, so it answers 504 with what is left.
  const drain = await fetch(url('/admin/speculation/drain?timeout_ms=1000'), { method: 'POST', headers: admin });
  expect(drain.status).toBe(504);
  expect(await drain.json()).toMatchObject({
    drained: false,
    remaining: 3,
    speculation: { draining: true, active_tasks: 3 },
  });

  // The runbook's emergency script (corrected): disable, drain (504 → curl -f fails), force-rollback, verify.
  const emergency = await run('bash', [path.join(PROJECT_ROOT, 'scripts', 'emergency-rollback.sh')], {
    env: { ...process.env, ADMIN_TOKEN: TEST_ADMIN_TOKEN, AGENC_URL: url(''), DRAIN_TIMEOUT_MS: '1000' },
  });
  expect(emergency.stdout).toContain('Drain timeout, forcing rollback...');
  expect(emergency.stdout).toContain('✓ Rollback complete, no active speculative tasks');

  const status = (await (await fetch(url('/admin/status'))).json()) as { speculation: Record<string, unknown> };
  expect(status.speculation).toMatchObject({ enabled: false, active_tasks: 0, pending_rollbacks: 0 });

  for (const id of speculative) {
    const s = await sys.wait(id, 30_000);
    expect(s).toMatchObject({ status: 'rolled_back', speculation_status: 'speculative' });
    expect(['forced', 'parent_rolled_back']).toContain(s.rollback_reason);
    // A forced rollback, or one caused by an ancestor, is not the task's fault: released in full.
    expect(s.bond).toMatchObject({ state: 'released' });
  }
  expect((await sys.wait(c)).depth).toBe(2);
  const operator = createStakeOperator(sys.worker.stakeDeps!);
  const stake = await operator.stakeStatus({ agent: 'default' });
  expect(stake.agents[0]).toMatchObject({ locked_in_bonds: 0, slashed: 0, bonds: [] });
  const integrity = await operator.checkIntegrity({ liveBonds: [] });
  expect(integrity.problems).toEqual([]);
  expect(integrity.ok).toBe(true);

  const after = await until(
    'visibility to see 3 rollbacks',
    () => source.read(window()),
    (r) => r.rollbacks === 3,
  );
  expect(after).toMatchObject({ speculativeTasks: 3, rollbacks: 3, rollbackRate: 1 });

  // The graceful script with nothing left: drained at once, speculation disabled.
  const graceful = await run('bash', [path.join(PROJECT_ROOT, 'scripts', 'graceful-rollback.sh')], {
    env: { ...process.env, ADMIN_TOKEN: TEST_ADMIN_TOKEN, AGENC_URL: url(''), WAIT_SECONDS: '5', POLL_SECONDS: '1' },
  });
  expect(graceful.stdout).toContain('All speculative tasks drained');
  expect(graceful.stdout).toContain('✓ Graceful rollback complete');
  const final = await controlStatus(sys.client);
  expect(final).toMatchObject({ enabled: false, rollout_percentage: 0, active_tasks: 0, draining: true });

  // Switched back on through the configuration, as an operator does: the drain left behind is over with it.
  const setConfig = (changes: Record<string, unknown>) =>
    fetch(url('/admin/config'), {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify(changes),
    });
  const on = await setConfig({ 'speculation.enabled': true });
  expect(on.status).toBe(200);
  expect(((await on.json()) as { speculation: unknown }).speculation).toMatchObject({ enabled: true, draining: false });
  expect((await setConfig({ 'speculation.enabled': false })).status).toBe(200);
});

test('a rollout on the real worker reads the visibility source, which sees no speculative task, P1 alert or memory growth: the canary holds (status, CLI, /metrics) instead of advancing; abort sets 0%', async () => {
  const r = parsePlan({
    evaluation_interval: '1s',
    phases: [
      { name: 'Canary', percentage: 1, duration: '3s' },
      { name: 'Full', percentage: 100, duration: 'ongoing' },
    ],
  });
  if (!r.ok) throw new Error(r.problems.join('; '));
  const handle = await startRollout(sys.client, 'canary', r.plan);
  const s = await until(
    'two evaluations of phase 1',
    () => rolloutStatus(sys.client, 'canary'),
    (st) => st.phases[0]!.evaluations >= 2,
  );
  expect(s).toMatchObject({ current_phase: 1, summary: 'rollout canary: 2 phases 1% → 100%' });
  const reading = s.phases[0]!.decisions.find((d) => d.readings)!;
  expect(reading.readings).toMatchObject({
    source: 'visibility',
    speculativeTasks: 0,
    unknown: ['p1_alerts', 'memory_growth'],
  });
  expect(reading).toMatchObject({ action: 'insufficient_evidence', sample_sufficient: false });
  await until(
    'search attributes on the rollout and its phase',
    () => sys.client.workflow.count('AgencRolloutName="canary" AND AgencRolloutPhase=1'),
    (x) => x.count === 2,
  );

  // Its 3 s window is over: with nothing observed, the canary holds at 1% (the old code went to 100%).
  const held = await until(
    'phase 1 to hold or phase 2 to start',
    () => rolloutStatus(sys.client, 'canary'),
    (st) => st.phases[0]!.state === 'holding' || (st.current_phase ?? 0) > 1,
  );
  expect(held).toMatchObject({ state: 'holding', current_phase: 1 });
  await new Promise((resolve) => setTimeout(resolve, 3000));
  expect(await rolloutStatus(sys.client, 'canary')).toMatchObject({
    state: 'holding',
    current_phase: 1,
    phases: [{ state: 'holding' }, { state: 'pending' }],
  });
  expect(await controlStatus(sys.client)).toMatchObject({ enabled: true, rollout_percentage: 1 });

  const agenc = (...args: string[]) =>
    run('node', [path.join(PROJECT_ROOT, 'bin', 'agenc.js'), '--namespace', sys.namespace, 'rollout', ...args], {
      env: process.env,
    });
  const json = JSON.parse((await agenc('status', 'canary', '--output', 'json')).stdout);
  expect(json).toMatchObject({
    name: 'canary',
    state: 'holding',
    current_phase: 1,
    phases: [
      { state: 'holding', evidence: { sufficient: false, unknown: ['p1_alerts', 'memory_growth'] } },
      { state: 'pending' },
    ],
  });
  const text = (await agenc('status', 'canary')).stdout;
  // The headline says what holds the canary, not just that it runs.
  expect(text.split('\n')[0]).toMatch(/holding.*insufficient evidence: 0 of 20 speculative tasks.*P1 alerts/);
  const metrics = await (await fetch(url('/metrics'))).text();
  expect(metrics).toMatch(/^speculation_rollout_insufficient_evidence\{rollout="canary"\} 1$/m);

  await handle.signal(rolloutAbortSignal, { reason: 'test over' });
  const final = await sys.client.workflow.getHandle(rolloutWorkflowId('canary')).result();
  expect(final).toMatchObject({ state: 'aborted', abort_reason: 'test over' });
  expect((await controlStatus(sys.client)).rollout_percentage).toBe(0);
});
