/**
 * Task graphs: the join circuit (circuits/task-join.circom, MAX_PARENT_SLOTS parent slots) beside the
 * one-parent circuit (circuits/task.circom), with real artifacts and real Groth16 proofs. A proof binds
 * exactly the parents its task consumed, in order; a verifier holding both keys checks each record with the
 * key it names, so proofs made with task.circom (before task graphs, or for a task with at most one parent)
 * keep verifying.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import type { Client } from '@temporalio/client';
import { ensureTaskCircuits, type TaskCircuitArtifacts } from '../../activities/proof/artifacts';
import {
  ProofArtifactMissingError,
  ProofInputInvalidError,
  ProofKeyMismatchError,
  ProofWitnessInvalidError,
} from '../../activities/proof/errors';
import { computeOutput, toField } from '../../activities/proof/fields';
import { assertTaskProofValid, provingCircuitFor, proveTask, verifyTaskProof } from '../../activities/proof/prover';
import { createProofService } from '../../activities/proof/service';
import { releaseProverResources } from '../../activities/proof/snarkjs';
import { createTaskActivities } from '../../activities/task-activities';
import type { ProofRecord } from '../../shared/proof-records';
import { MAX_PARENT_SLOTS } from '../../shared/task-model';
import { honestWitness, joinWitness, TEST_ARTIFACTS_ROOT, type Witness } from './helpers';

jest.setTimeout(180_000);

let circuits: TaskCircuitArtifacts;
/** Both circuits' keys, as a worker's verifier holds them. */
let keys: TaskCircuitArtifacts[keyof TaskCircuitArtifacts][];
/** Nine root tasks' results: parents enough to fill every slot, and one more. */
let roots: Witness[];
let A: Witness;
let B: Witness;
let C: Witness;
/** A task that consumed A then B, and its join proof. */
let ab: Witness;
let abProof: ProofRecord;

beforeAll(async () => {
  circuits = await ensureTaskCircuits({ artifactsDir: TEST_ARTIFACTS_ROOT });
  keys = Object.values(circuits);
  roots = Array.from({ length: MAX_PARENT_SLOTS + 1 }, (_, i) =>
    honestWitness(`join-root-${i}`, 'agent-alice', BigInt(i + 2)),
  );
  [A, B, C] = roots as [Witness, Witness, Witness];
  ab = joinWitness('join-ab', 'agent-bob', 5n, [A, B]);
  abProof = await proveTask(ab.input, circuits['task-join']);
});

afterAll(async () => {
  await releaseProverResources();
});

const commitmentsOf = (ws: readonly Witness[]): string[] => ws.map((w) => w.commitment.toString());

