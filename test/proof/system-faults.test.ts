/**
 * What the activities report as the system's fault, with real artifacts, real proofs and the real
 * executeTask (in Temporal's MockActivityEnvironment where a context matters): a retryable
 * ApplicationFailure of type SystemFault naming the underlying failure, the worker (`pid@host`) and the
 * detail (which artifact, which key hashes, which task type). The workflow's classification
 * (workflows/task-decisions.ts) reads it as a reason that releases the bond; the agent's own failures
 * keep their types and still slash.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import { ensureArtifacts, type CircuitArtifacts } from '../../activities/proof/artifacts';
import { createProofActivities } from '../../activities/proof/proof-activities';
import { createProofService } from '../../activities/proof/service';
import { releaseProverResources } from '../../activities/proof/snarkjs';
import { createTaskActivities } from '../../activities/task-activities';
import { AdmissionError, checkSubmitRequest } from '../../client/tasks';
import { classifyExecutionFailure, classifyProofFailure } from '../../workflows/task-decisions';
import { anotherBuildsKeys, failureOf, honestWitness, TEST_ARTIFACTS_ROOT, TEST_SCRATCH_DIR } from './helpers';

jest.setTimeout(180_000);

const PROJECT_ROOT = path.resolve(__dirname, '..', '..');
const WORKER = `${process.pid}@${os.hostname()}`;
const SCRATCH = path.join(TEST_SCRATCH_DIR, 'system-faults');

let artifacts: CircuitArtifacts;
/** Another build's keys for the same circuit: one more phase-2 contribution, as an independent build makes. */
let other: { zkeyPath: string; verificationKeyPath: string; verificationKeyHash: string };

beforeAll(async () => {
  artifacts = await ensureArtifacts({ artifactsDir: TEST_ARTIFACTS_ROOT });
  fs.rmSync(SCRATCH, { recursive: true, force: true });
  other = await anotherBuildsKeys(artifacts.zkeyPath, SCRATCH, 'another key for the system-fault tests');
  expect(other.verificationKeyHash).not.toBe(artifacts.verificationKeyHash);
});

afterAll(async () => {
  await releaseProverResources();
});

const proofActivities = (a: Partial<CircuitArtifacts>) =>
  createProofActivities({ artifacts: { ...artifacts, ...a }, timeoutMs: 30_000, maxConcurrent: 1, queueSize: 2 });

/** As the workflow receives it: the activity's failure under an ActivityFailure. */
const asActivityFailure = (activityType: string, f: ApplicationFailure) =>
  new ActivityFailure('activity task failed', activityType, '1', undefined, undefined, f);

/** A retryable SystemFault of this worker for `fault`, which the workflow classifies as a proof the system could not make. */
async function proofSystemFault(
  p: Promise<unknown>,
  fault: string,
  activityType = 'generateProof',
): Promise<ApplicationFailure> {
  const f = await failureOf(p);
  expect([f.type, f.nonRetryable]).toEqual(['SystemFault', false]);
  expect(f.message).toContain(`${fault} on proof worker ${WORKER} (the system's fault, not the agent's): `);
  expect(f.details?.[0]).toMatchObject({ fault, component: 'proof worker', worker: WORKER });
  const v = classifyProofFailure(asActivityFailure(activityType, f), 30_000);
  expect([v.reason, v.ownFault]).toEqual(['proof_unavailable', false]);
  expect(v.message).toBe(f.message);
  return f;
}

