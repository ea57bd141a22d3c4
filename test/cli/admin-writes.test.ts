/**
 * Issue 22: every operator write of `agenc` goes through the worker's admin API with its bearer token,
 * never straight to Temporal. For each write, `node bin/agenc.js …` as an operator runs it, against a
 * real worker (its admin API on a free port) on the suite's dev server: without the token it is refused
 * (exit 2 naming ADMIN_TOKEN) and the live state read afterwards is unchanged; with it, it works.
 *
 * The CLI's environment: no ADMIN_TOKEN unless a run gives one, AGENC_ADMIN_URL at the worker, and
 * AGENC_DATA_DIR at an empty directory (so a developer's own `.data/admin-token` is never picked up).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import { createStakeOperator } from '../../activities/chain';
import { rolloutStatus } from '../../client/commands/rollout';
import { getTaskState } from '../../client/tasks';
import { rolloutWorkflowId } from '../../shared/rollout-model';
import { taskWorkflowId } from '../../shared/task-model';
import { controlHandle, controlStatus } from '../../temporal/control';
import { ActivityGate } from '../helpers/activity-gate';
import { PROJECT_ROOT, testRunDir } from '../helpers/paths';
import { pollUntil } from '../helpers/poll';
import { speculativeConfig, startTestSystem, TEST_ADMIN_TOKEN, type TestSystem } from '../helpers/system';

const BIN = path.join(PROJECT_ROOT, 'bin', 'agenc.js');
const ORPHAN_AGENT = 'orphaned';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let sys: TestSystem;
const gate = new ActivityGate();
let adminUrl: string;
let emptyDataDir: string;
let dir: string;

/** `node bin/agenc.js …`; `env` adds to (or, with undefined, removes from) the operator's environment. */
function agenc(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  const base: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env))
    if (!name.startsWith('AGENC_') && name !== 'ADMIN_TOKEN') base[name] = value;
  const full: NodeJS.ProcessEnv = { ...base, AGENC_ADMIN_URL: adminUrl, AGENC_DATA_DIR: emptyDataDir };
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete full[name];
    else full[name] = value;
  }
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, '--namespace', sys.namespace, ...args],
      { cwd: PROJECT_ROOT, env: full, timeout: 90_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }),
    );
  });
}

const withToken = { ADMIN_TOKEN: TEST_ADMIN_TOKEN };
const json = (r: Run) => JSON.parse(r.stdout) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Refused for want of the token: exit 2, a sentence naming what to set, nothing on stdout. */
function expectRefused(r: Run): void {
  expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: '' });
  expect(r.stderr).toMatch(
    /^agenc: the admin API at http:\/\/127\.0\.0\.1:\d+ needs the admin token \(401\): set ADMIN_TOKEN/,
  );
  expect(r.stderr).toContain('--token-file');
}

function expectOk(r: Run): void {
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
}

const stake = (agent: string) =>
  createStakeOperator(sys.worker.stakeDeps!)
    .stakeStatus({ agent })
    .then((s) => s.agents[0]);
const control = () => controlStatus(sys.client);
async function controlSignals(name: string): Promise<number> {
  const history = await controlHandle(sys.client).fetchHistory();
  return (history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === name).length;
}
const rolloutExists = () =>
  sys.client.workflow
    .getHandle(rolloutWorkflowId('gated'))
    .describe()
    .then(
      () => true,
      (err: unknown) => {
        if (err instanceof WorkflowNotFoundError) return false;
        throw err;
      },
    );

let orphanChild: string;
let planFile: string;

beforeAll(async () => {
  sys = await startTestSystem({
    name: 'admin-writes',
    config: speculativeConfig({ speculation: { limits: { gc_interval_ms: 500 } } }),
    worker: { activityInterceptors: [gate.interceptor] },
  });
  adminUrl = `http://127.0.0.1:${sys.worker.httpPort}`;
  dir = mkdtempSync(path.join(testRunDir(), 'admin-writes-'));
  emptyDataDir = mkdtempSync(path.join(dir, 'data-'));
  planFile = path.join(dir, 'plan.json');
  writeFileSync(
    planFile,
    JSON.stringify({
      evaluation_interval: '1h',
      phases: [
        { name: 'Canary', percentage: 1, duration: '1h' },
        { name: 'Full', percentage: 100, duration: 'ongoing' },
      ],
    }),
  );
  await sys.fundAgent('default');
  await sys.fundAgent(ORPHAN_AGENT);
  // A bond left behind by a terminated speculative task: what `stake release-bond` is for.
  const root = `aw-root-${Date.now()}`;
  gate.hold('generateProof', root);
  await sys.submit({ taskId: root, type: 'compute', payload: { value: 1 }, agent: ORPHAN_AGENT });
  orphanChild = await sys.submit({ type: 'compute', payload: { value: 2 }, dependsOn: root, agent: ORPHAN_AGENT });
  await pollUntil(
    'the child bonds',
    () => getTaskState(sys.client, orphanChild),
    (s) => s.bond?.state === 'locked',
  );
  await sys.client.workflow.getHandle(taskWorkflowId(orphanChild)).terminate('test: terminated by an operator');
}, 180_000);