describe('the join circuit', () => {
  test('computeOutput sums the consumed parents (one bigint is one parent, as before task graphs)', () => {
    expect(computeOutput(3n, [1n, 2n])).toBe(12n);
    expect(computeOutput(3n, [])).toBe(9n);
    expect(computeOutput(3n, 5n)).toBe(14n);
  });

  test('both circuits are built, each with the public inputs of its parent slots', () => {
    expect(circuits.task).toMatchObject({ circuit: 'task', publicInputs: 4 });
    expect(circuits['task-join']).toMatchObject({ circuit: 'task-join', publicInputs: 3 + MAX_PARENT_SLOTS });
    expect(circuits['task-join'].verificationKeyHash).not.toBe(circuits.task.verificationKeyHash);
  });

  test('a task that consumed two parents is proven with the join circuit, binding both commitments in order, the other slots empty', async () => {
    expect(provingCircuitFor(ab.input)).toBe('task-join');
    expect(ab.output).toBe(25n + A.output + B.output);
    expect(abProof.verification_key_hash).toBe(circuits['task-join'].verificationKeyHash);
    expect(abProof.public_signals).toEqual([
      toField('join-ab').toString(),
      toField('agent-bob').toString(),
      ab.commitment.toString(),
      ...commitmentsOf([A, B]),
      ...Array<string>(MAX_PARENT_SLOTS - 2).fill('0'),
    ]);
    expect(abProof.commitments).toEqual({
      output: ab.commitment.toString(),
      parent: A.commitment.toString(),
      parents: commitmentsOf([A, B]),
    });
    await expect(verifyTaskProof(abProof, keys, ab.expected)).resolves.toEqual({ valid: true });
  });

  test('a task that consumed eight parents (every slot filled) proves and verifies', async () => {
    const eight = roots.slice(0, MAX_PARENT_SLOTS);
    const w = joinWitness('join-8', 'agent-bob', 6n, eight);
    const proof = await proveTask(w.input, circuits['task-join']);
    expect(proof.public_signals.slice(3)).toEqual(commitmentsOf(eight));
    expect(proof.commitments.parents).toEqual(commitmentsOf(eight));
    await expect(verifyTaskProof(proof, keys, w.expected)).resolves.toEqual({ valid: true });
  });

  test('a wrong opening in one slot is refused, naming that slot', async () => {
    const w = joinWitness('join-bad-opening', 'agent-bob', 5n, [A, B, C]);
    const input = structuredClone(w.input);
    input.parents![1]!.salt = (B.salt + 1n).toString();
    const refusal = proveTask(input, circuits['task-join']);
    await expect(refusal).rejects.toThrow(ProofWitnessInvalidError);
    await expect(refusal).rejects.toThrow(
      /parent slot 1: parentCommitment \d+ is not Poseidon\(parentOutput, parentSalt\) = \d+/,
    );
    await expect(refusal).rejects.not.toThrow(/parent slot [02]/);
  });

  test('the proof of [A, B] is refused when the verifier expects [A, C], [A] or [B, A]', async () => {
    const expecting = (parents: readonly Witness[]) =>
      verifyTaskProof(abProof, keys, { ...ab.expected, parentCommitments: commitmentsOf(parents) });
    const other = await expecting([A, C]);
    expect(other).toMatchObject({ valid: false, code: 'ProofPublicSignalsMismatch' });
    if (!other.valid) expect(other.reason).toMatch(/parentCommitments\[1\]: proof says \d+, expected \d+/);
    const fewer = await expecting([A]);
    expect(fewer).toMatchObject({ valid: false, code: 'ProofPublicSignalsMismatch' });
    if (!fewer.valid) expect(fewer.reason).toContain(`parentCommitments[1]: proof says ${B.commitment}, expected 0`);
    await expect(expecting([B, A])).resolves.toMatchObject({ valid: false, code: 'ProofPublicSignalsMismatch' });
    // a verifier from before task graphs, expecting the one parent A
    await expect(
      verifyTaskProof(abProof, keys, {
        taskId: ab.expected.taskId,
        agent: ab.expected.agent,
        outputCommitment: ab.expected.outputCommitment,
        parentCommitment: A.commitment.toString(),
      }),
    ).resolves.toMatchObject({ valid: false, code: 'ProofPublicSignalsMismatch' });
  });

  test('rewriting a slot of the public signals breaks the proof itself', async () => {
    const forged = structuredClone(abProof);
    forged.public_signals[4] = C.commitment.toString();
    forged.commitments.parents = commitmentsOf([A, C]);
    const expected = { ...ab.expected, parentCommitments: commitmentsOf([A, C]) };
    await expect(verifyTaskProof(forged, keys, expected)).resolves.toMatchObject({
      valid: false,
      code: 'ProofInvalid',
    });
  });

  test('a record that lists other parents than its public signals is corrupted', async () => {
    const forged = structuredClone(abProof);
    forged.commitments.parents = commitmentsOf([A]);
    await expect(verifyTaskProof(forged, keys, ab.expected)).resolves.toMatchObject({
      valid: false,
      code: 'ProofCorrupted',
    });
  });

  test('malformed parents are refused before the circuit: more than the slots, a parent without a commitment, the one-parent circuit for two', async () => {
    const tooMany = joinWitness('join-9', 'agent-bob', 2n, roots);
    await expect(proveTask(tooMany.input, circuits['task-join'])).rejects.toThrow(ProofInputInvalidError);
    await expect(proveTask(tooMany.input, circuits['task-join'])).rejects.toThrow(
      `a task consumes at most ${MAX_PARENT_SLOTS} parents`,
    );
    const zero = structuredClone(ab.input);
    zero.parents![0]!.commitment = '0';
    await expect(proveTask(zero, circuits['task-join'])).rejects.toThrow(/parents\[0\]\.commitment is 0/);
    await expect(proveTask(ab.input, circuits.task)).rejects.toThrow(
      /consumed 2 parents but circuits\/task\.circom has 1 parent slot/,
    );
  });
});

describe('the one-parent circuit beside it', () => {
  test('a task with at most one parent is proven with task.circom, in either input form', () => {
    expect(provingCircuitFor(honestWitness('one-root', 'agent-alice', 2n).input)).toBe('task');
    expect(provingCircuitFor(honestWitness('one-child', 'agent-alice', 2n, A).input)).toBe('task');
    expect(provingCircuitFor(joinWitness('one-child-new', 'agent-alice', 2n, [A]).input)).toBe('task');
    expect(provingCircuitFor(joinWitness('one-root-new', 'agent-alice', 2n, []).input)).toBe('task');
  });

  test('a proof made with task.circom still verifies by its own key hash, a record from before task graphs too', async () => {
    const child = honestWitness('one-parent', 'agent-alice', 3n, A);
    const proof = await proveTask(child.input, circuits.task);
    expect(proof.verification_key_hash).toBe(circuits.task.verificationKeyHash);
    expect(proof.public_signals).toHaveLength(4);
    expect(proof.commitments).toEqual({
      output: child.commitment.toString(),
      parent: A.commitment.toString(),
      parents: [A.commitment.toString()],
    });
    await expect(verifyTaskProof(proof, keys, child.expected)).resolves.toEqual({ valid: true });
    await expect(
      verifyTaskProof(proof, keys, { ...child.expected, parentCommitments: [A.commitment.toString()] }),
    ).resolves.toEqual({ valid: true });
    // as a worker from before task graphs recorded it: no commitments.parents
    const { parents: _, ...old } = proof.commitments;
    await expect(verifyTaskProof({ ...proof, commitments: old }, keys, child.expected)).resolves.toEqual({
      valid: true,
    });
    // its one slot binds one parent: it is no proof of two
    const two = await verifyTaskProof(proof, keys, { ...child.expected, parentCommitments: commitmentsOf([A, B]) });
    expect(two).toMatchObject({ valid: false, code: 'ProofPublicSignalsMismatch' });
    if (!two.valid) expect(two.reason).toContain('2 parents expected, but circuits/task.circom binds at most 1');
  });

  test('the join circuit proves a one-parent task too (slots after the first empty)', async () => {
    const w = joinWitness('join-one', 'agent-alice', 4n, [A]);
    const proof = await proveTask(w.input, circuits['task-join']);
    expect(proof.public_signals.slice(3)).toEqual([
      A.commitment.toString(),
      ...Array<string>(MAX_PARENT_SLOTS - 1).fill('0'),
    ]);
    await expect(verifyTaskProof(proof, keys, w.expected)).resolves.toEqual({ valid: true });
  });
});