describe('proof artifacts missing or corrupt on this worker', () => {
  test('never built, or a file gone: a SystemFault naming the artifact', async () => {
    const unbuilt = createProofActivities({
      artifactsDir: path.join(SCRATCH, 'never-built'),
      buildArtifacts: false,
      timeoutMs: 30_000,
      maxConcurrent: 1,
      queueSize: 1,
    });
    const f1 = await proofSystemFault(
      unbuilt.generateProof(honestWitness('sf-1', 'agent-a', 2n).input),
      'ProofArtifactMissing',
    );
    expect(f1.message).toContain(path.join(SCRATCH, 'never-built'));

    const zkeyPath = path.join(SCRATCH, 'gone.zkey');
    const f2 = await proofSystemFault(
      proofActivities({ zkeyPath }).generateProof(honestWitness('sf-2', 'agent-a', 2n).input),
      'ProofArtifactMissing',
    );
    expect(f2.message).toContain(`proving key (zkey) ${zkeyPath} is missing`);
    expect(f2.details?.[0]).toMatchObject({ artifact: zkeyPath });

    const w = honestWitness('sf-3', 'agent-a', 3n);
    const record = await proofActivities({}).generateProof(w.input);
    const verificationKeyPath = path.join(SCRATCH, 'gone.json');
    const f3 = await proofSystemFault(
      proofActivities({ verificationKeyPath }).verifyProof({ record, expected: w.expected }),
      'ProofArtifactMissing',
      'verifyProof',
    );
    expect(f3.message).toContain(`verification key ${verificationKeyPath} is missing`);
  });

  test('a wasm that is not wasm, a zkey that is not a zkey, an altered verification key: SystemFaults naming the file', async () => {
    const wasmPath = path.join(SCRATCH, 'garbage.wasm');
    fs.writeFileSync(wasmPath, 'this is not a wasm module');
    const f1 = await proofSystemFault(
      proofActivities({ wasmPath }).generateProof(honestWitness('sf-4', 'agent-a', 2n).input),
      'ProofArtifactMissing',
    );
    expect(f1.message).toContain(`circuit wasm ${wasmPath} is corrupt`);

    const zkeyPath = path.join(SCRATCH, 'garbage.zkey');
    fs.writeFileSync(zkeyPath, fs.readFileSync(artifacts.zkeyPath).subarray(0, 200));
    const f2 = await proofSystemFault(
      proofActivities({ zkeyPath }).generateProof(honestWitness('sf-5', 'agent-a', 2n).input),
      'ProofArtifactMissing',
    );
    expect(f2.message).toContain(`proving key (zkey) ${zkeyPath} is corrupt`);

    const w = honestWitness('sf-6', 'agent-a', 4n);
    const record = await proofActivities({}).generateProof(w.input);
    const verificationKeyPath = path.join(SCRATCH, 'altered_verification_key.json');
    const vk = JSON.parse(fs.readFileSync(artifacts.verificationKeyPath, 'utf8')) as { vk_alpha_1: string[] };
    vk.vk_alpha_1[0] = '1';
    fs.writeFileSync(verificationKeyPath, JSON.stringify(vk));
    const f3 = await proofSystemFault(
      proofActivities({ verificationKeyPath }).verifyProof({ record, expected: w.expected }),
      'ProofArtifactMissing',
      'verifyProof',
    );
    expect(f3.message).toContain(`not the expected ${artifacts.verificationKeyHash}`);
  });

  test('a zkey from another build under these artifacts is caught before proving, naming both keys (else its proofs would fail the pairing check)', async () => {
    const f = await proofSystemFault(
      proofActivities({ zkeyPath: other.zkeyPath }).generateProof(honestWitness('sf-7', 'agent-a', 5n).input),
      'ProofArtifactMissing',
    );
    expect(f.message).toContain(
      `belongs to verification key ${other.verificationKeyHash}, not to ${artifacts.verificationKeyHash}`,
    );
  });

  test("a wasm compiled from another circuit: an honest witness is the system's fault, a wrong output still the agent's", async () => {
    // The task circuit with one constraint changed, compiled once (about 15 s) and kept beside the test caches.
    const dir = path.join(TEST_SCRATCH_DIR, 'another-circuit');
    fs.mkdirSync(dir, { recursive: true });
    const source = path.join(dir, 'task.circom');
    const circomlib = path.dirname(require.resolve('circomlib/package.json'));
    const text = fs
      .readFileSync(path.join(PROJECT_ROOT, 'circuits', 'task.circom'), 'utf8')
      .replaceAll('../node_modules/circomlib', path.relative(dir, circomlib)) // circom2 (WASI) reads relative paths only
      .replace('taskOutput === valueSquared + parentOutput;', 'taskOutput === valueSquared + parentOutput + 1;');
    const wasmPath = path.join(dir, 'task_js', 'task.wasm');
    if (!fs.existsSync(wasmPath) || !fs.existsSync(source) || fs.readFileSync(source, 'utf8') !== text) {
      fs.rmSync(wasmPath, { force: true });
      fs.writeFileSync(source, text);
      const r = spawnSync(process.execPath, [require.resolve('circom2/cli.js'), source, '--wasm', '--O2', '-o', dir], {
        cwd: PROJECT_ROOT,
        encoding: 'utf8',
      });
      expect([r.status, r.stderr]).toEqual([0, r.stderr]);
    }
    const acts = proofActivities({ wasmPath });

    const f = await proofSystemFault(
      acts.generateProof(honestWitness('sf-8', 'agent-a', 6n).input),
      'ProofArtifactMissing',
    );
    expect(f.message).toMatch(
      /rejects the inputs of task sf-8, which satisfy the task circuit .* compiled from another circuit/,
    );

    const wrong = await failureOf(acts.generateProof({ ...honestWitness('sf-9', 'agent-a', 6n).input, output: '500' }));
    expect([wrong.type, wrong.nonRetryable]).toEqual(['ProofWitnessInvalid', true]);
    expect(classifyProofFailure(asActivityFailure('generateProof', wrong), 30_000)).toMatchObject({
      reason: 'proof_failed',
      ownFault: true,
    });
  });
});

