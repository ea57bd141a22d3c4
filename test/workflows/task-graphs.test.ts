/**
 * Task graphs against the real dev server, real Groth16 proofs and the real SVM: a diamond (A → B,
 * A → C, B + C → D), a `confirmed`-kind edge that never speculates, a task reached by two failing
 * parents, a join under the `selective` policy, and the submissions a graph refuses. A parent's proof is
 * held back (ActivityGate) so its dependents are speculating when the test lets it go.
 */
import * as path from 'node:path';
import { commitAddress } from '../../activities/chain/addresses';
import { readRecord } from '../../activities/chain/custody/accounts';
import { custodyOf } from '../../activities/chain/custody/deployment';
import { AdmissionError, getTaskState } from '../../client/tasks';
import { proofRecordQuery, setConfigUpdate } from '../../shared/messages';
import { type TaskState, taskWorkflowId } from '../../shared/task-model';
import { controlHandle } from '../../temporal/control';
import { ActivityGate } from '../helpers/activity-gate';
import { untilSpeculating } from '../helpers/failing-root';
import { scheduledActivities } from '../helpers/history';
import { settlementsOf } from '../../activities/chain/settlements';
import { runAgenc } from '../helpers/agenc-cli';
import { pollUntil } from '../helpers/poll';
import { speculativeConfig, startTestSystem, type TestSystem } from '../helpers/system';

let sys: TestSystem;
const gate = new ActivityGate();
/** A compute task's claimed output that is not value² + its parents' outputs: it executes, then its proof fails. */
const WRONG_OUTPUT = '12345';

beforeAll(async () => {
  sys = await startTestSystem({
    name: 'graphs',
    config: speculativeConfig({ speculation: { proof: { batch_size: 1 } } }),
    worker: { embeddedFinalityMs: 1000, activityInterceptors: [gate.interceptor] },
  });
  await sys.fundAgent('default');
  process.env.AGENC_RECORDS_DB = path.join(sys.dir, 'records.sqlite');
});
afterAll(async () => {
  gate.releaseAll();
  await sys?.close();
});

const setLive = (changes: Record<string, unknown>) =>
  controlHandle(sys.client).executeUpdate(setConfigUpdate, { args: [changes] });

const compute = (taskId: string, value: number, dependsOn?: string | string[], claimed?: string) =>
  sys.submit({
    type: 'compute',
    payload: claimed === undefined ? { value } : { value, claimed_output: claimed },
    dependsOn,
    taskId,
  });

const at = (s: TaskState, status: keyof TaskState['timestamps']) => Date.parse(s.timestamps[status]!);

test('a diamond: D waits for both B and C, speculates at depth 2, and its proof and its record name both', async () => {
  const releaseA = gate.hold('generateProof', 'dia-a');
  await compute('dia-a', 1);
  await compute('dia-b', 2, 'dia-a');
  await compute('dia-c', 3, 'dia-a');
  await compute('dia-d', 4, ['dia-b', 'dia-c']);
  const [b, c, d] = await untilSpeculating(sys.client, ['dia-b', 'dia-c', 'dia-d'], { timeoutMs: 60_000 });
  // One execution of A unlocked both B and C; D's depth is the longest unconfirmed path to the root.
  expect([b!.depth, c!.depth, d!.depth]).toEqual([1, 1, 2]);
  releaseA();

  const finals = await Promise.all(['dia-a', 'dia-b', 'dia-c', 'dia-d'].map((id) => sys.wait(id)));
  expect(finals.map((s) => s.status)).toEqual(['confirmed', 'confirmed', 'confirmed', 'confirmed']);
  const [fa, fb, fc, fd] = finals as [TaskState, TaskState, TaskState, TaskState];
  // A = 1² = 1; B = 2² + 1 = 5; C = 3² + 1 = 10; D = 4² + 5 + 10 = 31: D consumed both results.
  expect([fa.result!.output, fb.result!.output, fc.result!.output, fd.result!.output]).toEqual(['1', '5', '10', '31']);
  expect(fd.parents).toEqual([
    { task_id: 'dia-b', kind: 'data' },
    { task_id: 'dia-c', kind: 'data' },
  ]);
  // D started only once both had executed.
  expect(at(fd, 'executing')).toBeGreaterThanOrEqual(Math.max(at(fb, 'executed'), at(fc, 'executed')));
  expect(fd.parent_commitments).toEqual([fb.result!.commitment, fc.result!.commitment]);

  // Its proof binds both parents' commitments (and nothing in the other slots).
  const record = await sys.client.workflow.getHandle(taskWorkflowId('dia-d')).query(proofRecordQuery);
  expect(record!.commitments.parents).toEqual([fb.result!.commitment, fc.result!.commitment]);
  expect(record!.public_signals).toEqual(expect.arrayContaining([fb.result!.commitment, fc.result!.commitment]));
  // On-chain, D's commitment record names both parents' records.
  const deps = sys.worker.stakeDeps!;
  const onChain = await readRecord(deps.chain, await custodyOf(deps), await commitAddress(deps, 'dia-d'));
  const parentRecords = await Promise.all(['dia-b', 'dia-c'].map((id) => commitAddress(deps, id)));
  expect(onChain?.state?.parents.map((p) => p.toBase58()).sort()).toEqual(
    parentRecords.map((p) => p.toBase58()).sort(),
  );
});

