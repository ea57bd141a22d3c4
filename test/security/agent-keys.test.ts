/**
 * Agents are keys, on the real system (dev server, real worker, embedded SVM, real proofs). Mallory wants
 * victim slashed: she submits, as "victim", a dependent with a wrong claimed output, which would bond
 * victim's stake while it speculates and be slashed when its proof fails. She cannot sign as victim:
 * - through submitTask or `agenc task submit`, with her own key file for "victim": refused naming the
 *   field `agent`, what is wrong and what to do, nothing started;
 * - past the client, starting the workflow through the Temporal client with her key, or with victim's
 *   public key and a made-up signature: the workflow refuses it before admission (`submission_refused`),
 *   nothing bonded, victim's stake and bonds untouched.
 * Victim's own submission runs, speculates and confirms, its proof binding victim's public key.
 */
import { mkdtempSync } from 'node:fs';
import * as path from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import { createStakeOperator } from '../../activities/chain';
import { encodeBase58 } from '../../activities/chain/base58';
import { KeyStore } from '../../activities/chain/keys';
import { publicKeyField, toField } from '../../activities/proof/fields';
import { AdmissionError, getTaskState, submitTask } from '../../client/tasks';
import { proofRecordQuery } from '../../shared/messages';
import type { ProofRecord } from '../../shared/proof-records';
import { taskWorkflowId } from '../../shared/task-model';
import { ActivityGate } from '../helpers/activity-gate';
import { signedTaskInput, startTaskWorkflow } from '../helpers/agent-keys';
import { runAgenc } from '../helpers/agenc-cli';
import { testRunDir } from '../helpers/paths';
import { pollUntil } from '../helpers/poll';
import { startTestSystem, type TestSystem } from '../helpers/system';

let sys: TestSystem;
const gate = new ActivityGate();
let parent: string;
let releaseParent: () => void;

beforeAll(async () => {
  sys = await startTestSystem({ name: 'agent-keys', worker: { activityInterceptors: [gate.interceptor] } });
  await sys.fundAgent('victim');
  await sys.fundAgent('mallory');
  // Victim's parent task stays executed (its proof held), so a dependent of it would speculate at once.
  parent = `ak-parent-${Date.now()}`;
  releaseParent = gate.hold('generateProof', parent);
  await sys.submit({ taskId: parent, type: 'compute', payload: { value: 3 }, agent: 'victim' });
  await pollUntil(
    'the parent to execute',
    () => getTaskState(sys.client, parent),
    (s) => s.status === 'proving',
    60_000,
  );
});
afterAll(async () => {
  gate.releaseAll();
  await sys?.close();
});

const keys = () => new KeyStore(sys.keysDir);
const victimStake = async () => {
  const { agents } = await createStakeOperator(sys.worker.stakeDeps!).stakeStatus({ agent: 'victim' });
  const a = agents[0]!;
  const { stake_lamports, available, locked_in_bonds, slashed, bonds } = a;
  return { stake_lamports, available, locked_in_bonds, slashed, bonds };
};
const notStarted = (taskId: string) =>
  expect(sys.client.workflow.getHandle(taskWorkflowId(taskId)).describe()).rejects.toBeInstanceOf(
    WorkflowNotFoundError,
  );
const wrongClaim = { value: 2, claimed_output: '7' };

test("submitTask refuses mallory's key file for agent victim, and a submitter with no key: field agent, nothing started", async () => {
  const before = await victimStake();
  const malloryFile = keys().agentKeyPath('mallory');
  const mallory = keys().agent('mallory').publicKey.toBase58();
  const victim = keys().agent('victim').publicKey.toBase58();

  const otherKey = await submitTask(
    sys.client,
    { type: 'compute', payload: wrongClaim, dependsOn: parent, agent: 'victim', keyFile: malloryFile, taskId: 'ak-1' },
    { keysDir: sys.keysDir },
  ).catch((e: unknown) => e);
  expect(otherKey).toBeInstanceOf(AdmissionError);
  expect(otherKey).toMatchObject({ field: 'agent', code: 'agent_key_mismatch' });
  expect((otherKey as Error).message).toBe(
    `--key-file ${malloryFile} holds key ${mallory}, but agent "victim" is registered with key ${victim} ` +
      `(${keys().agentKeyPath('victim')}): only "victim"'s own key can sign its tasks, so nothing was submitted; ` +
      "pass that agent's key file, or submit as the agent this key belongs to",
  );
  await notStarted('ak-1');

  // A submitter whose keys directory does not hold victim's key cannot sign for it.
  const elsewhere = mkdtempSync(path.join(testRunDir(), 'agent-keys-none-'));
  const noKey = await submitTask(
    sys.client,
    { type: 'compute', payload: wrongClaim, dependsOn: parent, agent: 'victim', taskId: 'ak-2' },
    { keysDir: elsewhere },
  ).catch((e: unknown) => e);
  expect(noKey).toMatchObject({ field: 'agent', code: 'agent_key_missing' });
  expect((noKey as Error).message).toMatch(
    new RegExp(
      `^--agent "victim": no key file at ${path.join(elsewhere, 'agents', 'victim.json')}, and a task is signed with its agent's key, ` +
        'so nothing was submitted; create the agent with `agenc stake init --agent victim',
    ),
  );
  await notStarted('ak-2');
  expect(await victimStake()).toEqual(before);
});