describe('keys, capacity, the unexpected', () => {
  test('a proof made with another key is a SystemFault at verification (both key hashes), not an invalid proof; a verifier with its key accepts it', async () => {
    const w = honestWitness('sf-10', 'agent-a', 7n);
    const record = await proofActivities({
      zkeyPath: other.zkeyPath,
      verificationKeyHash: other.verificationKeyHash,
    }).generateProof(w.input);
    expect(record.verification_key_hash).toBe(other.verificationKeyHash);

    const f = await proofSystemFault(
      proofActivities({}).verifyProof({ record, expected: w.expected }),
      'ProofKeyMismatch',
      'verifyProof',
    );
    expect(f.message).toContain(
      `made with verification key ${other.verificationKeyHash}, but this verifier uses ${artifacts.verificationKeyHash}`,
    );

    // Retryable because another verifier can judge it: one that holds the prover's key.
    const sameKey = proofActivities({
      verificationKeyPath: other.verificationKeyPath,
      verificationKeyHash: other.verificationKeyHash,
    });
    await expect(sameKey.verifyProof({ record, expected: w.expected })).resolves.toEqual({ valid: true });
    // A proof that does not belong to the task stays a verdict.
    await expect(
      sameKey.verifyProof({ record, expected: { ...w.expected, taskId: 'sf-other' } }),
    ).resolves.toMatchObject({
      valid: false,
      code: 'ProofPublicSignalsMismatch',
    });
  });

  test('a full proof queue and an error the prover did not expect are SystemFaults', async () => {
    const service = createProofService({ artifacts, timeoutMs: 30_000, maxConcurrent: 1, queueSize: 0 });
    const acts = createProofActivities({ artifacts, timeoutMs: 30_000, maxConcurrent: 1, queueSize: 0 }, service);
    const busy = acts.generateProof(honestWitness('sf-11', 'agent-a', 2n).input);
    const f1 = await proofSystemFault(
      acts.generateProof(honestWitness('sf-12', 'agent-a', 3n).input),
      'ProofQueueFull',
    );
    expect(f1.message).toMatch(/queue_size 0/);
    await busy;

    const broken = createProofActivities(
      { artifacts, timeoutMs: 30_000, maxConcurrent: 1, queueSize: 1 },
      {
        ...service,
        generateProof: () => Promise.reject(new TypeError("Cannot read properties of undefined (reading 'pi_a')")),
      },
    );
    const f2 = await proofSystemFault(
      broken.generateProof(honestWitness('sf-13', 'agent-a', 3n).input),
      'ProverError (TypeError)',
    );
    expect(f2.message).toContain("reading 'pi_a'");
  });

  test("the agent's own failures keep their types: a wrong output slashes (proof_failed); a proof timeout does not (proof_timeout)", async () => {
    const w = honestWitness('sf-14', 'agent-a', 11n);
    const wrong = await failureOf(proofActivities({}).generateProof({ ...w.input, output: '122' }));
    expect([wrong.type, wrong.nonRetryable]).toEqual(['ProofWitnessInvalid', true]);
    expect(classifyProofFailure(asActivityFailure('generateProof', wrong), 30_000)).toMatchObject({
      reason: 'proof_failed',
      ownFault: true,
    });

    const slow = await failureOf(
      createProofActivities({ artifacts, timeoutMs: 1, maxConcurrent: 1, queueSize: 1 }).generateProof(w.input),
    );
    expect([slow.type, slow.nonRetryable]).toEqual(['ProofTimeout', true]);
    expect(classifyProofFailure(asActivityFailure('generateProof', slow), 30_000)).toMatchObject({
      reason: 'proof_timeout',
      ownFault: false,
    });
  });
});

