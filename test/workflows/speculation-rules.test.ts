/**
 * The speculation decision and the bond rules, against the real dev server, proofs and SVM. The
 * embedded chain takes 4 s to finalize a commit, so dependents submitted right after their parent find
 * it executed but unconfirmed.
 */
import { createStakeOperator } from '../../activities/chain';
import { bondAmount } from '../../activities/chain/bond-amount';
import { failingRootWithTree } from '../helpers/failing-root';
import { speculativeConfig, startTestSystem, type TestSystem } from '../helpers/system';

const stake = { min_stake: 1_000_000, max_stake: 1_000_000_000, stake_per_depth: 500_000 };
let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({
    name: 'rules',
    config: speculativeConfig({
      speculation: { max_depth: 2, max_parallel_branches: 2, stake: { ...stake, slash_percentage: 0.1 } },
    }),
    worker: { embeddedFinalityMs: 4000 },
  });
  for (const agent of ['fan', 'depth', 'cheat']) await sys.fundAgent(agent);
});
afterAll(() => sys?.close());

test('fan-out wider than max_parallel_branches: the extra children run non-speculatively and still confirm', async () => {
  const parent = await sys.submit({ type: 'compute', payload: { value: 1 }, agent: 'fan' });
  const children = await Promise.all(
    [2, 3, 4, 5].map((v) => sys.submit({ type: 'compute', payload: { value: v }, dependsOn: parent, agent: 'fan' })),
  );
  const finals = await Promise.all(children.map((id) => sys.wait(id)));
  expect(finals.map((s) => s.status)).toEqual(['confirmed', 'confirmed', 'confirmed', 'confirmed']);
  const statuses = finals.map((s) => s.speculation_status).sort();
  expect(statuses).toEqual(['branch_limit', 'branch_limit', 'speculative', 'speculative']);
  for (const s of finals) expect(s.bond === null).toBe(s.speculation_status !== 'speculative');
});

test('the depth limit counts unconfirmed ancestors only, not the distance from the root', async () => {
  const a = await sys.submit({ type: 'compute', payload: { value: 1 }, agent: 'depth' });
  expect((await sys.wait(a)).status).toBe('confirmed');
  // a is confirmed: b runs at once (non-speculative); c, d, e stack up unconfirmed ancestors.
  const b = await sys.submit({ type: 'compute', payload: { value: 2 }, dependsOn: a, agent: 'depth' });
  const c = await sys.submit({ type: 'compute', payload: { value: 3 }, dependsOn: b, agent: 'depth' });
  const d = await sys.submit({ type: 'compute', payload: { value: 4 }, dependsOn: c, agent: 'depth' });
  const e = await sys.submit({ type: 'compute', payload: { value: 5 }, dependsOn: d, agent: 'depth' });
  const [sb, sc, sd, se] = await Promise.all([b, c, d, e].map((id) => sys.wait(id, 120_000)));
  expect([sb, sc, sd, se].map((s) => s!.status)).toEqual(['confirmed', 'confirmed', 'confirmed', 'confirmed']);
  expect(sb!.speculation_status).toBe('non_speculative');
  // d has three ancestors from the root but two unconfirmed ones (b, c): inside max_depth 2.
  expect([sc!.speculation_status, sc!.depth]).toEqual(['speculative', 1]);
  expect([sd!.speculation_status, sd!.depth]).toEqual(['speculative', 2]);
  expect(se!.speculation_status).toBe('depth_limit');
  expect(sd!.bond!.amount).toBe(bondAmount(2, stake));
});

test('a child whose own proof fails is slashed by exactly slash_percentage, and its agent cools down', async () => {
  const operator = createStakeOperator(sys.worker.stakeDeps!);
  const before = (await operator.stakeStatus({ agent: 'cheat' })).agents[0]!;
  // The child claims a wrong output: it speculates on its parent, then its proof fails.
  const { above: parent, root: child } = await failingRootWithTree(sys, { agent: 'cheat', below: 0 });
  const s = await sys.wait(child);
  const amount = bondAmount(1, stake);
  expect(s).toMatchObject({ status: 'failed', rollback_reason: 'proof_failed', speculation_status: 'speculative' });
  expect(s.bond).toMatchObject({ state: 'slashed', amount, slashed: amount * 0.1, returned: amount * 0.9 });
  const after = (await operator.stakeStatus({ agent: 'cheat' })).agents[0]!;
  expect(after.slashed - before.slashed).toBe(amount * 0.1);
  expect(after.available).toBe(before.available - amount * 0.1);
  expect((await sys.wait(parent!)).status).toBe('confirmed');

  // Within cooldown_period_ms the agent may not speculate.
  const p2 = await sys.submit({ type: 'compute', payload: { value: 8 }, agent: 'cheat' });
  const c2 = await sys.submit({ type: 'compute', payload: { value: 9 }, dependsOn: p2, agent: 'cheat' });
  expect(await sys.wait(c2)).toMatchObject({ status: 'confirmed', speculation_status: 'cooldown', bond: null });
});
