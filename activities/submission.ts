/**
 * A submission is signed by its agent: an ed25519 signature, made with the agent's Solana keypair, over
 * one canonical message. The client signs it (client/tasks.ts submitTask); the task workflow has it
 * verified before anything is bonded (submission-activities.ts verifySubmission), which also checks that
 * the public key is the one registered for the agent's name.
 *
 * The message, as UTF-8 bytes:
 *
 *   agenc-submission-v1\n{"agent":…,"agent_public_key":…,"parents":[…],"payload_sha256":…,"task_id":…,"type":…}
 *
 * the domain tag, a newline, then the canonical JSON (keys sorted, no whitespace) of: the agent's name,
 * its public key (base58), the parent task ids (sorted), the sha256 (hex) of the payload's canonical
 * JSON, the task id and the task type. The domain tag keeps a signature over a submission from being
 * taken for one over anything else the same key signs (a Solana transaction message starts with its
 * signature count or a version byte of 0x80 and up, never with "a"), and names the format's version.
 */
import { createHash } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519';
import { decodeBase58, encodeBase58 } from './chain/base58';
import { canonicalJson } from './proof/canonical-json';
import { dependenciesOf, dependencySpec, type TaskInput } from '../shared/task-model';

export const SUBMISSION_DOMAIN = 'agenc-submission-v1';

/** What a submission's signature covers. */
export interface SubmissionFields {
  taskId: string;
  type: string;
  payload: unknown;
  /**
   * The tasks it depends on, each as its dependency spec (`ID` for a data edge, `ID:order`, `ID:confirmed`),
   * so an edge's kind is signed too; signed sorted, so their order does not matter.
   */
  parentTaskIds: readonly string[];
  agent: string;
  /** base58, 32 bytes. */
  agentPublicKey: string;
}

/** The parents of a task as its signature covers them: a data edge by its id alone (as before task graphs), any other kind as `ID:kind`. */
export function parentsOf(input: Pick<TaskInput, 'parentTaskId' | 'parents'>): string[] {
  return dependenciesOf(input).map(dependencySpec);
}

/** sha256 (hex) of the payload's canonical JSON. */
export function payloadDigest(payload: unknown): string {
  return createHash('sha256').update(canonicalJson(payload), 'utf8').digest('hex');
}

/** The canonical message text (see the top of this file). */
export function submissionMessageText(f: SubmissionFields): string {
  const body = canonicalJson({
    agent: f.agent,
    agent_public_key: f.agentPublicKey,
    parents: [...f.parentTaskIds].sort(),
    payload_sha256: payloadDigest(f.payload),
    task_id: f.taskId,
    type: f.type,
  });
  return `${SUBMISSION_DOMAIN}\n${body}`;
}

/** The bytes that are signed. */
export function submissionMessage(f: SubmissionFields): Uint8Array {
  return new TextEncoder().encode(submissionMessageText(f));
}

/** The 32 bytes of a base58 ed25519 public key; throws naming what is wrong. */
export function publicKeyBytes(publicKey: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = decodeBase58(publicKey);
  } catch (err) {
    throw new Error(`public key ${JSON.stringify(publicKey)} is not base58: ${(err as Error).message}`);
  }
  if (bytes.length !== 32) {
    throw new Error(`public key ${JSON.stringify(publicKey)} is ${bytes.length} bytes, not the 32 of an ed25519 key`);
  }
  return bytes;
}

/**
 * Signs the submission with a Solana keypair's secret key (64 bytes: the 32-byte seed, then the public
 * key). `fields.agentPublicKey` must be that keypair's public key. Returns the signature in base58.
 */
export function signSubmission(fields: SubmissionFields, secretKey: Uint8Array): string {
  if (secretKey.length !== 64) throw new Error(`a Solana secret key is 64 bytes, got ${secretKey.length}`);
  const seed = secretKey.subarray(0, 32);
  const own = encodeBase58(ed25519.getPublicKey(seed));
  if (own !== fields.agentPublicKey) {
    throw new Error(`the signing key's public key is ${own}, not the submission's ${fields.agentPublicKey}`);
  }
  return encodeBase58(ed25519.sign(submissionMessage(fields), seed));
}

/**
 * Whether `signature` (base58) is `fields.agentPublicKey`'s signature over the submission. Strict RFC 8032
 * verification (no ZIP-215 leniency): one message, one valid encoding of its signature. Never throws: a
 * malformed key or signature is simply not valid.
 */
export function verifySubmissionSignature(fields: SubmissionFields, signature: string): boolean {
  try {
    const sig = decodeBase58(signature);
    if (sig.length !== 64) return false;
    return ed25519.verify(sig, submissionMessage(fields), publicKeyBytes(fields.agentPublicKey), { zip215: false });
  } catch {
    return false;
  }
}
