/**
 * The signed submission (activities/submission.ts) and its judgement (activities/submission-activities.ts),
 * as units: the canonical message, signing with a Solana keypair, strict ed25519 verification, and the
 * verdicts for every way a submission can fail to be its agent's. Also the proof's agent field: the hash
 * of the public key's bytes, not of the name.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Keypair } from '@solana/web3.js';
import { ed25519 } from '@noble/curves/ed25519';
import fc from 'fast-check';
import { decodeBase58, encodeBase58 } from '../../activities/chain/base58';
import { KeyStore } from '../../activities/chain/keys';
import { agentField, FIELD_MODULUS, publicKeyField, toField } from '../../activities/proof/fields';
import {
  payloadDigest,
  signSubmission,
  SUBMISSION_DOMAIN,
  submissionMessage,
  submissionMessageText,
  type SubmissionFields,
  verifySubmissionSignature,
} from '../../activities/submission';
import { judgeSubmission, registeredKey } from '../../activities/submission-activities';
import type { SubmissionToVerify } from '../../shared/activity-contract';

const alice = Keypair.generate();
const mallory = Keypair.generate();

const fields = (over: Partial<SubmissionFields> = {}): SubmissionFields => ({
  taskId: 'task-1',
  type: 'compute',
  payload: { value: 2, claimed_output: '7' },
  parentTaskIds: ['parent-1'],
  agent: 'alice',
  agentPublicKey: alice.publicKey.toBase58(),
  ...over,
});

test('the message: the domain tag, a newline, then the canonical JSON of the signed fields', () => {
  const payloadHash = createHash('sha256').update('{"claimed_output":"7","value":2}').digest('hex');
  expect(submissionMessageText(fields())).toBe(
    `agenc-submission-v1\n{"agent":"alice","agent_public_key":"${alice.publicKey.toBase58()}","parents":["parent-1"],` +
      `"payload_sha256":"${payloadHash}","task_id":"task-1","type":"compute"}`,
  );
  expect(SUBMISSION_DOMAIN).toBe('agenc-submission-v1');
  expect(Buffer.from(submissionMessage(fields())).toString('utf8')).toBe(submissionMessageText(fields()));
});

test('canonical: key order of the payload and order of the parents do not change it; every signed field does', () => {
  const base = submissionMessageText(
    fields({ payload: { value: 2, claimed_output: '7' }, parentTaskIds: ['b-parent', 'a-parent'] }),
  );
  expect(
    submissionMessageText(
      fields({ payload: { claimed_output: '7', value: 2 }, parentTaskIds: ['a-parent', 'b-parent'] }),
    ),
  ).toBe(base);
  // What JSON drops on the way through Temporal (an undefined key) it drops here too.
  expect(payloadDigest({ value: 1, note: undefined })).toBe(payloadDigest({ value: 1 }));
  const changes: Array<Partial<SubmissionFields>> = [
    { taskId: 'task-2' },
    { type: 'other' },
    { payload: { value: 3, claimed_output: '7' } },
    { parentTaskIds: [] },
    { parentTaskIds: ['b-parent'] },
    { agent: 'bob' },
    { agentPublicKey: mallory.publicKey.toBase58() },
  ];
  for (const change of changes)
    expect(submissionMessageText(fields({ parentTaskIds: ['b-parent', 'a-parent'], ...change }))).not.toBe(base);
});

test('sign and verify: a Solana keypair signs, the signature is ed25519 over the message, anything altered fails', () => {
  const f = fields();
  const signature = signSubmission(f, alice.secretKey);
  expect(decodeBase58(signature)).toHaveLength(64);
  // Plain ed25519 (RFC 8032) over the message bytes, checkable by any library.
  expect(ed25519.verify(decodeBase58(signature), submissionMessage(f), alice.publicKey.toBytes())).toBe(true);
  expect(verifySubmissionSignature(f, signature)).toBe(true);

  expect(verifySubmissionSignature({ ...f, payload: { value: 3, claimed_output: '7' } }, signature)).toBe(false);
  expect(verifySubmissionSignature({ ...f, taskId: 'task-2' }, signature)).toBe(false);
  expect(verifySubmissionSignature({ ...f, agent: 'bob' }, signature)).toBe(false);
  expect(verifySubmissionSignature({ ...f, parentTaskIds: [] }, signature)).toBe(false);
  expect(verifySubmissionSignature({ ...f, agentPublicKey: mallory.publicKey.toBase58() }, signature)).toBe(false);
  // Malformed keys and signatures are not valid, never an exception.
  for (const bad of ['', 'not-base58-0OIl', encodeBase58(new Uint8Array(63).fill(1)), `${signature}1`])
    expect(verifySubmissionSignature(f, bad)).toBe(false);
  expect(verifySubmissionSignature({ ...f, agentPublicKey: 'short' }, signature)).toBe(false);
});

test("signing refuses a key that is not the submission's public key: no signature in another key's name", () => {
  expect(() => signSubmission(fields(), mallory.secretKey)).toThrow(
    `the signing key's public key is ${mallory.publicKey.toBase58()}, not the submission's ${alice.publicKey.toBase58()}`,
  );
});

test('any flipped bit of the signature fails (strict verification, no second encoding)', () => {
  const f = fields();
  const sig = decodeBase58(signSubmission(f, alice.secretKey));
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 64 * 8 - 1 }), (bit) => {
      const flipped = Uint8Array.from(sig);
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      expect(verifySubmissionSignature(f, encodeBase58(flipped))).toBe(false);
    }),
    { numRuns: 200 },
  );
});

describe('the verdict (verifySubmission)', () => {
  const keysDir = mkdtempSync(path.join(os.tmpdir(), 'agenc-submission-keys-'));
  const keys = new KeyStore(keysDir);
  const victim = keys.agent('victim', { create: true });
  const judge = (input: SubmissionToVerify) => judgeSubmission(input, () => registeredKey(keys, input.agent));
  const signedBy = (signer: Keypair, agent = 'victim'): SubmissionToVerify => {
    const input = {
      taskId: 't-1',
      type: 'compute',
      payload: { value: 1 },
      agent,
      parentTaskId: 'p-1',
      agentPublicKey: signer.publicKey.toBase58(),
    };
    return {
      ...input,
      submissionSignature: signSubmission({ ...input, parentTaskIds: ['p-1'] }, signer.secretKey),
    };
  };

  test("signed by the agent's registered key: valid, with that key", () => {
    expect(judge(signedBy(victim))).toEqual({ valid: true, agentPublicKey: victim.publicKey.toBase58() });
  });

  test('signed by another key for the agent: not_agents_key, naming both keys', () => {
    const verdict = judge(signedBy(mallory));
    expect(verdict).toEqual({
      valid: false,
      code: 'not_agents_key',
      reason:
        `submission of task t-1 refused: it is signed by key ${mallory.publicKey.toBase58()}, which is not agent "victim"'s ` +
        `registered key ${victim.publicKey.toBase58()}: only the holder of "victim"'s key can submit as "victim"; nothing was bonded`,
    });
  });

  test("the agent's public key with a signature by another key, or over other content: bad_signature", () => {
    const forged = { ...signedBy(mallory), agentPublicKey: victim.publicKey.toBase58() };
    expect(judge(forged)).toMatchObject({ valid: false, code: 'bad_signature' });
    expect(judge({ ...signedBy(victim), payload: { value: 2 } })).toMatchObject({
      valid: false,
      code: 'bad_signature',
    });
    expect(judge({ ...signedBy(victim), parentTaskId: undefined })).toMatchObject({ code: 'bad_signature' });
  });

  test('no signature, no key, a malformed key, an agent with no wallet', () => {
    const { submissionSignature: _s, ...unsigned } = signedBy(victim);
    expect(judge(unsigned)).toMatchObject({ code: 'missing_signature' });
    expect((judge(unsigned) as { reason: string }).reason).toMatch(/carries no agent signature/);
    const { agentPublicKey: _k, ...keyless } = signedBy(victim);
    expect(judge(keyless)).toMatchObject({ code: 'missing_signature' });
    expect(judge({ ...signedBy(victim), agentPublicKey: '1111' })).toMatchObject({ code: 'malformed_public_key' });
    const nobody = judge(signedBy(mallory, 'nobody'));
    expect(nobody).toMatchObject({ valid: false, code: 'unknown_agent' });
    expect((nobody as { reason: string }).reason).toContain(
      `agent "nobody" has no registered key (no wallet at ${path.join(keysDir, 'agents', 'nobody.json')}`,
    );
  });

  test('the registration is read only for a signature that verifies', () => {
    const registration = jest.fn(() => ({ publicKey: victim.publicKey.toBase58() }));
    judgeSubmission({ ...signedBy(victim), submissionSignature: '1' }, registration);
    expect(registration).not.toHaveBeenCalled();
  });
});

test("the proof's agent field: sha256 of the public key's 32 bytes mod p, not the name's hash", () => {
  const key = alice.publicKey.toBase58();
  const digest = createHash('sha256').update(alice.publicKey.toBytes()).digest('hex');
  expect(publicKeyField(key)).toBe(BigInt(`0x${digest}`) % FIELD_MODULUS);
  expect(agentField('alice', key)).toBe(publicKeyField(key));
  expect(agentField('alice', key)).not.toBe(toField('alice'));
  // Runs from before agents had keys bind the name, as they did.
  expect(agentField('alice', undefined)).toBe(toField('alice'));
  expect(() => publicKeyField('1111')).toThrow(/agentPublicKey: public key "1111" is \d+ bytes, not the 32/);
});
