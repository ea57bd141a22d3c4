/**
 * The `agenc-proofs` activities with real proofs: failures as typed ApplicationFailures (the system's
 * own as SystemFault: system-faults.test.ts goes through each), the concurrency bound, the queue limit,
 * the timeout, heartbeats and cancellation (in Temporal's MockActivityEnvironment: an activity context
 * without a server).
 */
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import * as path from 'node:path';
import { createProofActivities } from '../../activities/proof/proof-activities';
import { ensureArtifacts, type CircuitArtifacts } from '../../activities/proof/artifacts';
import { PROOF_GENERATION_HISTOGRAM, proofDurationObserver } from '../../activities/proof/metrics';
import { createProofService } from '../../activities/proof/service';
import { releaseProverResources } from '../../activities/proof/snarkjs';
import type { ProofRecord } from '../../shared/proof-records';
import { PROOF_QUEUE } from '../../shared/task-queues';
import { failureOf, honestWitness, TEST_ARTIFACTS_ROOT, TEST_SCRATCH_DIR } from './helpers';

jest.setTimeout(180_000);

let artifacts: CircuitArtifacts;

beforeAll(async () => {
  artifacts = await ensureArtifacts({ artifactsDir: TEST_ARTIFACTS_ROOT });
});

afterAll(async () => {
  await releaseProverResources();
});

test('queue name', () => {
  expect(PROOF_QUEUE).toBe('agenc-proofs');
});

test('generateProof and verifyProof work without Temporal; durations reach the metric', async () => {
  const observed: number[] = [];
  const acts = createProofActivities({
    artifactsDir: TEST_ARTIFACTS_ROOT,
    timeoutMs: 30_000,
    maxConcurrent: 1,
    queueSize: 4,
    onProofDuration: proofDurationObserver({ observe: (v) => observed.push(v) }),
  });
  const w = honestWitness('act-1', 'agent-a', 11n);
  const record = await acts.generateProof(w.input);
  expect(record.verification_key_hash).toBe(artifacts.verificationKeyHash);
  await expect(acts.verifyProof({ record, expected: w.expected })).resolves.toEqual({ valid: true });
  await expect(acts.verifyProof({ record, expected: { ...w.expected, taskId: 'act-2' } })).resolves.toMatchObject({
    valid: false,
    code: 'ProofPublicSignalsMismatch',
  });
  expect(observed).toHaveLength(1);
  expect(observed[0]).toBeCloseTo(record.timing.duration_ms / 1000, 6);
  expect(PROOF_GENERATION_HISTOGRAM.name).toBe('speculation_proof_generation_seconds');
});

test('an unsatisfiable witness is a non-retryable ProofWitnessInvalid', async () => {
  const acts = createProofActivities({ artifacts, timeoutMs: 30_000, maxConcurrent: 1, queueSize: 1 });
  const w = honestWitness('act-bad', 'agent-a', 11n);
  const f = await failureOf(acts.generateProof({ ...w.input, output: '122' }));
  expect(f.type).toBe('ProofWitnessInvalid');
  expect(f.nonRetryable).toBe(true);
  expect(f.message).toMatch(/output 122 is not value\^2 \+ parentOutput = 121/);
});

test("missing artifacts are a retryable SystemFault (the worker's, not the agent's), naming ProofArtifactMissing and the fix", async () => {
  const acts = createProofActivities({
    artifactsDir: path.join(TEST_SCRATCH_DIR, 'never-built'),
    buildArtifacts: false,
    timeoutMs: 30_000,
    maxConcurrent: 1,
    queueSize: 1,
  });
  const f = await failureOf(acts.generateProof(honestWitness('act-3', 'agent-a', 2n).input));
  expect(f.type).toBe('SystemFault');
  expect(f.nonRetryable).toBe(false);
  expect(f.message).toMatch(/^ProofArtifactMissing on proof worker \d+@.*build-circuits/);
  const f2 = await failureOf(
    createProofActivities({
      artifacts: { ...artifacts, zkeyPath: '/nonexistent.zkey' },
      timeoutMs: 30_000,
      maxConcurrent: 1,
      queueSize: 1,
    }).generateProof(honestWitness('act-4', 'agent-a', 2n).input),
  );
  expect(f2.type).toBe('SystemFault');
  expect(f2.message).toMatch(/ProofArtifactMissing .*\/nonexistent\.zkey is missing/);
});

test('a proof over timeoutMs is a non-retryable ProofTimeout, and the process keeps going', async () => {
  const acts = createProofActivities({ artifacts, timeoutMs: 1, maxConcurrent: 1, queueSize: 1 });
  const f = await failureOf(acts.generateProof(honestWitness('act-slow', 'agent-a', 2n).input));
  expect(f.type).toBe('ProofTimeout');
  expect(f.nonRetryable).toBe(true);
  expect(f.message).toMatch(/within 1 ms/);
});