test("`agenc task submit --agent victim --key-file <mallory>` exits 2 naming the field; with victim's key it prints the public key", async () => {
  const cli = (args: string[]) =>
    runAgenc(['--namespace', sys.namespace, 'task', 'submit', ...args], {
      env: { ...process.env, AGENC_KEYS_DIR: sys.keysDir },
    });
  const common = ['--type', 'compute', '--payload', JSON.stringify(wrongClaim), '--agent', 'victim', '-o', 'json'];
  const refused = await cli([...common, '--task-id', 'ak-cli', '--key-file', keys().agentKeyPath('mallory')]);
  expect(refused.code).toBe(2);
  expect(JSON.parse(refused.stdout)).toMatchObject({ field: 'agent', code: 'agent_key_mismatch' });
  expect(JSON.parse(refused.stdout).error).toMatch(
    /is registered with key .*: only "victim"'s own key can sign its tasks/,
  );
  await notStarted('ak-cli');

  const ok = await cli(['--type', 'compute', '--payload', '{"value": 5}', '--agent', 'victim', '-o', 'json']);
  expect(ok.code).toBe(0);
  const submitted = JSON.parse(ok.stdout) as { task_id: string; agent: string; agent_public_key: string };
  expect(submitted).toMatchObject({ agent: 'victim', agent_public_key: keys().agent('victim').publicKey.toBase58() });
  expect(await sys.wait(submitted.task_id)).toMatchObject({
    status: 'confirmed',
    agent_public_key: submitted.agent_public_key,
  });
});

test('forged submissions started through the Temporal client end refused before admission: nothing bonded, victim untouched', async () => {
  const before = await victimStake();
  const mallory = keys().agent('mallory');
  const victim = keys().agent('victim');
  const forged = [
    // Mallory's own key, naming victim: the signature holds, the key is not victim's.
    signedTaskInput({
      taskId: 'ak-forged-key',
      agent: 'victim',
      signer: mallory,
      payload: wrongClaim,
      parentTaskId: parent,
    }),
    // Victim's public key, a signature Mallory made up.
    signedTaskInput({
      taskId: 'ak-forged-sig',
      agent: 'victim',
      signer: mallory,
      payload: wrongClaim,
      parentTaskId: parent,
      tamper: (i) => ({
        ...i,
        agentPublicKey: victim.publicKey.toBase58(),
        submissionSignature: encodeBase58(new Uint8Array(64).fill(9)),
      }),
    }),
  ];
  for (const input of forged) await startTaskWorkflow(sys.client, input);
  const [byKey, bySig] = await Promise.all(forged.map((i) => sys.wait(i.taskId, 60_000)));
  for (const s of [byKey!, bySig!]) {
    expect(s).toMatchObject({
      status: 'rolled_back',
      rollback_reason: 'submission_refused',
      speculation_status: 'non_speculative',
      bond: null,
      result: null,
      agent_public_key: null,
      depth: 0,
    });
  }
  expect(byKey!.error).toBe(
    `submission of task ak-forged-key refused: it is signed by key ${mallory.publicKey.toBase58()}, which is not agent ` +
      `"victim"'s registered key ${victim.publicKey.toBase58()}: only the holder of "victim"'s key can submit as "victim"; nothing was bonded`,
  );
  expect(bySig!.error).toMatch(
    new RegExp(
      `^submission of task ak-forged-sig refused: its signature does not verify against public key ${victim.publicKey.toBase58()}`,
    ),
  );
  // Nothing reached the chain for them (no bond, no slash), and the parent, still proving, never heard of them.
  expect(await victimStake()).toEqual(before);
  expect(await getTaskState(sys.client, parent)).toMatchObject({ status: 'proving', dependents: [] });
});

test("victim's own submission speculates and confirms; its proof binds victim's public key, not the name", async () => {
  const victim = keys().agent('victim').publicKey;
  const child = await sys.submit({ type: 'compute', payload: { value: 2 }, dependsOn: parent, agent: 'victim' });
  const speculating = await pollUntil(
    'the child to speculate',
    () => getTaskState(sys.client, child),
    (s) => s.speculation_status === 'speculative',
    60_000,
  );
  expect(speculating.bond).toMatchObject({ state: 'locked' });
  releaseParent();
  expect((await sys.wait(parent)).status).toBe('confirmed');
  const state = await sys.wait(child);
  expect(state).toMatchObject({
    status: 'confirmed',
    speculation_status: 'speculative',
    agent_public_key: victim.toBase58(),
    bond: { state: 'released' },
  });
  const record = (await sys.client.workflow.getHandle(taskWorkflowId(child)).query(proofRecordQuery)) as ProofRecord;
  expect(record.agent_public_key).toBe(victim.toBase58());
  expect(record.public_signals[1]).toBe(publicKeyField(victim.toBase58()).toString());
  expect(record.public_signals[1]).not.toBe(toField('victim').toString());
  // Its bond (the only one victim ever locked) is settled: nothing is locked, nothing was slashed.
  expect(await victimStake()).toMatchObject({ locked_in_bonds: 0, slashed: 0, bonds: [] });
});