describe('keys', () => {
  test('a record whose key hash the verifier does not know is ProofKeyMismatch, naming every key it has', async () => {
    const unknown = { ...abProof, verification_key_hash: 'f'.repeat(64) };
    const r = await verifyTaskProof(unknown, keys, ab.expected);
    expect(r).toMatchObject({ valid: false, code: 'ProofKeyMismatch' });
    if (!r.valid) {
      expect(r.reason).toContain(
        `but this verifier uses ${circuits.task.verificationKeyHash} or ${circuits['task-join'].verificationKeyHash}`,
      );
    }
    await expect(assertTaskProofValid(unknown, keys, ab.expected)).rejects.toThrow(ProofKeyMismatchError);
    // a verifier holding only task.circom's key does not know the join proof's
    await expect(verifyTaskProof(abProof, circuits.task, ab.expected)).resolves.toMatchObject({
      valid: false,
      code: 'ProofKeyMismatch',
    });
  });

  test("a record naming the other circuit's key is corrupted: its public signals do not fit that circuit", async () => {
    const r = await verifyTaskProof(
      { ...abProof, verification_key_hash: circuits.task.verificationKeyHash },
      keys,
      ab.expected,
    );
    expect(r).toMatchObject({ valid: false, code: 'ProofCorrupted' });
    if (!r.valid)
      expect(r.reason).toMatch(/has 11 public signals, but its key .* is of circuits\/task\.circom, which has 4/);
  });
});

describe('the proof service and executeTask', () => {
  test('the service proves with the circuit the parents call for and verifies each proof with its key', async () => {
    const service = createProofService({
      artifactsDir: TEST_ARTIFACTS_ROOT,
      buildArtifacts: false,
      timeoutMs: 30_000,
      maxConcurrent: 1,
      queueSize: 2,
    });
    expect((await service.circuits()).map((a) => a.circuit)).toEqual(['task', 'task-join']);
    const one = honestWitness('svc-one', 'agent-alice', 3n, A);
    const two = joinWitness('svc-two', 'agent-alice', 3n, [A, B]);
    const [oneProof, twoProof] = [await service.generateProof(one.input), await service.generateProof(two.input)];
    expect(oneProof.verification_key_hash).toBe(circuits.task.verificationKeyHash);
    expect(twoProof.verification_key_hash).toBe(circuits['task-join'].verificationKeyHash);
    await expect(service.verifyProof({ record: oneProof, expected: one.expected })).resolves.toEqual({ valid: true });
    await expect(service.verifyProof({ record: twoProof, expected: two.expected })).resolves.toEqual({ valid: true });

    const onlyOne = createProofService({ artifacts: circuits.task, timeoutMs: 30_000, maxConcurrent: 1, queueSize: 1 });
    await expect(onlyOne.generateProof(two.input)).rejects.toThrow(ProofArtifactMissingError);
    await expect(onlyOne.generateProof(two.input)).rejects.toThrow(
      /proven with circuits\/task-join\.circom, but this proof service has artifacts of circuits\/task\.circom/,
    );
  });

  test('executeTask computes over every consumed parent, and over the one parentOutput of a run from before task graphs', async () => {
    const acts = createTaskActivities({ client: undefined as unknown as Client, rawConfig: () => ({}) });
    const run = (input: { parentOutputs?: string[]; parentOutput?: string }) =>
      new MockActivityEnvironment().run(acts.executeTask, {
        taskId: 'exec-join',
        type: 'compute',
        payload: { value: 3 },
        ...input,
      });
    await expect(run({ parentOutputs: ['10', '20'] })).resolves.toMatchObject({ output: '39', proofValue: '3' });
    await expect(run({ parentOutputs: [] })).resolves.toMatchObject({ output: '9' });
    await expect(run({ parentOutput: '10' })).resolves.toMatchObject({ output: '19' });
  });
});