test('the timeout the workflow scheduled a proof under (the live speculation.proof.timeout_ms) bounds it, not the one the worker started with', async () => {
  // Started with 30 s, as a proof worker reads the file at start; then the live configuration says 1 ms.
  const acts = createProofActivities({ artifacts, timeoutMs: 30_000, maxConcurrent: 1, queueSize: 1 });
  const f = await failureOf(acts.generateProof({ ...honestWitness('act-live', 'agent-a', 2n).input, timeoutMs: 1 }));
  expect(f.type).toBe('ProofTimeout');
  expect(f.message).toMatch(/within 1 ms/);
  // And the other way: started with 1 ms, scheduled under 30 s, the proof is made.
  const started = createProofActivities({ artifacts, timeoutMs: 1, maxConcurrent: 1, queueSize: 1 });
  const record = await started.generateProof({ ...honestWitness('act-live2', 'agent-a', 3n).input, timeoutMs: 30_000 });
  expect(record.proof_type).toBe('groth16');
});

test('concurrency is bounded and an overfull queue is refused: a retryable SystemFault naming ProofQueueFull', async () => {
  const service = createProofService({ artifacts, timeoutMs: 30_000, maxConcurrent: 1, queueSize: 1 });
  const acts = createProofActivities({ artifacts, timeoutMs: 30_000, maxConcurrent: 1, queueSize: 1 }, service);
  const first = acts.generateProof(honestWitness('q-1', 'agent-a', 2n).input);
  const second = acts.generateProof(honestWitness('q-2', 'agent-a', 3n).input);
  await Promise.resolve();
  expect(service.stats()).toMatchObject({ running: 1, waiting: 1 });
  const f = await failureOf(acts.generateProof(honestWitness('q-3', 'agent-a', 4n).input));
  expect(f.type).toBe('SystemFault');
  expect(f.nonRetryable).toBe(false);
  expect(f.message).toMatch(
    /^ProofQueueFull on proof worker .*1 proofs running \(max_concurrent 1\) and 1 waiting \(queue_size 1\)/,
  );
  const [r1, r2] = await Promise.all([first, second]);
  expect(r1.task_id).toBe('q-1');
  expect(r2.task_id).toBe('q-2');
  // the second one started only after the first had finished
  expect(Date.parse(r2.timing.started_at)).toBeGreaterThanOrEqual(Date.parse(r1.timing.finished_at));
  expect(service.stats()).toMatchObject({ running: 0, waiting: 0 });
});

test('heartbeats while running, inside an activity context', async () => {
  const acts = createProofActivities({
    artifacts,
    timeoutMs: 30_000,
    maxConcurrent: 1,
    queueSize: 1,
    heartbeatIntervalMs: 10,
  });
  const env = new MockActivityEnvironment();
  const beats: unknown[] = [];
  env.on('heartbeat', (d: unknown) => beats.push(d));
  const w = honestWitness('hb-1', 'agent-a', 5n);
  const record = (await env.run(acts.generateProof, w.input)) as ProofRecord;
  expect(record.task_id).toBe('hb-1');
  expect(beats.length).toBeGreaterThanOrEqual(2);
  expect(beats[0]).toMatchObject({ taskId: 'hb-1' });
});

test('cancellation is honoured, while queued and while proving', async () => {
  const service = createProofService({ artifacts, timeoutMs: 30_000, maxConcurrent: 1, queueSize: 2 });
  const acts = createProofActivities({ artifacts, timeoutMs: 30_000, maxConcurrent: 1, queueSize: 2 }, service);
  const busy = acts.generateProof(honestWitness('c-0', 'agent-a', 2n).input);

  const queued = new MockActivityEnvironment();
  const queuedRun = queued.run(acts.generateProof, honestWitness('c-1', 'agent-a', 3n).input);
  await new Promise((r) => setTimeout(r, 5));
  queued.cancel();
  await expect(queuedRun).rejects.toBeInstanceOf(CancelledFailure);
  await busy;

  const proving = new MockActivityEnvironment();
  const provingRun = proving.run(acts.generateProof, honestWitness('c-2', 'agent-a', 4n).input);
  await new Promise((r) => setTimeout(r, 5));
  proving.cancel();
  await expect(provingRun).rejects.toBeInstanceOf(CancelledFailure);
  // the slot comes back once the (non-preemptible) computation ends
  await new Promise((r) => setTimeout(r, 1000));
  expect(service.stats()).toMatchObject({ running: 0, waiting: 0 });
});
