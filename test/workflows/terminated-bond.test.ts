/**
 * A speculative task terminated by an operator never settles its bond. Against the real dev server,
 * proofs and SVM: `agenc admin check-integrity` names the bond and the command that fixes it, and
 * `agenc stake release-bond` releases it (never the bond of a task still running, which settles its own).
 */
import { runOperatorAction } from '../../client/commands/operator';
import { getTaskState } from '../../client/tasks';
import type { IntegrityReport } from '../../shared/operator-contract';
import type { SettleBondResult } from '../../shared/stake-records';
import { taskWorkflowId } from '../../shared/task-model';
import { ActivityGate } from '../helpers/activity-gate';
import { pollUntil } from '../helpers/poll';
import { speculativeConfig, startTestSystem, type TestSystem } from '../helpers/system';

const agent = 'orphaned';
let sys: TestSystem;
const gate = new ActivityGate();

beforeAll(async () => {
  sys = await startTestSystem({
    name: 'terminated-bond',
    // Clean-up frees a terminated task's slots within a second.
    config: speculativeConfig({ speculation: { limits: { gc_interval_ms: 500 } } }),
    worker: { activityInterceptors: [gate.interceptor] },
  });
  await sys.fundAgent(agent);
});
afterAll(async () => {
  gate.releaseAll();
  await sys?.close();
});

test('the bond of a terminated speculative task: check-integrity names it and the command, release-bond releases it once', async () => {
  const root = `tb-root-${Date.now()}`;
  const releaseRoot = gate.hold('generateProof', root);
  await sys.submit({ taskId: root, type: 'compute', payload: { value: 1 }, agent });
  const child = await sys.submit({ type: 'compute', payload: { value: 2 }, dependsOn: root, agent });
  const speculating = await pollUntil(
    'the child bonds',
    () => getTaskState(sys.client, child),
    (s) => s.bond?.state === 'locked',
  );

  await expect(
    runOperatorAction(sys.client, { kind: 'releaseBond', input: { taskId: child, reason: 'test' } }),
  ).rejects.toThrow(new RegExp(`task ${child}'s workflow is running and settles its own bond`));

  await sys.client.workflow
    .getHandle(taskWorkflowId(child))
    .terminate('test: an operator terminates a speculative task');
  const report = await pollUntil(
    'check-integrity reports the orphaned bond',
    () => runOperatorAction<IntegrityReport>(sys.client, { kind: 'checkIntegrity' }),
    (r) => !r.ok,
    30_000,
    1000,
  );
  expect(report.problems).toEqual([
    expect.stringContaining(
      `of task ${child} (agent "${agent}", ${speculating.bond!.amount} lamports) has no live commitment; if the task's workflow closed without settling it (terminated), fix: agenc stake release-bond --task ${child} --reason "<why>"`,
    ),
  ]);

  const released = await runOperatorAction<SettleBondResult>(sys.client, {
    kind: 'releaseBond',
    input: { taskId: child, reason: 'terminated by mistake' },
  });
  expect(released).toMatchObject({ outcome: 'released', returned: speculating.bond!.amount, alreadySettled: false });
  expect(
    await runOperatorAction<SettleBondResult>(sys.client, {
      kind: 'releaseBond',
      input: { taskId: child, reason: 'again' },
    }),
  ).toMatchObject({
    outcome: 'released',
    alreadySettled: true,
  });
  expect(await runOperatorAction<IntegrityReport>(sys.client, { kind: 'checkIntegrity' })).toMatchObject({
    ok: true,
    problems: [],
  });
  releaseRoot();
  expect(await sys.wait(root)).toMatchObject({ status: 'confirmed' });
});
