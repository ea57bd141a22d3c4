/**
 * The on-call triage commands as a user runs them (bin/agenc.js in a child process) against the real dev
 * server, real proofs and the real SVM: `agenc speculation stuck`, `agenc speculation rollbacks`,
 * `agenc proof-worker status`, each in text and JSON, and their refusals of a bad argument (exit 2).
 */
import { getTaskState } from '../../client/tasks';
import type { SlashingHistory } from '../../shared/stake-records';
import { ActivityGate } from '../helpers/activity-gate';
import { runAgenc } from '../helpers/agenc-cli';
import { failingRootWithTree } from '../helpers/failing-root';
import { pollUntil } from '../helpers/poll';
import { speculativeConfig, startTestSystem, type TestSystem } from '../helpers/system';

const gate = new ActivityGate();
let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({
    name: 'triage',
    config: speculativeConfig({ speculation: { features: { enable_optimistic_proofs: false } } }),
    worker: { activityInterceptors: [gate.interceptor], embeddedFinalityMs: 2000 },
  });
  await sys.fundAgent('triage');
});
afterAll(async () => {
  gate.releaseAll();
  await sys?.close();
});

const agenc = (...args: string[]) => runAgenc(['--namespace', sys.namespace, ...args]);
const json = (r: { stdout: string }) => JSON.parse(r.stdout) as unknown;
/** The task whose bond the rollbacks test sees slashed, for the slashing history. */
let slashedTask: string | undefined;

test('speculation stuck: a task held in proving longer than --older-than is listed with what it waits for', async () => {
  const held = `tri-held-${Date.now()}`;
  const release = gate.hold('generateProof', held);
  await sys.submit({ taskId: held, type: 'compute', payload: { value: 3 }, agent: 'triage' });
  await pollUntil(
    'the task to prove',
    () => getTaskState(sys.client, held),
    (s) => s.status === 'proving',
    30_000,
    200,
  );
  await new Promise((r) => setTimeout(r, 2500));

  const listed = await agenc('speculation', 'stuck', '--older-than', '2s', '--output', 'json');
  expect(listed.code).toBe(0);
  const rows = json(listed) as Array<{ task_id: string; status: string; for_ms: number; waiting_for: string }>;
  const row = rows.find((r) => r.task_id === held);
  expect(row).toMatchObject({ status: 'proving' });
  expect(row!.for_ms).toBeGreaterThanOrEqual(2000);
  expect(row!.waiting_for).toMatch(/proof/);
  const text = await agenc('speculation', 'stuck', '--older-than', '2s');
  expect(text.stdout).toMatch(new RegExp(`${held} +proving`));
  // Not for long enough: not listed.
  expect(
    (json(await agenc('speculation', 'stuck', '--older-than', '1h', '--output', 'json')) as unknown[]).length,
  ).toBe(0);

  const bad = await agenc('speculation', 'stuck', '--older-than', 'soon');
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('--older-than "soon" is not a duration');
  release();
  expect((await sys.wait(held)).status).toBe('confirmed');
}, 120_000);

test('speculation rollbacks: each with its reason, depth, bond outcome and cause; --reason filters; a bad reason is refused', async () => {
  const { above, root, below } = await failingRootWithTree(sys, { agent: 'triage', below: 1 });
  const [rootState, childState] = await Promise.all([sys.wait(root), sys.wait(below[0]!)]);
  expect(rootState.status).toBe('failed');
  expect(childState.status).toBe('rolled_back');
  await sys.wait(above!);

  const all = await pollUntil(
    'both in the rollbacks list (visibility)',
    async () =>
      json(await agenc('speculation', 'rollbacks', '--since', '10m', '--output', 'json')) as Array<
        Record<string, unknown>
      >,
    (rows) => [root, below[0]].every((id) => rows.some((r) => r.task_id === id)),
    30_000,
    1000,
  );
  expect(all.find((r) => r.task_id === root)).toMatchObject({
    status: 'failed',
    reason: 'proof_failed',
    depth: 1,
    bond: 'slashed',
    caused_by: 'itself (its agent)',
  });
  expect(all.find((r) => r.task_id === below[0])).toMatchObject({
    status: 'rolled_back',
    reason: 'parent_failed',
    depth: 2,
    bond: 'released',
    caused_by: `task ${root}`,
  });
  const failedOnly = json(
    await agenc('speculation', 'rollbacks', '--since', '10m', '--reason', 'proof_failed', '--output', 'json'),
  ) as Array<{ task_id: string }>;
  expect(failedOnly.map((r) => r.task_id)).toEqual([root]);

  const bad = await agenc('speculation', 'rollbacks', '--reason', 'bad_luck');
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('--reason "bad_luck" is not a rollback reason');
  slashedTask = root;
}, 120_000);

test('stake slashing-history: the slash above, from the chain, with its time and amounts; --agent and --since filter', async () => {
  expect(slashedTask).toBeDefined();
  const r = await agenc('stake', 'slashing-history', '--since', '10m', '--agent', 'triage', '--output', 'json');
  expect(r.code).toBe(0);
  const h = json(r) as SlashingHistory;
  expect(h.agent).toBe('triage');
  expect(h.undated).toBe(0);
  expect(h.slashes.map((s) => s.task_id)).toEqual([slashedTask]);
  const s = h.slashes[0]!;
  expect(s.agent).toBe('triage');
  expect(s.reason).toMatch(/proof/);
  expect(s.slashed).toBeGreaterThan(0);
  expect(s.slashed + s.returned).toBe(s.bond);
  expect(h.total_slashed).toBe(s.slashed);
  // Recorded by the chain when the slash executed: within the last ten minutes.
  const age = Date.now() - Date.parse(s.time!);
  expect(age).toBeGreaterThanOrEqual(0);
  expect(age).toBeLessThan(10 * 60_000);

  const text = await agenc('stake', 'slashing-history', '--since', '10m');
  expect(text.stdout).toMatch(new RegExp(`${slashedTask} +triage +${s.bond} +${s.slashed}`));
  expect(text.stdout).toContain(`1 slash(es), ${s.slashed} lamports to the treasury`);
  const other = await agenc('stake', 'slashing-history', '--agent', 'default');
  expect(other.stdout).toContain('no bond slashed in the last 24h for agent default');
  const bad = await agenc('stake', 'slashing-history', '--since', 'yesterday');
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('--since "yesterday" is not a duration');
}, 60_000);

test('proof-worker status: the proof worker polling, the backlog, the recent proof times', async () => {
  const r = await agenc('proof-worker', 'status', '--output', 'json');
  expect(r.code).toBe(0);
  const s = json(r) as {
    workers: Array<{ identity: string }>;
    backlog: number;
    recent: Array<{ proof_ms: number }>;
    recent_p50_ms: number | null;
  };
  expect(s.workers.length).toBeGreaterThanOrEqual(1);
  expect(s.workers[0]!.identity).toMatch(/@/);
  expect(s.backlog).toBe(0);
  // The confirmed tasks of the tests above (this file's namespace) proved in real time.
  expect(s.recent.length).toBeGreaterThanOrEqual(2);
  expect(s.recent.every((p) => p.proof_ms > 0)).toBe(true);
  expect(s.recent_p50_ms).toBeGreaterThan(0);
  const text = await agenc('proof-worker', 'status');
  expect(text.stdout).toMatch(/proof workers polling agenc-proofs: \d+/);
  expect(text.stdout).toContain('backlog: 0 proof(s) waiting');
}, 60_000);
