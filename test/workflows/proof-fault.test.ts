/**
 * Who answers for a proof that does not come back, against the real dev server, proofs and SVM. Never
 * the agent, here: not when no proof worker takes it, nor when a proof worker fails (a verifier with
 * another key: a SystemFault), both rolled back as proof_unavailable; nor when a proof of the
 * fixed-size circuit runs out of proving time, which is the machine's load (rolled back as
 * proof_timeout). Bonds released, nothing slashed, no cooldown. The system's worker here serves
 * `agenc-tasks` only; the tests decide which proof worker, if any, polls `agenc-proofs`.
 */
import * as path from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createStakeOperator } from '../../activities/chain';
import { createProofActivities, ensureArtifacts, type CircuitArtifacts } from '../../activities/proof';
import type { ProofActivities } from '../../shared/activity-contract';
import type { GenerateProofInput } from '../../shared/proof-records';
import { PROOF_QUEUE, PROOF_VERIFICATION_QUEUE, TASK_QUEUE } from '../../shared/task-queues';
import { controlStatus } from '../../temporal/control';
import { anotherBuildsKeys } from '../proof/helpers';
import { speculativeConfig, startTestSystem, type TestSystem } from '../helpers/system';
import type { TaskState } from '../../shared/task-model';

const agent = 'prover';
let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({
    name: 'proof-fault',
    // A proof waits for a proof worker at most confirmation_timeout_ms.
    config: speculativeConfig({ speculation: { confirmation_timeout_ms: 3000 } }),
    worker: { queues: [TASK_QUEUE] },
  });
  await sys.fundAgent(agent);
});
afterAll(() => sys?.close());

test('no proof worker takes the proof: the task rolls back as proof_unavailable and its speculative dependent is released, not slashed', async () => {
  const operator = createStakeOperator(sys.worker.stakeDeps!);
  const before = (await operator.stakeStatus({ agent })).agents[0]!;
  const parent = await sys.submit({ type: 'compute', payload: { value: 1 }, agent });
  const child = await sys.submit({ type: 'compute', payload: { value: 2 }, dependsOn: parent, agent });

  const p = await sys.wait(parent);
  expect(p).toMatchObject({ status: 'rolled_back', rollback_reason: 'proof_unavailable', proof: { state: 'failed' } });
  expect(p.error).toBe(
    'no proof worker took it within 3000 ms (confirmation_timeout_ms) in the agenc-proofs backlog; add proof workers',
  );
  const c = await sys.wait(child);
  // Its parent's rollback and its own confirmation timeout are both 3 s away: either way, not its fault.
  expect(c).toMatchObject({ status: 'rolled_back', speculation_status: 'speculative', bond: { state: 'released' } });
  expect(['parent_rolled_back', 'confirmation_timeout']).toContain(c.rollback_reason);

  const after = (await operator.stakeStatus({ agent })).agents[0]!;
  expect(after.slashed - before.slashed).toBe(0);
  expect(after.locked_in_bonds).toBe(0);
});

/**
 * A system of its own with the usual 60 s confirmation timeout (nothing but the proof may end its tasks),
 * and proof workers the test assembles from the real activities.
 */
