import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { verificationKeyHash } from '../../activities/proof/canonical-json';
import { commitSync, computeOutput, randomSalt } from '../../activities/proof/fields';
import { snarkjs } from '../../activities/proof/snarkjs';
import type { ExpectedPublicInputs, GenerateProofInput } from '../../shared/proof-records';

/** Scratch space of the proof tests (other keys, broken copies, a second cache root), under .data/. */
export const TEST_SCRATCH_DIR = path.resolve(__dirname, '..', '..', '.data', 'test-circuits');

/**
 * The artifacts cache the proof tests prove with: the suite's (test/global-setup.ts builds it and sets
 * AGENC_CIRCUITS_DIR), else one of their own under .data/ so repeated runs reuse the (slow) build.
 */
export const TEST_ARTIFACTS_ROOT = process.env.AGENC_CIRCUITS_DIR ?? TEST_SCRATCH_DIR;

export interface Witness {
  input: GenerateProofInput;
  expected: ExpectedPublicInputs;
  output: bigint;
  salt: bigint;
  commitment: bigint;
}

/** An honest witness for a root task (parent = null) or a child of `parent`. */
export function honestWitness(taskId: string, agent: string, value: bigint, parent: Witness | null = null): Witness {
  const parentCommitment = parent ? parent.commitment : 0n;
  const joined = joinWitness(taskId, agent, value, parent ? [parent] : []);
  return {
    ...joined,
    input: {
      taskId,
      agent,
      value: value.toString(),
      parentOutput: (parent ? parent.output : 0n).toString(),
      parentSalt: (parent ? parent.salt : 0n).toString(),
      parentCommitment: parentCommitment.toString(),
      output: joined.output.toString(),
      salt: joined.salt.toString(),
    },
    expected: {
      taskId,
      agent,
      outputCommitment: joined.commitment.toString(),
      parentCommitment: parentCommitment.toString(),
    },
  };
}

/** An honest witness for a task that consumed `parents`' outputs, in order, in the `parents` input form. */
export function joinWitness(taskId: string, agent: string, value: bigint, parents: readonly Witness[]): Witness {
  const output = computeOutput(
    value,
    parents.map((p) => p.output),
  );
  const salt = randomSalt();
  const commitment = commitSync(output, salt);
  return {
    input: {
      taskId,
      agent,
      value: value.toString(),
      parents: parents.map((p) => ({
        output: p.output.toString(),
        salt: p.salt.toString(),
        commitment: p.commitment.toString(),
      })),
      output: output.toString(),
      salt: salt.toString(),
    },
    expected: {
      taskId,
      agent,
      outputCommitment: commitment.toString(),
      parentCommitments: parents.map((p) => p.commitment.toString()),
    },
    output,
    salt,
    commitment,
  };
}

/** The ApplicationFailure an activity's promise rejects with (the test fails if it resolves). */
export async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ApplicationFailure);
    return e as ApplicationFailure;
  }
  throw new Error('expected a failure');
}

/**
 * Another build's keys for the same circuit, written under `dir`: one more phase-2 contribution to
 * `zkeyPath`, as an independent build (a proof worker with artifacts of its own) makes.
 */
export async function anotherBuildsKeys(
  zkeyPath: string,
  dir: string,
  why: string,
): Promise<{ zkeyPath: string; verificationKeyPath: string; verificationKeyHash: string }> {
  fs.mkdirSync(dir, { recursive: true });
  const otherZkey = path.join(dir, 'other.zkey');
  await snarkjs.zKey.contribute(zkeyPath, otherZkey, 'other build', why);
  const vk = await snarkjs.zKey.exportVerificationKey(otherZkey);
  const verificationKeyPath = path.join(dir, 'other_verification_key.json');
  fs.writeFileSync(verificationKeyPath, JSON.stringify(vk));
  return { zkeyPath: otherZkey, verificationKeyPath, verificationKeyHash: verificationKeyHash(vk) };
}