afterAll(async () => {
  gate.releaseAll();
  await sys?.close();
});

describe('without the token every write is refused and changes nothing', () => {
  test('config set, speculation pause/drain/force-rollback, rollout start, stake init/withdraw/release-bond', async () => {
    const before = await control();
    const forced = await controlSignals('forceRollbackAll');
    const defaultStake = await stake('default');
    const orphanStake = await stake(ORPHAN_AGENT);
    expect(orphanStake?.locked_in_bonds).toBeGreaterThan(0);
    const writes = [
      ['config', 'set', 'speculation.features.rollout_percentage=42'],
      ['speculation', 'pause'],
      ['speculation', 'drain'],
      ['speculation', 'force-rollback'],
      ['rollout', 'start', '--name', 'gated', '--plan', planFile],
      ['stake', 'init', '--amount', '1000', '--agent', 'newcomer'],
      ['stake', 'withdraw', '--amount', '1000'],
      ['stake', 'release-bond', '--task', orphanChild, '--reason', 'test'],
    ];
    const runs: Run[] = [];
    for (let i = 0; i < writes.length; i += 3)
      runs.push(...(await Promise.all(writes.slice(i, i + 3).map((args) => agenc(args)))));
    runs.forEach((r, i) => {
      expect(writes[i]).toBeDefined();
      expectRefused(r);
    });

    const after = await control();
    expect(after).toMatchObject({
      config_version: before.config_version,
      rollout_percentage: before.rollout_percentage,
      paused: false,
      draining: false,
    });
    expect(await controlSignals('forceRollbackAll')).toBe(forced);
    expect(await rolloutExists()).toBe(false);
    await expect(stake('newcomer')).rejects.toThrow(/unknown agent "newcomer"/);
    expect(await stake('default')).toEqual(defaultStake);
    expect(await stake(ORPHAN_AGENT)).toEqual(orphanStake);
  });

  test('a wrong token is refused naming where it came from; --output json gives {"error"}; an unreachable API is exit 3', async () => {
    const before = await control();
    const [wrong, wrongJson, unreachable] = await Promise.all([
      agenc(['speculation', 'pause'], { ADMIN_TOKEN: 'not-the-token' }),
      agenc(['config', 'set', 'speculation.enabled=false', '--output', 'json']),
      agenc(['speculation', 'pause'], { ...withToken, AGENC_ADMIN_URL: 'http://127.0.0.1:1' }),
    ]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/refused the admin token from ADMIN_TOKEN \(401\): set ADMIN_TOKEN/);
    expect(wrongJson.code).toBe(2);
    expect(json(wrongJson).error).toMatch(/needs the admin token \(401\)/);
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toMatch(/cannot reach the admin API at http:\/\/127\.0\.0\.1:1 .*AGENC_ADMIN_URL/);
    expect(await control()).toMatchObject({ config_version: before.config_version, paused: false, enabled: true });
  });
});