describe('executeTask', () => {
  const acts = createTaskActivities({ client: undefined as unknown as Client, rawConfig: () => ({}) });
  const run = (type: string, payload: unknown) =>
    new MockActivityEnvironment().run(acts.executeTask, { taskId: 'sf-t1', type, payload, parentOutput: '0' });

  test('a task type is refused at submission when no worker of the submitter knows it', () => {
    expect(() => checkSubmitRequest({ type: 'resize', payload: { value: 1 } })).toThrow(AdmissionError);
    expect(() => checkSubmitRequest({ type: 'resize', payload: { value: 1 } })).toThrow(
      '--type "resize" is not a task type (known: compute, record)',
    );
  });

  test('a task type or payload schema this worker lacks is a retryable SystemFault naming the type, the known types and the worker', async () => {
    const f = await failureOf(run('resize', { value: 1 }));
    expect([f.type, f.nonRetryable]).toEqual(['SystemFault', false]);
    expect(f.message).toBe(
      `UnknownTaskType on task worker ${WORKER} (the system's fault, not the agent's): task sf-t1: task type "resize" is unknown to this worker (it knows: compute, record); ` +
        'the submission was accepted, so this worker lags the submitter: deploy the task type to every agenc-tasks worker',
    );
    expect(f.details?.[0]).toMatchObject({
      fault: 'UnknownTaskType',
      component: 'task worker',
      worker: WORKER,
      taskType: 'resize',
      known: ['compute', 'record'],
    });
    expect(classifyExecutionFailure(asActivityFailure('executeTask', f))).toMatchObject({
      reason: 'execution_unavailable',
      ownFault: false,
      message: f.message,
    });

    const schema = await failureOf(run('compute', { value: 1, colour: 'red' }));
    expect([schema.type, schema.nonRetryable]).toEqual(['SystemFault', false]);
    expect(schema.message).toMatch(
      /^PayloadSchemaMismatch on task worker .*payload does not match task type "compute"/,
    );
  });

  test("the task type's own error stays the agent's ExecutionFailed; a result is a result", async () => {
    const f = await failureOf(run('compute', { fail: true }));
    expect([f.type, f.nonRetryable]).toEqual(['ExecutionFailed', false]);
    expect(classifyExecutionFailure(asActivityFailure('executeTask', f))).toMatchObject({
      reason: 'execution_failed',
      ownFault: true,
    });
    await expect(run('compute', { value: 3 })).resolves.toMatchObject({ output: '9', proofValue: '3' });
  });
});
