/**
 * `[speculation.proof] batch_size`: when a task commits, the proven descendants that wait only for it
 * join its batch (ancestors first, at most batch_size), one commit activity for all; with batch_size 1
 * each commits on its own once its parent's commitment has landed. The real task and control workflows
 * on the time-skipping server, stub activities; the root's proof is held until the chain below it is
 * proven and waiting for it.
 */
import { taskWorkflowId } from '../../shared/task-model';
import { startFastRig, type FastRig } from './rig';

let rig: FastRig;
beforeAll(async () => {
  rig = await startFastRig();
});
afterAll(() => rig?.close());

/** A chain of four whose root proves only once the three below it are proven and waiting for it. */
async function provenChain(prefix: string, batchSize: number): Promise<string[]> {
  await rig.setConfig({ 'speculation.proof.batch_size': batchSize });
  const chain = [0, 1, 2, 3].map((i) => `${prefix}-${i}`);
  const rootProof = rig.stubs.hold('generateProof', chain[0]!);
  for (const [i, id] of chain.entries()) await rig.submit(id, { value: i + 1, dependsOn: chain[i - 1] });
  await rig.until('the three below the root proven and waiting for it', chain.slice(1), (states) =>
    states.every((s) => s.status === 'awaiting_ancestors' && s.proof.state === 'verified'),
  );
  rootProof.release();
  return chain;
}

/** Each commit activity: which workflow sent it, and the tasks it carried in order. */
const commits = (chain: string[]) =>
  rig.stubs
    .called('sendCommitments')
    .filter((c) => chain.includes(c.taskId!))
    .map((c) => [c.workflowId, (c.input as { entries: Array<{ taskId: string }> }).entries.map((e) => e.taskId)]);

test("batch_size 20: the whole proven chain goes on-chain in the root's batch, one commit activity, ancestors first", async () => {
  const chain = await provenChain('b20', 20);
  const finals = await rig.final(chain);
  expect(finals.map((s) => [s.status, s.committed_by, s.commit_signature])).toEqual(
    chain.map((id) => ['confirmed', chain[0], `commit-${id}`]),
  );
  expect(finals.slice(1).map((s) => [s.speculation_status, s.depth, s.bond?.state])).toEqual([
    ['speculative', 1, 'released'],
    ['speculative', 2, 'released'],
    ['speculative', 3, 'released'],
  ]);
  expect(commits(chain)).toEqual([[taskWorkflowId(chain[0]!), chain]]);
  expect(rig.stubs.called('awaitFinality').filter((c) => chain.includes(c.taskId!))).toHaveLength(1);
  expect(rig.stubs.landed.filter((id) => chain.includes(id))).toEqual(chain);
  await rig.controlUntil('every slot given back', (s) => s.open_tasks === 0 && s.active_tasks === 0);
});

test('batch_size 2: the root carries its dependent; the next one carries the rest of the chain', async () => {
  const chain = await provenChain('b2', 2);
  const finals = await rig.final(chain);
  expect(finals.map((s) => [s.status, s.committed_by])).toEqual([
    ['confirmed', chain[0]],
    ['confirmed', chain[0]],
    ['confirmed', chain[2]],
    ['confirmed', chain[2]],
  ]);
  expect(commits(chain)).toEqual([
    [taskWorkflowId(chain[0]!), chain.slice(0, 2)],
    [taskWorkflowId(chain[2]!), chain.slice(2)],
  ]);
});

test("batch_size 1: every task commits on its own, each once its parent's commitment has landed, ancestors first", async () => {
  const chain = await provenChain('b1', 1);
  const finals = await rig.final(chain);
  expect(finals.map((s) => [s.status, s.committed_by])).toEqual(chain.map((id) => ['confirmed', id]));
  expect(commits(chain)).toEqual(chain.map((id) => [taskWorkflowId(id), [id]]));
  expect(rig.stubs.called('awaitFinality').filter((c) => chain.includes(c.taskId!))).toHaveLength(4);
  // Each task confirmed only after its parent did.
  for (let k = 1; k < chain.length; k++) {
    expect(Date.parse(finals[k]!.timestamps.confirmed!)).toBeGreaterThanOrEqual(
      Date.parse(finals[k - 1]!.timestamps.confirmed!),
    );
  }
});