describe('with the token each write works', () => {
  test('config set (ADMIN_TOKEN): the JSON answer as before, the live configuration changed', async () => {
    const before = await control();
    const r = await agenc(
      ['config', 'set', 'speculation.features.rollout_percentage=42', '--output', 'json'],
      withToken,
    );
    expectOk(r);
    expect(json(r)).toEqual({
      changed: { 'speculation.features.rollout_percentage': 42 },
      enabled: true,
      rollout_percentage: 42,
      config_version: before.config_version + 1,
    });
    expect(await control()).toMatchObject({ rollout_percentage: 42, config_version: before.config_version + 1 });
    // A value the control workflow refuses: exit 2 with its message, nothing changed.
    const bad = await agenc(['config', 'set', 'speculation.max_depth=99'], withToken);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/speculation\.max_depth/);
    expect((await control()).config_version).toBe(before.config_version + 1);
  });

  test('speculation pause (--token-file), resume refused then done (the token file npm start writes), drain, force-rollback', async () => {
    const tokenFile = path.join(dir, 'token');
    writeFileSync(tokenFile, `${TEST_ADMIN_TOKEN}\n`, { mode: 0o600 });
    const pause = await agenc(['--token-file', tokenFile, 'speculation', 'pause', '--output', 'json']);
    expectOk(pause);
    expect(json(pause)).toMatchObject({ signal: 'pause', speculation: { paused: true } });
    expect(Object.keys(json(pause))).toEqual(['signal', 'speculation']);
    expect((await control()).paused).toBe(true);

    expectRefused(await agenc(['speculation', 'resume']));
    expect((await control()).paused).toBe(true);
    const npmStartData = mkdtempSync(path.join(dir, 'npm-start-data-'));
    writeFileSync(path.join(npmStartData, 'admin-token'), TEST_ADMIN_TOKEN, { mode: 0o600 });
    const resume = await agenc(['speculation', 'resume'], { AGENC_DATA_DIR: npmStartData });
    expectOk(resume);
    expect(resume.stdout).toMatch(/^resume sent; active speculative tasks: \d+, paused: false, draining: false\n$/);
    expect((await control()).paused).toBe(false);

    const drain = await agenc(['speculation', 'drain', '--output', 'json'], withToken);
    expectOk(drain);
    expect(json(drain)).toMatchObject({ signal: 'drain', speculation: { draining: true } });
    expect((await control()).draining).toBe(true);
    expectOk(await agenc(['speculation', 'resume'], withToken));
    expect((await control()).draining).toBe(false);

    const forced = await controlSignals('forceRollbackAll');
    const force = await agenc(['speculation', 'force-rollback', '--output', 'json'], withToken);
    expectOk(force);
    expect(json(force)).toMatchObject({ signal: 'force-rollback', speculation: { active_tasks: 0 } });
    expect(await controlSignals('forceRollbackAll')).toBe(forced + 1);
  });

  test('speculation restore-control: refused, the closed control workflow stays closed; with the token, restored from its last state', async () => {
    const before = await control();
    await controlHandle(sys.client).terminate('test: an operator terminates speculation-control');
    expectRefused(await agenc(['speculation', 'restore-control']));
    expect((await controlHandle(sys.client).describe()).status.name).toBe('TERMINATED');

    const r = await agenc(['speculation', 'restore-control', '--output', 'json'], withToken);
    expectOk(r);
    expect(json(r)).toMatchObject({ outcome: 'restored', speculation: { rollout_percentage: 42 } });
    expect(await control()).toMatchObject({
      rollout_percentage: 42,
      config_version: before.config_version,
    });
  });

  test('rollout start, pause, resume, approve, abort: each refused first (state unchanged), then done', async () => {
    const start = await agenc(
      ['rollout', 'start', '--name', 'gated', '--plan', planFile, '--output', 'json'],
      withToken,
    );
    expectOk(start);
    expect(json(start)).toMatchObject({
      started: true,
      name: 'gated',
      workflow_id: 'rollout-gated',
      plan_source: planFile,
    });
    expect(Object.keys(json(start))).toEqual(['started', 'name', 'workflow_id', 'run_id', 'plan_source', 'plan']);
    const status = () => rolloutStatus(sys.client, 'gated');
    await pollUntil(
      'phase 1 sets 1%',
      () => control(),
      (s) => s.rollout_percentage === 1,
    );

    expectRefused(await agenc(['rollout', 'pause', 'gated']));
    expect((await status()).state).not.toBe('paused');
    const pause = await agenc(['rollout', 'pause', 'gated', '--output', 'json'], withToken);
    expectOk(pause);
    expect(json(pause)).toMatchObject({ signal: 'pause', name: 'gated', status: { name: 'gated' } });
    await pollUntil('the rollout pauses', status, (s) => s.state === 'paused');

    expectRefused(await agenc(['rollout', 'resume', 'gated']));
    expect((await status()).state).toBe('paused');
    expectOk(await agenc(['rollout', 'resume', 'gated'], withToken));
    await pollUntil('the rollout resumes', status, (s) => s.state !== 'paused');

    expectRefused(await agenc(['rollout', 'approve', 'gated']));
    expect((await status()).current_phase).toBe(1);
    expectOk(await agenc(['rollout', 'approve', 'gated'], withToken));
    await pollUntil('phase 2 starts', status, (s) => s.current_phase === 2);

    expectRefused(await agenc(['rollout', 'abort', 'gated', '--reason', 'test']));
    expect((await status()).state).not.toBe('aborted');
    expectOk(await agenc(['rollout', 'abort', 'gated', '--reason', 'test over'], withToken));
    await pollUntil('the rollout aborts', status, (s) => s.state === 'aborted');
    expect((await status()).abort_reason).toContain('test over');
    await pollUntil(
      'the abort sets 0%',
      () => control(),
      (s) => s.rollout_percentage === 0,
    );
    // Ended: the admin API's 409 is the CLI's "no" (exit 1), with the state in the JSON.
    const again = await agenc(['rollout', 'pause', 'gated', '--output', 'json'], withToken);
    expect(again.code).toBe(1);
    expect(json(again)).toEqual({ error: 'rollout "gated" has already ended (aborted)', state: 'aborted' });
  });

  test('stake init, withdraw and release-bond', async () => {
    const init = await agenc(
      ['stake', 'init', '--amount', '5000000', '--agent', 'newcomer', '--output', 'json'],
      withToken,
    );
    expectOk(init);
    expect(json(init)).toMatchObject({ agent: 'newcomer', deposited: 5000000 });
    expect(await stake('newcomer')).toMatchObject({ deposited: 5000000, available: 5000000 });

    const withdraw = await agenc(
      ['stake', 'withdraw', '--amount', '1000000', '--agent', 'newcomer', '--output', 'json'],
      withToken,
    );
    expectOk(withdraw);
    expect(json(withdraw)).toMatchObject({ agent: 'newcomer', withdrawn: 1000000, available_after: 4000000 });
    expect(await stake('newcomer')).toMatchObject({ available: 4000000 });

    const locked = (await stake(ORPHAN_AGENT))!.locked_in_bonds;
    const release = await agenc(
      ['stake', 'release-bond', '--task', orphanChild, '--reason', 'terminated by a test', '--output', 'json'],
      withToken,
    );
    expectOk(release);
    expect(json(release)).toMatchObject({ taskId: orphanChild, outcome: 'released', alreadySettled: false });
    expect((await stake(ORPHAN_AGENT))!.locked_in_bonds).toBe(locked - json(release).returned);
  });

  test('task rollback: refused without the token (the task runs on), then the task and its subtree roll back', async () => {
    const root = `aw-rb-${Date.now()}`;
    const release = gate.hold('generateProof', root);
    await sys.submit({ taskId: root, type: 'compute', payload: { value: 5 } });
    await pollUntil(
      'the root to prove',
      () => getTaskState(sys.client, root),
      (s) => s.status === 'proving',
      30_000,
      200,
    );
    expectRefused(await agenc(['task', 'rollback', root]));
    const history = await sys.client.workflow.getHandle(taskWorkflowId(root)).fetchHistory();
    expect(
      (history.events ?? []).some(
        (e) =>
          e.workflowExecutionSignaledEventAttributes?.signalName === 'forceRollback' ||
          e.workflowExecutionUpdateAcceptedEventAttributes,
      ),
    ).toBe(false);

    const missing = await agenc(['task', 'rollback', 'no-such-task'], withToken);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('task "no-such-task" does not exist');

    const done = await agenc(['task', 'rollback', root, '--reason', 'by a test', '--output', 'json'], withToken);
    expectOk(done);
    expect(json(done)).toEqual({ task_id: root, rollback_requested: true, reason: 'by a test', status: 'proving' });
    release();
    const rolledBack = await pollUntil(
      'the root to roll back',
      () => getTaskState(sys.client, root),
      (s) => s.status === 'rolled_back',
      60_000,
      250,
    );
    // The reason is kept in the task's state, and shown.
    expect(rolledBack).toMatchObject({ rollback_reason: 'forced', forced_rollback: { reason: 'by a test' } });
    const shown = await agenc(['task', 'status', root], withToken);
    expect(shown.stdout).toMatch(/rolled back by: +an operator at .*: by a test/);

    // A finished task: the answer is no (exit 1), saying why; not "system unreachable".
    const again = await agenc(['task', 'rollback', root], withToken);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`task ${root} is not rolled back: already rolled_back: nothing to roll back`);
  });

  test('task rollback: too late once the task is committing (exit 1, saying so); it confirms', async () => {
    const task = `aw-late-${Date.now()}`;
    const release = gate.hold('sendCommitments', task);
    await sys.submit({ taskId: task, type: 'compute', payload: { value: 6 } });
    await pollUntil(
      'the task to commit',
      () => getTaskState(sys.client, task),
      (s) => s.status === 'committing',
      60_000,
      200,
    );
    const late = await agenc(['task', 'rollback', task, '--reason', 'too late?'], withToken);
    expect(late.code).toBe(1);
    expect(late.stderr).toContain(
      `task ${task} is not rolled back: too late: committing (past its point of no return, its commitment is going on-chain); it will confirm`,
    );
    release();
    const confirmed = await sys.wait(task);
    expect(confirmed.status).toBe('confirmed');
    expect(confirmed.forced_rollback).toBeUndefined();
  });

  test('admin close-records: refused without the token; with it, finished tasks are looked at and records within retention kept', async () => {
    expectRefused(await agenc(['admin', 'close-records']));
    const r = await agenc(['admin', 'close-records', '--limit', '50', '--output', 'json'], withToken);
    expectOk(r);
    // Every record here is younger than the retention (a day): none is closed.
    expect(json(r)).toMatchObject({ closed: [], lamports_returned: 0 });
    expect((await agenc(['admin', 'close-records', '--limit', '0'], withToken)).code).toBe(2);
  });
});