/** The CLI on this system's namespace. */
const agenc = (...args: string[]) => runAgenc(['--namespace', sys.namespace, ...args]);

test('agenc task graph shows the diamond around B as text, JSON (nodes and edges) and Graphviz DOT', async () => {
  const json = await agenc('task', 'graph', 'dia-b', '--output', 'json');
  expect(json.code).toBe(0);
  const graph = JSON.parse(json.stdout) as { nodes: Array<Record<string, unknown>>; edges: unknown[] };
  const byId = Object.fromEntries(graph.nodes.map((n) => [n.task_id, n]));
  expect(byId['dia-b']).toMatchObject({ relation: 'self', status: 'confirmed', depth: 1 });
  expect(byId['dia-a']).toMatchObject({ relation: 'ancestor', status: 'confirmed' });
  expect(byId['dia-d']).toMatchObject({ relation: 'descendant', status: 'confirmed', depth: 2 });
  expect(graph.edges).toEqual(
    expect.arrayContaining([
      { from: 'dia-a', to: 'dia-b', kind: 'data' },
      { from: 'dia-b', to: 'dia-d', kind: 'data' },
    ]),
  );

  const text = await agenc('task', 'graph', 'dia-d');
  expect(text.code).toBe(0);
  for (const id of ['dia-a', 'dia-b', 'dia-c', 'dia-d']) expect(text.stdout).toContain(id);

  const dot = await agenc('task', 'graph', 'dia-d', '--output', 'dot');
  expect(dot.code).toBe(0);
  expect(dot.stdout).toMatch(/^digraph /);
  expect(dot.stdout).toMatch(/"dia-b" -> "dia-d"/);
  expect(dot.stdout).toMatch(/"dia-c" -> "dia-d"/);
  expect(dot.stdout.trim().endsWith('}')).toBe(true);
});

test("batching across a join: a join whose other parent has landed goes on-chain in its last parent's batch", async () => {
  await setLive({ 'speculation.proof.batch_size': 20 });
  try {
    const releaseLast = gate.hold('generateProof', 'bat-p2');
    await compute('bat-p1', 1);
    await compute('bat-p2', 2);
    await compute('bat-j', 3, ['bat-p1', 'bat-p2']);
    // P1 confirms on its own; J, speculating on P2, proves and waits for P2's commitment only.
    await pollUntil(
      'bat-p1 confirmed and bat-j proven',
      async () => [await getTaskState(sys.client, 'bat-p1'), await getTaskState(sys.client, 'bat-j')] as const,
      ([p1, j]) => p1.status === 'confirmed' && j.status === 'awaiting_ancestors' && j.proof.state === 'verified',
      { timeoutMs: 60_000 },
    );
    releaseLast();
    const [p2, j] = await Promise.all([sys.wait('bat-p2'), sys.wait('bat-j')]);
    expect([p2.status, j.status]).toEqual(['confirmed', 'confirmed']);
    expect(j).toMatchObject({ speculation_status: 'speculative', committed_by: 'bat-p2' });
    expect(await scheduledActivities(sys.client, 'bat-j')).not.toContain('sendCommitments');
  } finally {
    await setLive({ 'speculation.proof.batch_size': 1 });
  }
});

test('a confirmed-kind edge never speculates: the dependent starts only once its parent is confirmed', async () => {
  const releaseE = gate.hold('generateProof', 'conf-e');
  await compute('conf-e', 5);
  await compute('conf-f', 6, 'conf-e:confirmed');
  // E has executed; F still waits, saying for what.
  const waiting = await pollUntil(
    'conf-e executed',
    async () => [await getTaskState(sys.client, 'conf-e'), await getTaskState(sys.client, 'conf-f')] as const,
    ([e]) => Boolean(e.result),
    { timeoutMs: 30_000 },
  );
  await new Promise((r) => setTimeout(r, 1500));
  const f = await getTaskState(sys.client, 'conf-f');
  expect(waiting[0].status).not.toBe('confirmed');
  expect(f).toMatchObject({ status: 'waiting_parent', speculation_status: 'pending', bond: null });
  expect(f.waiting_for).toContain('parent task conf-e to be confirmed');
  releaseE();

  const [e, ff] = await Promise.all([sys.wait('conf-e'), sys.wait('conf-f')]);
  expect([e.status, ff.status]).toEqual(['confirmed', 'confirmed']);
  expect(ff).toMatchObject({ speculation_status: 'non_speculative', depth: 0, bond: null });
  expect(at(ff, 'executing')).toBeGreaterThanOrEqual(at(e, 'confirmed'));
  expect(await scheduledActivities(sys.client, 'conf-f')).not.toContain('admitSpeculation');
});

