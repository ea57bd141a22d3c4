/**
 * Agents are keys: a task whose submission is not signed by the agent it names (no signature, a forged
 * one, a key that is not the agent's registered key, a submission altered after signing) is refused by
 * the workflow before it does anything else: `rolled_back` as `submission_refused`, saying why, never
 * admitted, never bonded, never executed, and its parent never hears of it. Started directly through the
 * Temporal client, past submitTask's own checks. The real task and control workflows on the
 * time-skipping server; verifySubmission's verdict is the real judgement against the rig's agent keys.
 */
import { Keypair } from '@solana/web3.js';
import { encodeBase58 } from '../../activities/chain/base58';
import type { TaskInput } from '../../shared/task-model';
import { ensureAgentKey, signedTaskInput, startTaskWorkflow } from '../helpers/agent-keys';
import { startFastRig, type FastRig } from './rig';

let rig: FastRig;
beforeAll(async () => {
  rig = await startFastRig();
});
afterAll(() => rig?.close());

/** Nothing but the verification ran for the task: no admission, no bond, no execution, no proof. */
function onlyVerified(taskId: string): void {
  expect(rig.stubs.called('verifySubmission', taskId)).toHaveLength(1);
  for (const activity of ['admitSpeculation', 'lockBond', 'executeTask', 'generateProof', 'slashBond'] as const) {
    expect([activity, rig.stubs.called(activity, taskId)]).toEqual([activity, []]);
  }
}

test('forged submissions for agent "victim" are refused before anything is bonded; the parent never hears of them', async () => {
  const parent = 'sig-parent';
  const parentProof = rig.stubs.hold('generateProof', parent);
  await rig.submit(parent, { value: 1, agent: 'victim' });
  await rig.until('the parent to execute', [parent], ([s]) => s!.status === 'proving');
  const victim = ensureAgentKey(rig.keysDir, 'victim');
  const mallory = ensureAgentKey(rig.keysDir, 'mallory');
  const forged = (taskId: string, signer: Keypair, tamper?: (i: TaskInput) => TaskInput) =>
    signedTaskInput({
      taskId,
      agent: 'victim',
      signer,
      payload: { value: 2, claimed_output: '7' },
      parentTaskId: parent,
      tamper,
    });

  const cases: Array<[string, TaskInput, RegExp]> = [
    // Mallory signs with her own key and names victim: the signature holds, the key is not victim's.
    [
      'sig-other-key',
      forged('sig-other-key', mallory),
      new RegExp(`signed by key ${mallory.publicKey.toBase58()}, which is not agent "victim"'s registered key`),
    ],
    // Victim's public key with a signature Mallory made up.
    [
      'sig-made-up',
      forged('sig-made-up', mallory, (i) => ({
        ...i,
        agentPublicKey: victim.publicKey.toBase58(),
        submissionSignature: encodeBase58(new Uint8Array(64).fill(7)),
      })),
      /its signature does not verify against public key/,
    ],
    // Victim's own signature, on another payload than the one it carries.
    [
      'sig-altered',
      forged('sig-altered', victim, (i) => ({ ...i, payload: { value: 3 } })),
      /it was not made with that key, or the submission was altered after signing/,
    ],
    // No signature at all (a client from before agents had keys).
    [
      'sig-missing',
      forged('sig-missing', victim, ({ agentPublicKey: _k, submissionSignature: _s, ...i }) => i),
      /it carries no agent public key and signature/,
    ],
  ];
  for (const [, input] of cases) await startTaskWorkflow(rig.client, input);
  const ended = await rig.final(cases.map(([id]) => id));
  for (const [i, [taskId, , why]] of cases.entries()) {
    expect(ended[i]).toMatchObject({
      task_id: taskId,
      status: 'rolled_back',
      rollback_reason: 'submission_refused',
      speculation_status: 'non_speculative',
      agent_public_key: null,
      bond: null,
      result: null,
    });
    expect(ended[i]!.error).toMatch(new RegExp(`^submission of task ${taskId} refused: `));
    expect(ended[i]!.error).toMatch(why);
    expect(ended[i]!.error).toMatch(/nothing was bonded$/);
    onlyVerified(taskId);
  }
  expect((await rig.state(parent)).dependents).toEqual([]);

  // The real submission, signed by victim's key, speculates on the parent and confirms, its proof bound to that key.
  const honest = await rig.submit('sig-honest', { value: 2, dependsOn: parent, agent: 'victim' });
  await rig.until('the honest child to speculate', [honest], ([s]) => s!.speculation_status === 'speculative');
  parentProof.release();
  const [, child] = await rig.final([parent, honest]);
  expect(child).toMatchObject({ status: 'confirmed', agent_public_key: victim.publicKey.toBase58() });
  expect(rig.stubs.called('generateProof', honest)[0]!.input).toMatchObject({
    agent: 'victim',
    agentPublicKey: victim.publicKey.toBase58(),
  });
  expect(rig.stubs.called('verifyProof', honest)[0]!.input).toMatchObject({
    expected: { agent: 'victim', agentPublicKey: victim.publicKey.toBase58() },
  });
  expect(rig.stubs.lockedBonds()).toEqual([]);
  expect(rig.stubs.called('slashBond')).toEqual([]);
  expect(
    rig.metrics.filter((m) => m.name === 'rolledBack' && m.args[0] === 'submission_refused').map((m) => m.args),
  ).toEqual(cases.map(() => ['submission_refused', false]));
});

test('an agent with no registered key is refused, whoever signed', async () => {
  const stranger = Keypair.generate();
  const taskId = await startTaskWorkflow(
    rig.client,
    signedTaskInput({ taskId: 'sig-unregistered', agent: 'nobody', signer: stranger, payload: { value: 1 } }),
  );
  const [ended] = await rig.final([taskId]);
  expect(ended).toMatchObject({ status: 'rolled_back', rollback_reason: 'submission_refused', bond: null });
  expect(ended!.error).toMatch(/agent "nobody" has no registered key \(no wallet at .*nobody\.json on this worker/);
  onlyVerified(taskId);
});
