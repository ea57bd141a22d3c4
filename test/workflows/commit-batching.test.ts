/**
 * `[speculation.proof] batch_size`: when a task commits, the proven descendants that wait only for it go
 * on-chain in the same batch, ancestors first, paying one finality wait instead of one per level.
 * Against the real dev server, proofs and SVM. The root's proof is held back (at the activity boundary)
 * until the chain below it is proven, so what is ready when the root commits is known.
 *
 * A task sends its commitment once its parent's has landed (not once it is final), so the finality
 * waits of a chain overlap while ancestors still land first.
 */
import { createStakeOperator } from '../../activities/chain';
import { commitAddress } from '../../activities/chain';
import { parseMemos } from '../../activities/chain/ledger';
import { controlHandle } from '../../temporal/control';
import { getTaskState } from '../../client/tasks';
import type { TaskState } from '../../shared/task-model';
import { setConfigUpdate } from '../../shared/messages';
import { scheduledActivities } from '../helpers/history';
import { ActivityGate } from '../helpers/activity-gate';
import { pollUntil } from '../helpers/poll';
import { SPECULATIVE_CONFIG, startTestSystem, type TestSystem } from '../helpers/system';

let sys: TestSystem;
const gate = new ActivityGate();
/** Every task this file ran to the end, with its final state: the last test finds each one's commitment on-chain. */
const finished = new Map<string, TaskState>();

beforeAll(async () => {
  sys = await startTestSystem({
    name: 'batching',
    config: SPECULATIVE_CONFIG,
    worker: {
      embeddedFinalityMs: 2000,
      activityInterceptors: [gate.interceptor],
    },
  });
  await sys.fundAgent('default');
});
afterAll(async () => {
  gate.releaseAll();
  await sys?.close();
});

const chainLength = 4;

/** A chain of four whose root proves only once the three below it are proven and waiting for it. */
async function provenChain(batchSize: number): Promise<string[]> {
  await controlHandle(sys.client).executeUpdate(setConfigUpdate, {
    args: [{ 'speculation.proof.batch_size': batchSize }],
  });
  const root = `batch${batchSize}-root`;
  const releaseRoot = gate.hold('generateProof', root);
  const chain = [await sys.submit({ type: 'compute', payload: { value: 1 }, taskId: root })];
  for (let i = 1; i < chainLength; i++)
    chain.push(await sys.submit({ type: 'compute', payload: { value: i + 1 }, dependsOn: chain[i - 1] }));
  await pollUntil(
    'the three below the root to be proven and waiting for it',
    () => Promise.all(chain.slice(1).map((id) => getTaskState(sys.client, id))),
    (states) => states.every((s) => s.status === 'awaiting_ancestors' && s.proof.state === 'verified'),
    60_000,
    200,
  );
  releaseRoot();
  return chain;
}

/** Waits for every task of the chain to end, and remembers each for the on-chain check at the end. */
async function finalsOf(chain: string[]): Promise<TaskState[]> {
  const finals = await Promise.all(chain.map((id) => sys.wait(id)));
  chain.forEach((id, i) => finished.set(id, finals[i]!));
  return finals;
}

async function commitsOf(chain: string[]): Promise<number[]> {
  return Promise.all(
    chain.map(async (id) => (await scheduledActivities(sys.client, id)).filter((a) => a === 'sendCommitments').length),
  );
}

test("batch_size 20: the whole proven chain goes on-chain in the root's batch, one commit activity, ancestors first", async () => {
  const chain = await provenChain(20);
  const finals = await finalsOf(chain);
  expect(finals.map((s) => [s.status, s.committed_by])).toEqual(chain.map(() => ['confirmed', chain[0]]));
  expect(finals.slice(1).map((s) => s.speculation_status)).toEqual(['speculative', 'speculative', 'speculative']);
  expect(await commitsOf(chain)).toEqual([1, 0, 0, 0]);
  expect(new Set(finals.map((s) => s.commit_signature)).size).toBe(chainLength);
  expect(finals.every((s) => s.bond === null || s.bond.state === 'released')).toBe(true);
});

test('batch_size 2: the root carries its dependent; the next one carries the rest of the chain', async () => {
  const chain = await provenChain(2);
  const finals = await finalsOf(chain);
  expect(finals.map((s) => [s.status, s.committed_by])).toEqual([
    ['confirmed', chain[0]],
    ['confirmed', chain[0]],
    ['confirmed', chain[2]],
    ['confirmed', chain[2]],
  ]);
  expect(await commitsOf(chain)).toEqual([1, 0, 1, 0]);
});

/** The slot each task's commitment landed in, from the chain's own ledger. */
async function commitSlots(chain: string[]): Promise<number[]> {
  const deps = sys.worker.stakeDeps!;
  return Promise.all(
    chain.map(async (id) => {
      // Its own commit: the record's history also holds its confirmation (no memo) and its children's
      // commits (which name it as their parent's record).
      const history = (await deps.chain.getMemoHistory(await commitAddress(deps, id))).filter((h) =>
        h.memo?.includes(`"action":"commit","task":"${id}"`),
      );
      expect(history).toHaveLength(1);
      return history[0]!.slot;
    }),
  );
}

test("batch_size 1: every task commits on its own as soon as its parent's commitment has landed; the finality waits overlap, ancestors land first", async () => {
  const chain = await provenChain(1);
  const finals = await finalsOf(chain);
  expect(finals.map((s) => [s.status, s.committed_by])).toEqual(chain.map((id) => ['confirmed', id]));
  expect(await commitsOf(chain)).toEqual([1, 1, 1, 1]);
  const at = (iso: string | undefined) => Date.parse(iso!);
  for (let k = 1; k < chainLength; k++) {
    const [parent, child] = [finals[k - 1]!, finals[k]!];
    // Sent while the parent's commitment was still becoming final (2 s here), not after…
    expect(at(child.timestamps.committing)).toBeLessThan(at(parent.timestamps.confirmed));
    // …and confirmed only after the parent.
    expect(at(child.timestamps.confirmed)).toBeGreaterThanOrEqual(at(parent.timestamps.confirmed));
  }
  const slots = await commitSlots(chain);
  expect(slots).toEqual([...slots].sort((a, b) => a - b));
  expect(new Set(slots).size).toBe(chainLength);
});

test('every commitment is on-chain exactly once and the stake ledger is whole', async () => {
  expect(finished.size).toBe(3 * chainLength);
  const deps = sys.worker.stakeDeps!;
  const authority = deps.keys.authority().publicKey;
  // The authority pays for and signs every commitment transaction, so its history on the chain holds
  // each one that landed, whatever account it created or did not: count them per task.
  const onChain = new Map<string, string[]>();
  for (const { signature, memo } of parseMemos(await deps.chain.getMemoHistory(authority), authority.toBase58())) {
    const m = memo as { action: string; task?: string };
    if (m.action === 'commit' && m.task) onChain.set(m.task, [...(onChain.get(m.task) ?? []), signature]);
  }
  // Each task's commitment once, and it is the transaction the task reports as its commit.
  const expected = [...finished].map(([id, state]) => [id, [state.commit_signature]]);
  expect(Object.fromEntries(onChain)).toEqual(Object.fromEntries(expected));

  const integrity = await createStakeOperator(deps).checkIntegrity({ liveBonds: [] });
  expect(integrity.problems).toEqual([]);
});