test('a task reached by two failing parents rolls back once, for the first reason, and says it heard both', async () => {
  const releaseP1 = gate.hold('generateProof', 'two-p1');
  const releaseP2 = gate.hold('generateProof', 'two-p2');
  await compute('two-p1', 1, undefined, WRONG_OUTPUT);
  await compute('two-p2', 2, undefined, WRONG_OUTPUT);
  // A join with a row to undo: its rollback lasts the undo's 5 s, so the second parent's failure reaches it
  // while it is open whatever the load (a compute join could close before the second proof is even checked).
  await sys.submit({
    type: 'record',
    payload: { value: 3, undo_ms: 5000 },
    dependsOn: ['two-p1', 'two-p2'],
    taskId: 'two-j',
  });
  await untilSpeculating(sys.client, ['two-j'], { timeoutMs: 60_000 });
  releaseP1();
  releaseP2();

  const [p1, p2, j] = await Promise.all(['two-p1', 'two-p2', 'two-j'].map((id) => sys.wait(id)));
  expect([p1!.status, p2!.status]).toEqual(['failed', 'failed']);
  expect(j).toMatchObject({
    status: 'rolled_back',
    rollback_reason: 'parent_failed',
    bond: { state: 'released' },
    undo: { state: 'undone' },
  });
  expect(j!.rollback_causes!.map((c) => c.task_id).sort()).toEqual(['two-p1', 'two-p2']);
  // Its bond settled once, released, by itself after its undo, in whichever cascade it joined (the other
  // found it rolling back).
  const settled = (await settlementsOf(sys.worker.stakeDeps!, j!.agent)).filter((x) => x.task === 'two-j');
  expect(settled.map((x) => x.action)).toEqual(['release']);
  expect(j!.bond!.settled_by).toBeUndefined();
  const activities = await scheduledActivities(sys.client, 'two-j');
  expect(activities).not.toContain('slashBond');
  expect(activities).not.toContain('sendCommitments');
});

test('selective: a join goes on past an order parent that failed; a data dependent of it rolls back', async () => {
  await setLive({ 'speculation.rollback_policy': 'selective' });
  try {
    const releaseQ2 = gate.hold('generateProof', 'sel-q2');
    await compute('sel-q1', 1);
    await compute('sel-q2', 2, undefined, WRONG_OUTPUT);
    await compute('sel-j', 3, ['sel-q1', 'sel-q2:order']);
    await compute('sel-k', 4, 'sel-q2');
    await untilSpeculating(sys.client, ['sel-k'], { timeoutMs: 60_000 });
    await pollUntil(
      'sel-j to execute',
      () => getTaskState(sys.client, 'sel-j'),
      (s) => Boolean(s.result),
      { timeoutMs: 60_000 },
    );
    releaseQ2();

    const [q1, q2, j, k] = await Promise.all(['sel-q1', 'sel-q2', 'sel-j', 'sel-k'].map((id) => sys.wait(id)));
    expect([q1!.status, q2!.status]).toEqual(['confirmed', 'failed']);
    expect(k).toMatchObject({ status: 'rolled_back', rollback_reason: 'parent_failed' });
    // J consumed only Q1's output (3² + 1 = 10); Q2's failure is heard but not followed.
    expect(j).toMatchObject({ status: 'confirmed', rollback_reason: null });
    expect(j!.result!.output).toBe('10');
    expect(j!.parent_commitments).toEqual([q1!.result!.commitment]);
    expect(j!.rollback_causes).toEqual([{ task_id: 'sel-q2', reason: 'parent_failed' }]);
  } finally {
    await setLive({ 'speculation.rollback_policy': 'cascade' });
  }
});

describe('submissions a graph refuses, with nothing started', () => {
  const refused = async (dependsOn: string | string[], taskId: string, code: string, says: string) => {
    const err = await compute(taskId, 1, dependsOn).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AdmissionError);
    expect(err).toMatchObject({ field: 'depends_on', code });
    expect((err as Error).message).toContain(says);
    await expect(getTaskState(sys.client, taskId)).rejects.toThrow(/does not exist/);
  };

  test('a duplicate parent, the task itself, an unknown task, a failed parent, a bad kind', async () => {
    await compute('ref-root', 1);
    await refused(['ref-root', 'ref-root:order'], 'ref-dup', 'duplicate_parent', '"ref-root" is named twice');
    // A cycle needs a task to name itself or a task that does not exist yet: both refused.
    await refused(['ref-root', 'ref-self'], 'ref-self', 'self_dependency', 'cannot depend on itself');
    await refused(['ref-root', 'ref-later'], 'ref-unknown', 'unknown_parent', '"ref-later": no such task');
    await refused(['ref-root', 'two-p1'], 'ref-failed', 'parent_final', '"two-p1": that task has failed');
    await refused('ref-root:maybe', 'ref-kind', 'invalid_dependency', ':order or :confirmed');
  });

  test('more parents than speculation.limits.max_parents', async () => {
    await setLive({ 'speculation.limits.max_parents': 2 });
    try {
      await refused(['dia-a', 'dia-b', 'dia-c'], 'ref-many', 'too_many_parents', 'max_parents = 2');
    } finally {
      await setLive({ 'speculation.limits.max_parents': 8 });
    }
  });
});