describe('a proof worker that fails the task', () => {
  let own: TestSystem;
  let artifacts: CircuitArtifacts;
  beforeAll(async () => {
    own = await startTestSystem({ name: 'proof-worker-fault', worker: { queues: [TASK_QUEUE] } });
    await own.fundAgent(agent);
    artifacts = await ensureArtifacts({ artifactsDir: process.env.AGENC_CIRCUITS_DIR });
  });
  afterAll(() => own?.close());

  /**
   * Submits a parent and its speculative child with proof workers made of `prover` and `verifier` running,
   * and returns both once final; then checks the agent lost nothing and is not cooling down.
   */
  async function parentAndChild(
    ids: { parentId: string; childId: string },
    acts: Pick<ProofActivities, 'generateProof' | 'verifyProof'>,
  ) {
    const connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS });
    const operator = createStakeOperator(own.worker.stakeDeps!);
    const before = (await operator.stakeStatus({ agent })).agents[0]!;
    let result: { parent: TaskState; child: TaskState };
    try {
      const workerOptions = { connection, namespace: own.namespace, maxConcurrentActivityTaskExecutions: 2 };
      const prover = await Worker.create({
        ...workerOptions,
        taskQueue: PROOF_QUEUE,
        activities: { generateProof: acts.generateProof },
      });
      const verifier = await Worker.create({
        ...workerOptions,
        taskQueue: PROOF_VERIFICATION_QUEUE,
        activities: { verifyProof: acts.verifyProof },
      });
      const scenario = (async () => {
        await own.submit({ taskId: ids.parentId, type: 'compute', payload: { value: 3 }, agent });
        await own.submit({
          taskId: ids.childId,
          type: 'compute',
          payload: { value: 4 },
          dependsOn: ids.parentId,
          agent,
        });
        return { child: await own.wait(ids.childId), parent: await own.wait(ids.parentId) };
      })();
      // Both workers stop before the connection closes, whatever the scenario's outcome; then its outcome counts.
      await Promise.allSettled([prover.runUntil(scenario), verifier.runUntil(scenario)]);
      result = await scenario;
    } finally {
      await connection.close();
    }
    const after = (await operator.stakeStatus({ agent })).agents[0]!;
    expect(after.slashed - before.slashed).toBe(0);
    expect(after.locked_in_bonds).toBe(0);
    // Nothing slashed, so no cooldown: the agent may speculate at once.
    expect((await controlStatus(own.client)).cooldowns[agent]).toBeUndefined();
    return result;
  }

  test("a proof that runs out of proving time is the machine's load, not the agent's: rolled back as proof_timeout, its bond released", async () => {
    // The configuration cannot set a proving limit below one proof (timeout_ms >= 1000 ms, a proof here
    // takes a few hundred), so the proof worker runs the real activity with a 1 ms limit for the
    // speculative (bonded) child, and the scheduled (live) one for its parent. A proof carries the
    // limit it was scheduled under, which the worker's own yields to: the child's input says 1 ms.
    const proving = createProofActivities({ artifacts, timeoutMs: 30_000, maxConcurrent: 2, queueSize: 2 });
    const starved = createProofActivities({ artifacts, timeoutMs: 1, maxConcurrent: 1, queueSize: 1 });
    const ids = { parentId: 'timeout-parent', childId: 'timeout-child' };
    const { parent, child } = await parentAndChild(ids, {
      generateProof: (input: GenerateProofInput) =>
        input.taskId === ids.childId ? starved.generateProof({ ...input, timeoutMs: 1 }) : proving.generateProof(input),
      verifyProof: proving.verifyProof,
    });
    // Not the agent's fault: it rolls back (`failed` is for its own fault), and the bond it took comes back in full.
    expect(child).toMatchObject({
      status: 'rolled_back',
      rollback_reason: 'proof_timeout',
      speculation_status: 'speculative',
      proof: { state: 'failed' },
      bond: { state: 'released' },
    });
    expect(child.error).toMatch(/did not finish within 1 ms \(proof timeout\)/);
    expect(parent).toMatchObject({ status: 'confirmed' });
  });

  test("a verifier with another key than the prover's is the system's fault (ProofKeyMismatch), not an invalid proof: rolled back as proof_unavailable, its bond released", async () => {
    // Another build's key for the same circuit, as a proof worker with its own artifacts directory has.
    const { verificationKeyPath, verificationKeyHash: otherKey } = await anotherBuildsKeys(
      artifacts.zkeyPath,
      path.join(own.dir, 'other-key'),
      'a verifier with another key',
    );

    const proving = createProofActivities({ artifacts, timeoutMs: 30_000, maxConcurrent: 2, queueSize: 2 });
    const otherVerifier = createProofActivities({
      artifacts: { ...artifacts, verificationKeyPath, verificationKeyHash: otherKey },
      timeoutMs: 30_000,
      maxConcurrent: 1,
      queueSize: 1,
    });
    const ids = { parentId: 'key-parent', childId: 'key-child' };
    const { parent, child } = await parentAndChild(ids, {
      generateProof: proving.generateProof,
      verifyProof: (input) => (input.expected.taskId === ids.childId ? otherVerifier : proving).verifyProof(input),
    });
    expect(child).toMatchObject({
      status: 'rolled_back',
      rollback_reason: 'proof_unavailable',
      speculation_status: 'speculative',
      proof: { state: 'failed' },
      bond: { state: 'released' },
    });
    expect(child.error).toMatch(/^ProofKeyMismatch on proof worker \d+@.* \(the system's fault, not the agent's\)/);
    expect(child.error).toContain(
      `made with verification key ${artifacts.verificationKeyHash}, but this verifier uses ${otherKey}`,
    );
    expect(parent).toMatchObject({ status: 'confirmed' });
  });
});
