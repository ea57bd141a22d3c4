/**
 * releaseBonds: a cascade's bonds released in the order given, packed into as few transactions as fit,
 * on the real embedded SVM and custody program; retried, it moves nothing twice.
 */
import { stakeAddress } from '../../activities/chain';
import { parseMemos } from '../../activities/chain/ledger';
import { STAKE, balances, embeddedEnv, type ChainEnv } from './helpers';

let env: ChainEnv;
beforeAll(async () => {
  env = await embeddedEnv();
  await env.operator.stakeInit({ agent: 'bob', amount: 200_000_000 });
  await env.operator.stakeInit({ agent: 'carol', amount: 200_000_000 });
});
afterAll(() => env.close());

/** The agent's settlements read from its stake account's history, in ledger order: [task, action, signature]. */
async function settlements(agent: string): Promise<Array<[string, string, string]>> {
  const authority = env.keys.authority().publicKey.toBase58();
  const entries = parseMemos(await env.chain.getMemoHistory(await stakeAddress(env.deps, agent)), authority);
  return entries.flatMap(({ signature, memo }) =>
    (memo.action === 'release' || memo.action === 'slash') && memo.agent === agent
      ? [[memo.task, memo.action, signature] as [string, string, string]]
      : [],
  );
}

test('releases 30 bonds of two agents in the given order, several per transaction, each once', async () => {
  const bonds = Array.from({ length: 30 }, (_, i) => ({ taskId: `rb-${i}`, agent: i % 3 ? 'bob' : 'carol' }));
  for (const b of bonds) await env.activities.lockBond({ ...b, depth: 1 + (b.taskId.length % 3), stake: STAKE });
  const before = await Promise.all(bonds.map((b) => balances(env, b.agent, b.taskId)));
  const order = [...bonds].reverse(); // deepest first, as a cascade gives them

  const results = await env.activities.releaseBonds({ bonds: order, reason: 'cascade from task rb-root' });

  expect(results.map((r) => [r.taskId, r.outcome, r.alreadySettled])).toEqual(
    order.map((b) => [b.taskId, 'released', false]),
  );
  const signatures = new Set(results.map((r) => r.signature));
  expect(signatures.size).toBeGreaterThan(1);
  expect(signatures.size).toBeLessThan(10); // at least 3 releases to a transaction
  // Every bond's lamports went back to its agent's stake, in full.
  for (const agent of ['bob', 'carol']) {
    const mine = bonds.flatMap((b, i) => (b.agent === agent ? [i] : []));
    const after = await Promise.all(mine.map((i) => balances(env, agent, bonds[i]!.taskId)));
    expect(after.map((a) => a.bond)).toEqual(mine.map(() => 0));
    const locked = mine.reduce((sum, i) => sum + before[i]!.bond, 0);
    expect(after[0]!.stake - before[mine[0]!]!.stake).toBe(locked);
  }
  // The ledger reads one release per bond, in the order given (transactions in order, and within one).
  const ledger = [...(await settlements('bob')), ...(await settlements('carol'))];
  expect(ledger.filter(([t]) => t.startsWith('rb-')).length).toBe(30);
  for (const agent of ['bob', 'carol']) {
    expect((await settlements(agent)).map(([t]) => t)).toEqual(
      order.filter((b) => b.agent === agent).map((b) => b.taskId),
    );
  }
  expect((await env.operator.checkIntegrity({ liveBonds: [] })).problems).toEqual([]);

  // A retry (after a crash past the sends) settles nothing again and reports the same transactions.
  const retried = await env.activities.releaseBonds({ bonds: order, reason: 'cascade from task rb-root' });
  expect(retried.map((r) => [r.taskId, r.outcome, r.signature, r.alreadySettled])).toEqual(
    results.map((r) => [r.taskId, 'released', r.signature, true]),
  );
  expect((await settlements('bob')).length + (await settlements('carol')).length).toBe(30);
  // releaseBond on one of them reads the batch's memo for that task alone.
  const single = await env.activities.releaseBond({ taskId: 'rb-7', agent: 'bob', reason: 'again' });
  expect(single).toMatchObject({ outcome: 'released', alreadySettled: true, signature: results[22]!.signature });
  expect(single.returned).toBe(before[7]!.bond);
});

test('a bond of another agent stops the batch before anything moves', async () => {
  await env.activities.lockBond({ taskId: 'rb-x1', agent: 'bob', depth: 1, stake: STAKE });
  await env.activities.lockBond({ taskId: 'rb-x2', agent: 'bob', depth: 1, stake: STAKE });
  await expect(
    env.activities.releaseBonds({
      bonds: [
        { taskId: 'rb-x1', agent: 'bob' },
        { taskId: 'rb-x2', agent: 'carol' },
      ],
      reason: 'cascade',
    }),
  ).rejects.toMatchObject({ type: 'BondAgentMismatch' });
  expect((await balances(env, 'bob', 'rb-x1')).bond).toBeGreaterThan(0);
});
