/**
 * Who answers for a proof that does not come back, against the real dev server, proofs and SVM: the
 * system when no proof worker takes it (rolled back, bonds released, nothing slashed), the agent when
 * its own proof runs out of proving time (failed, proof_timeout). The system's worker here serves
 * `agenc-tasks` only; the tests decide which proof worker, if any, polls `agenc-proofs`.
 */
import { NativeConnection, Worker } from '@temporalio/worker';
import { createStakeOperator } from '../../activities/chain';
import { createProofActivities, ensureArtifacts } from '../../activities/proof';
import { PROOF_QUEUE, TASK_QUEUE } from '../../shared/task-queues';
import { SPECULATIVE_CONFIG, startTestSystem, type TestSystem } from '../helpers/system';

const agent = 'prover';
let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({
    name: 'proof-fault',
    // A proof waits for a proof worker at most confirmation_timeout_ms.
    config: { speculation: { ...SPECULATIVE_CONFIG.speculation, confirmation_timeout_ms: 3000 } },
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
  expect(p.error).toBe('no proof worker took it within 3000 ms (confirmation_timeout_ms) in the agenc-proofs backlog; add proof workers');
  const c = await sys.wait(child);
  // Its parent's rollback and its own confirmation timeout are both 3 s away: either way, not its fault.
  expect(c).toMatchObject({ status: 'rolled_back', speculation_status: 'speculative', bond: { state: 'released' } });
  expect(['parent_rolled_back', 'confirmation_timeout']).toContain(c.rollback_reason);

  const after = (await operator.stakeStatus({ agent })).agents[0]!;
  expect(after.slashed - before.slashed).toBe(0);
  expect(after.locked_in_bonds).toBe(0);
});

test("a proof that runs out of its own proving time is the agent's fault: failed, proof_timeout", async () => {
  // The configuration cannot set a proving limit below one proof (timeout_ms >= 1000 ms, a proof here
  // takes a few hundred), so this proof worker runs the real activity with a 1 ms limit.
  const connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS });
  const artifacts = await ensureArtifacts({ artifactsDir: process.env.AGENC_CIRCUITS_DIR });
  const { generateProof } = createProofActivities({ artifacts, timeoutMs: 1, maxConcurrent: 1, queueSize: 1 });
  const worker = await Worker.create({
    connection,
    namespace: sys.namespace,
    taskQueue: PROOF_QUEUE,
    activities: { generateProof },
    maxConcurrentActivityTaskExecutions: 1,
  });
  try {
    await worker.runUntil(async () => {
      const task = await sys.submit({ type: 'compute', payload: { value: 3 }, agent });
      const s = await sys.wait(task);
      expect(s).toMatchObject({ status: 'failed', rollback_reason: 'proof_timeout', proof: { state: 'failed' } });
      expect(s.error).toMatch(/did not finish within 1 ms \(proof timeout\)/);
    });
  } finally {
    await connection.close();
  }
});
