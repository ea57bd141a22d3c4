/**
 * Field helpers for the task circuits (circuits/task.circom, circuits/task-join.circom).
 *
 * computeOutput() is the ONE TypeScript source of truth for what the `compute` task type computes;
 * the circuits prove the same function (constraint 1 in each). Change all three together.
 */
import { createHash, randomBytes } from 'node:crypto';
import { FIELD_MODULUS } from './field-modulus';
import { poseidonHash } from './poseidon';
import { ProofInputInvalidError } from './errors';
import { publicKeyBytes } from '../submission';

export { FIELD_MODULUS };

/** x mod p, always in [0, p). */
export function toFieldElement(x: bigint): bigint {
  const r = x % FIELD_MODULUS;
  return r < 0n ? r + FIELD_MODULUS : r;
}

/** sha256 of the UTF-8 string, as a big-endian integer, mod the BN254 scalar field. Used for task ids (and agent names before agents had keys). */
export function toField(s: string): bigint {
  const digest = createHash('sha256').update(s, 'utf8').digest('hex');
  return BigInt(`0x${digest}`) % FIELD_MODULUS;
}

/**
 * sha256 of the 32 bytes of a base58 ed25519 public key, as a big-endian integer, mod the BN254 scalar
 * field: the circuit's `agent` input for an agent's key. Throws ProofInputInvalidError for a key that is
 * not 32 bytes of base58.
 */
export function publicKeyField(publicKey: string): bigint {
  let bytes: Uint8Array;
  try {
    bytes = publicKeyBytes(publicKey);
  } catch (err) {
    throw new ProofInputInvalidError(`agentPublicKey: ${(err as Error).message}`);
  }
  const digest = createHash('sha256').update(bytes).digest('hex');
  return BigInt(`0x${digest}`) % FIELD_MODULUS;
}

/**
 * What the proof binds as its agent (the circuit's `agent` public input): the agent's public key, or, for
 * a run started before submissions were signed (no key), the hash of its name.
 */
export function agentField(agent: string, agentPublicKey: string | undefined): bigint {
  return agentPublicKey === undefined ? toField(agent) : publicKeyField(agentPublicKey);
}

/** Poseidon(output, salt): the commitment to a task output (same as the circuit's). */
export async function commit(output: bigint, salt: bigint): Promise<bigint> {
  return commitSync(output, salt);
}

/** Synchronous form of commit() (the hash is pure TypeScript; about 0.5 ms). */
export function commitSync(output: bigint, salt: bigint): bigint {
  return poseidonHash([toFieldElement(output), toFieldElement(salt)]);
}

/**
 * The `compute` task type: output = value^2 + the sum of the consumed parents' outputs (mod p); a root
 * task consumed none. One bigint is one parent's output, as callers from before task graphs pass it.
 */
export function computeOutput(value: bigint, parentOutputs: bigint | readonly bigint[]): bigint {
  const parents = typeof parentOutputs === 'bigint' ? [parentOutputs] : parentOutputs;
  return toFieldElement(parents.reduce((sum, o) => sum + o, value * value));
}

/** A uniformly random field element (248 random bits, always < p), for output salts. */
export function randomSalt(): bigint {
  return BigInt(`0x${randomBytes(31).toString('hex')}`);
}

/** The parent commitment of a root task. */
export const ROOT_PARENT_COMMITMENT = 0n;

/**
 * Parses a decimal string into a field element, rejecting anything that is not a canonical
 * non-negative decimal integer below p (no silent reduction: a value >= p would alias another one).
 */
export function parseField(name: string, value: string): bigint {
  if (typeof value !== 'string' || !/^(0|[1-9][0-9]*)$/.test(value)) {
    throw new ProofInputInvalidError(
      `${name} must be a non-negative decimal integer string, got ${JSON.stringify(value)}`,
    );
  }
  const v = BigInt(value);
  if (v >= FIELD_MODULUS) {
    throw new ProofInputInvalidError(
      `${name} must be below the BN254 scalar field modulus (${FIELD_MODULUS}), got ${value}`,
    );
  }
  return v;
}
