/**
 * `agenc proof verify ID` as an operator runs it (`node bin/agenc.js`) against a real system: the Groth16
 * proof, and the chain's commitment record for the task (read from the embedded chain the worker keeps,
 * found through the authority key in the workers' keys directory) compared with the proof record.
 */
import { mkdtempSync } from 'node:fs';
import * as path from 'node:path';
import { BankrunChain, custodyOf } from '../../activities/chain';
import { createCommitActivity } from '../../activities/chain/commit-activities';
import { proofRecordQuery } from '../../shared/messages';
import type { ProofRecord } from '../../shared/proof-records';
import { taskWorkflowId } from '../../shared/task-model';
import { type CliRun, runAgenc } from '../helpers/agenc-cli';
import { testRunDir } from '../helpers/paths';
import { pollUntil } from '../helpers/poll';
import { startTestSystem, type TestSystem } from '../helpers/system';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({ name: 'proof-verify' });
});
afterAll(() => sys?.close());

/** The CLI on this system's namespace, its chain and keys named as an operator's environment would. */
function agenc(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const base: NodeJS.ProcessEnv = {
    ...process.env,
    AGENC_CHAIN_FILE: path.join(sys.dir, 'chain', 'svm-accounts.json'),
    AGENC_KEYS_DIR: path.join(sys.dir, 'keys'),
  };
  delete base.SOLANA_RPC_URL;
  return runAgenc(['--namespace', sys.namespace, 'proof', 'verify', ...args], { env: { ...base, ...env } });
}

interface VerifyReport {
  valid: boolean;
  reason?: string;
  code?: string;
  proof: { valid: boolean };
  chain: {
    ok: boolean;
    signature: string | null;
    record: Record<string, string> | null;
    differences: Array<{ field: string; on_chain: unknown; expected: string }>;
  };
}

const json = async (taskId: string, env: Record<string, string> = {}) => {
  const r = await agenc([taskId, '--output', 'json'], env);
  return { ...r, report: JSON.parse(r.stdout) as VerifyReport };
};

const proofOf = (taskId: string) =>
  pollUntil(
    `task ${taskId}'s proof`,
    () => sys.client.workflow.getHandle(taskWorkflowId(taskId)).query(proofRecordQuery),
    (r): r is ProofRecord => r !== null,
    90_000,
  ) as Promise<ProofRecord>;

let confirmed: string;

test('a confirmed task: the proof is valid and the chain record says what the proof record says (exit 0, both reported)', async () => {
  confirmed = await sys.submit({ type: 'compute', payload: { value: 7 } });
  const state = await sys.wait(confirmed);
  expect(state.status).toBe('confirmed');
  const proof = await proofOf(confirmed);

  const { code, report } = await json(confirmed);
  expect(code).toBe(0);
  expect(report).toMatchObject({
    valid: true,
    proof: { valid: true },
    chain: {
      ok: true,
      signature: state.commit_signature,
      differences: [],
      record: {
        task_id: confirmed,
        agent: proof.agent,
        commitment: proof.commitments.output,
        parent_commitment: proof.commitments.parent,
        verification_key_hash: proof.verification_key_hash,
      },
    },
  });

  const text = await agenc([confirmed]);
  expect(text.code).toBe(0);
  expect(text.stdout).toContain(`✓ proof of task ${confirmed} is valid`);
  expect(text.stdout).toContain(
    `✓ the chain's commitment record matches the proof (signature ${state.commit_signature}`,
  );
});

test('the chain holds a different commitment for the task: exit 1 naming the field, though the proof itself is valid', async () => {
  // An authority-signed record for this task id written before the task ran (a reused task id): it is
  // what the chain says about the task, whatever the task's workflow then does.
  const taskId = `reused-${Date.now().toString(36)}`;
  await createCommitActivity(sys.worker.stakeDeps!, { finalityMs: 0 }).sendCommitments({
    entries: [{ taskId, agent: 'default', commitment: '12345', parentCommitment: '0', verificationKeyHash: 'stale' }],
  });
  await sys.submit({ type: 'compute', payload: { value: 9 }, taskId });
  const proof = await proofOf(taskId);

  const { code, report } = await json(taskId);
  expect(code).toBe(1);
  expect(report).toMatchObject({
    valid: false,
    code: 'ChainRecordMismatch',
    proof: { valid: true },
    chain: { ok: false },
  });
  expect(report.chain.differences).toEqual([
    { field: 'commitment', on_chain: '12345', expected: proof.commitments.output },
    { field: 'verification_key_hash', on_chain: 'stale', expected: proof.verification_key_hash },
  ]);

  const text = await agenc([taskId]);
  expect(text.code).toBe(1);
  expect(text.stdout).toContain(`✓ proof of task ${taskId} is valid`);
  expect(text.stdout).toMatch(
    new RegExp(
      `✗ the chain's commitment record for task ${taskId} .* differs from the proof record: commitment: on-chain "12345", proof "${proof.commitments.output}"`,
    ),
  );
});

test('no record on the chain read (another chain, or none at all): exit 1 naming the missing record; no chain state is exit 3', async () => {
  // A real embedded chain that never saw the task.
  const otherFile = path.join(mkdtempSync(path.join(testRunDir(), 'other-chain-')), 'svm-accounts.json');
  const other = await BankrunChain.open({ accountsFile: otherFile });
  await other.airdrop(sys.worker.stakeDeps!.keys.authority().publicKey, 1_000_000);
  await other.close();

  const { code, report } = await json(confirmed, { AGENC_CHAIN_FILE: otherFile });
  expect(code).toBe(1);
  expect(report).toMatchObject({
    valid: false,
    code: 'ChainRecordMissing',
    proof: { valid: true },
    chain: { ok: false, record: null, signature: null },
  });
  expect(report.chain.differences).toEqual([expect.objectContaining({ field: 'record', on_chain: null })]);
  expect(report.reason).toContain(`no commitment record for task ${confirmed} on the chain (${otherFile})`);

  const nowhere = await agenc([confirmed], {
    AGENC_CHAIN_FILE: path.join(testRunDir(), 'no-such-chain', 'svm-accounts.json'),
  });
  expect(nowhere.code).toBe(3);
  expect(nowhere.stderr).toContain('no embedded chain state at');
});

test('without the keys the record cannot be found: exit 2 saying to pass --authority and --program; with both it is found', async () => {
  const noKeys = { AGENC_KEYS_DIR: path.join(testRunDir(), 'no-keys-here') };
  const missing = await agenc([confirmed], noKeys);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toContain('pass --authority <address>');

  const authority = sys.worker.stakeDeps!.keys.authority().publicKey.toBase58();
  const noProgram = await agenc([confirmed, '--authority', authority], noKeys);
  expect(noProgram.code).toBe(2);
  expect(noProgram.stderr).toContain('pass --program <id>');
  const program = (await custodyOf(sys.worker.stakeDeps!)).programId.toBase58();
  expect((await agenc([confirmed, '--authority', authority, '--program', program], noKeys)).code).toBe(0);
});
