/**
 * The task circuit with real artifacts and real Groth16 proofs (no mocks). One artifacts build for
 * the file (beforeAll), cached under .data/test-circuits: about 25 s cold, instant afterwards.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureArtifacts, loadArtifactsFromDir, type CircuitArtifacts } from '../../activities/proof/artifacts';
import { verificationKeyHash } from '../../activities/proof/canonical-json';
import {
  ProofArtifactMissingError,
  ProofCorruptedError,
  ProofInputInvalidError,
  ProofKeyMismatchError,
  ProofWitnessInvalidError,
} from '../../activities/proof/errors';
import { commit, commitSync, computeOutput, FIELD_MODULUS, randomSalt, toField } from '../../activities/proof/fields';
import { poseidonHash } from '../../activities/proof/poseidon';
import { assertTaskProofValid, proveTask, verifyTaskProof } from '../../activities/proof/prover';
import { releaseProverResources, snarkjs } from '../../activities/proof/snarkjs';
import type { ProofRecord } from '../../shared/proof-records';
import { honestWitness, TEST_ARTIFACTS_ROOT, TEST_SCRATCH_DIR, type Witness } from './helpers';

jest.setTimeout(180_000);

let artifacts: CircuitArtifacts;
let root: Witness;
let rootProof: ProofRecord;

beforeAll(async () => {
  artifacts = await ensureArtifacts({ artifactsDir: TEST_ARTIFACTS_ROOT });
  root = honestWitness('task-root', 'agent-alice', 7n);
  rootProof = await proveTask(root.input, artifacts);
});

afterAll(async () => {
  await releaseProverResources();
});

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

describe('fields', () => {
  test('Poseidon in TypeScript matches the circomlib reference vector', () => {
    expect(poseidonHash([1n, 2n])).toBe(7853200120776062878684798364095072458815029376092732009249414926327459813530n);
  });

  test('toField is sha256 mod p, commit is Poseidon(output, salt), computeOutput is value^2 + parentOutput', async () => {
    expect(toField('')).toBe(
      BigInt('0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855') % FIELD_MODULUS,
    );
    expect(await commit(3n, 4n)).toBe(poseidonHash([3n, 4n]));
    expect(computeOutput(7n, 0n)).toBe(49n);
    expect(computeOutput(3n, 49n)).toBe(58n);
    expect(computeOutput(FIELD_MODULUS - 1n, 0n)).toBe(1n);
    const s = randomSalt();
    expect(s >= 0n && s < FIELD_MODULUS).toBe(true);
  });
});

describe('honest proofs', () => {
  test('a root task proves and verifies', async () => {
    expect(rootProof.proof_type).toBe('groth16');
    expect(rootProof.public_signals).toEqual([
      toField('task-root').toString(),
      toField('agent-alice').toString(),
      root.commitment.toString(),
      '0',
    ]);
    expect(rootProof.verification_key_hash).toBe(artifacts.verificationKeyHash);
    expect(rootProof.commitments).toEqual({ output: root.commitment.toString(), parent: '0', parents: [] });
    expect(rootProof.task_id).toBe('task-root');
    expect(rootProof.agent).toBe('agent-alice');
    expect(rootProof.timing.duration_ms).toBeGreaterThan(0);
    expect(Date.parse(rootProof.timing.finished_at)).toBeGreaterThanOrEqual(Date.parse(rootProof.timing.started_at));
    await expect(verifyTaskProof(rootProof, artifacts, root.expected)).resolves.toEqual({ valid: true });
  });

  test('a child built on its parent output proves, naming the parent commitment', async () => {
    const child = honestWitness('task-child', 'agent-bob', 3n, root);
    expect(child.output).toBe(9n + 49n);
    const proof = await proveTask(child.input, artifacts);
    expect(proof.commitments.parent).toBe(root.commitment.toString());
    await expect(verifyTaskProof(proof, artifacts, child.expected)).resolves.toEqual({ valid: true });
    // the parent commitment is bound: the same proof does not pass as built on another parent
    const other = honestWitness('task-other', 'agent-alice', 5n);
    const r = await verifyTaskProof(proof, artifacts, {
      ...child.expected,
      parentCommitment: other.commitment.toString(),
    });
    expect(r).toMatchObject({ valid: false, code: 'ProofPublicSignalsMismatch' });
  });
});

describe('cheats fail witness generation', () => {
  test('wrong output', async () => {
    const w = honestWitness('task-1', 'agent-alice', 7n);
    const output = 50n;
    const input = { ...w.input, output: output.toString() };
    await expect(proveTask(input, artifacts)).rejects.toThrow(ProofWitnessInvalidError);
    await expect(proveTask(input, artifacts)).rejects.toThrow(/output 50 is not value\^2 \+ parentOutput = 49/);
  });

  test('wrong parent commitment', async () => {
    const child = honestWitness('task-2', 'agent-bob', 3n, root);
    const forged = { ...child.input, parentCommitment: commitSync(49n, randomSalt()).toString() };
    await expect(proveTask(forged, artifacts)).rejects.toThrow(ProofWitnessInvalidError);
    // claiming another parent output under the real commitment
    const lied = { ...child.input, parentOutput: '1', output: computeOutput(3n, 1n).toString() };
    await expect(proveTask(lied, artifacts)).rejects.toThrow(
      /parentCommitment .* is not Poseidon\(parentOutput, parentSalt\)/,
    );
  });

  test('a root with nonzero parentOutput', async () => {
    const w = honestWitness('task-3', 'agent-alice', 7n);
    const input = { ...w.input, parentOutput: '5', output: computeOutput(7n, 5n).toString() };
    await expect(proveTask(input, artifacts)).rejects.toThrow(ProofWitnessInvalidError);
    await expect(proveTask(input, artifacts)).rejects.toThrow(/a root task .* must have parentOutput 0/);
  });

  test('malformed numbers are refused before the circuit', async () => {
    await expect(proveTask({ ...root.input, value: '-1' }, artifacts)).rejects.toThrow(ProofInputInvalidError);
    await expect(proveTask({ ...root.input, salt: FIELD_MODULUS.toString() }, artifacts)).rejects.toThrow(
      ProofInputInvalidError,
    );
  });
});

describe('cheats fail verification', () => {
  test('the proof does not verify for another task id', async () => {
    const r = await verifyTaskProof(rootProof, artifacts, { ...root.expected, taskId: 'task-other' });
    expect(r).toMatchObject({ valid: false, code: 'ProofPublicSignalsMismatch' });
    // rewriting the public signal to the other task id breaks the proof itself
    const forged = clone(rootProof);
    forged.public_signals[0] = toField('task-other').toString();
    const r2 = await verifyTaskProof(forged, artifacts, { ...root.expected, taskId: 'task-other' });
    expect(r2).toMatchObject({ valid: false, code: 'ProofInvalid' });
  });

  test('the proof does not verify for another agent', async () => {
    const r = await verifyTaskProof(rootProof, artifacts, { ...root.expected, agent: 'agent-mallory' });
    expect(r).toMatchObject({ valid: false, code: 'ProofPublicSignalsMismatch' });
    const forged = clone(rootProof);
    forged.public_signals[1] = toField('agent-mallory').toString();
    const r2 = await verifyTaskProof(forged, artifacts, { ...root.expected, agent: 'agent-mallory' });
    expect(r2).toMatchObject({ valid: false, code: 'ProofInvalid' });
  });

  test('the proof does not verify with another output commitment', async () => {
    const other = commitSync(50n, root.salt).toString();
    const forged = clone(rootProof);
    forged.public_signals[2] = other;
    forged.commitments.output = other;
    const r = await verifyTaskProof(forged, artifacts, { ...root.expected, outputCommitment: other });
    expect(r).toMatchObject({ valid: false, code: 'ProofInvalid' });
  });

  test('a corrupted proof is reported, not crashed on', async () => {
    const notAPoint = clone(rootProof);
    notAPoint.proof.pi_a[0] = (BigInt(notAPoint.proof.pi_a[0]!) + 1n).toString();
    const r1 = await verifyTaskProof(notAPoint, artifacts, root.expected);
    expect(r1.valid).toBe(false);
    expect(r1).toMatchObject({ code: expect.stringMatching(/^Proof(Corrupted|Invalid)$/) });

    const garbage = clone(rootProof);
    (garbage.proof as unknown as { pi_b: unknown }).pi_b = 'zz';
    const r2 = await verifyTaskProof(garbage, artifacts, root.expected);
    expect(r2).toMatchObject({ valid: false, code: 'ProofCorrupted' });
    if (!r2.valid) expect(r2.reason).toMatch(/pi_b/);
    await expect(assertTaskProofValid(garbage, artifacts, root.expected)).rejects.toThrow(ProofCorruptedError);

    const swapped = clone(rootProof);
    swapped.proof.pi_c = [...rootProof.proof.pi_a];
    const r3 = await verifyTaskProof(swapped, artifacts, root.expected);
    expect(r3).toMatchObject({ valid: false, code: 'ProofInvalid' });
  });

  test('a proof from another key is rejected by the verification key hash', async () => {
    // another key for the same circuit: one more phase-2 contribution
    const dir = path.join(TEST_SCRATCH_DIR, 'other-key');
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    const zkey = path.join(dir, 'other.zkey');
    await snarkjs.zKey.contribute(artifacts.zkeyPath, zkey, 'other', 'another key for the test');
    const vk = await snarkjs.zKey.exportVerificationKey(zkey);
    const other = {
      circuit: artifacts.circuit,
      wasmPath: artifacts.wasmPath,
      zkeyPath: zkey,
      verificationKeyHash: verificationKeyHash(vk),
    };
    expect(other.verificationKeyHash).not.toBe(artifacts.verificationKeyHash);

    const proof = await proveTask(root.input, other);
    const r = await verifyTaskProof(proof, artifacts, root.expected);
    expect(r).toMatchObject({ valid: false, code: 'ProofKeyMismatch' });
    await expect(assertTaskProofValid(proof, artifacts, root.expected)).rejects.toThrow(ProofKeyMismatchError);
    // lying about the key in the record does not help: the pairing fails
    const r2 = await verifyTaskProof(
      { ...proof, verification_key_hash: artifacts.verificationKeyHash },
      artifacts,
      root.expected,
    );
    expect(r2).toMatchObject({ valid: false, code: 'ProofInvalid' });
  });
});

describe('artifacts', () => {
  test('a missing artifact is a typed error', async () => {
    await expect(
      proveTask(root.input, { ...artifacts, zkeyPath: path.join(TEST_SCRATCH_DIR, 'nope.zkey') }),
    ).rejects.toThrow(ProofArtifactMissingError);
    await expect(
      proveTask(root.input, { ...artifacts, wasmPath: path.join(TEST_SCRATCH_DIR, 'nope.wasm') }),
    ).rejects.toThrow(/circuit wasm .* is missing/);
    await expect(
      verifyTaskProof(
        rootProof,
        { ...artifacts, verificationKeyPath: path.join(TEST_SCRATCH_DIR, 'nope.json') },
        root.expected,
      ),
    ).rejects.toThrow(ProofArtifactMissingError);
    const empty = path.join(TEST_SCRATCH_DIR, 'empty-root');
    fs.rmSync(empty, { recursive: true, force: true });
    await expect(ensureArtifacts({ artifactsDir: empty, build: false })).rejects.toThrow(ProofArtifactMissingError);
    // a build directory missing a file (e.g. deleted by hand) is not a cache hit
    const partial = path.join(TEST_SCRATCH_DIR, 'partial');
    fs.rmSync(partial, { recursive: true, force: true });
    fs.cpSync(artifacts.dir, partial, { recursive: true });
    fs.rmSync(path.join(partial, 'task.zkey'));
    expect(() => loadArtifactsFromDir(partial)).toThrow(/task\.zkey is missing/);
  });

  test('the second ensureArtifacts is a cache hit and fast', async () => {
    const t0 = performance.now();
    const again = await ensureArtifacts({ artifactsDir: TEST_ARTIFACTS_ROOT });
    const ms = performance.now() - t0;
    expect(again.cacheHit).toBe(true);
    expect(again.verificationKeyHash).toBe(artifacts.verificationKeyHash);
    expect(again.dir).toBe(artifacts.dir);
    expect(ms).toBeLessThan(500);
    expect(again.constraints).toBeLessThan(2000);
    const vk = JSON.parse(fs.readFileSync(again.verificationKeyPath, 'utf8')) as unknown;
    expect(verificationKeyHash(vk)).toBe(again.verificationKeyHash);
  });
});
