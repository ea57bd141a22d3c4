/**
 * The whole default plan (the runbook's table) on the real time-skipping test server: 1% for 24h,
 * 5% for 48h, 25% for 72h, 50% for a week, then 100% ongoing, in simulated weeks.
 */
import { defaultPlan, rolloutWorkflowId } from '../../shared/rollout-model';
import { TASK_QUEUE } from '../../shared/task-queues';
import { startTimeSkipping, type TimeSkippingRig } from './helpers';
import { rolloutApproveSignal } from '../../shared/messages';

let rig: TimeSkippingRig;
beforeAll(async () => {
  rig = await startTimeSkipping();
});
afterAll(() => rig?.close());

test('the default plan runs every phase in order and reaches 100%', async () => {
  // The runbook's phases and durations; evaluating hourly rather than every 10 minutes keeps the
  // test to about 300 evaluations (each is a real activity and a real signal on the test server).
  const plan = { ...defaultPlan(), evaluation_interval_ms: 3_600_000 };
  const t0 = Date.now();
  const handle = await rig.client.workflow.start('rollout', {
    workflowId: rolloutWorkflowId('full'),
    taskQueue: TASK_QUEUE,
    args: [{ name: 'full', plan }],
  });
  const s = await rig.advanceUntil(
    'full',
    (st) => st.current_phase === 5 && st.phases[4]!.evaluations >= 3,
    '1 day',
    40,
  );
  const control = await rig.control();
  expect(control).toMatchObject({ enabled: true, rollout_percentage: 100 });
  for (const p of s.phases.slice(0, 4)) {
    expect(p.state).toBe('completed');
    // green for the whole window: exactly duration / 10 minutes evaluations, then proceed
    const duration = plan.phases[p.phase - 1]!.duration_ms!;
    expect(p.evaluations).toBe(duration / plan.evaluation_interval_ms);
    expect(Date.parse(p.ended_at!) - Date.parse(p.started_at!)).toBeGreaterThanOrEqual(duration);
    expect(p.decision_counts).toMatchObject({ percentage_set: 1, continue: p.evaluations, proceed: 1 });
  }
  expect(s.phases[4]!.state).toBe('monitoring');
  expect(s.phases[4]!.waiting_for).toMatch(/ongoing/);
  const simulatedDays = (Date.parse(s.phases[4]!.started_at!) - Date.parse(s.started_at)) / 86_400_000;
  expect(simulatedDays).toBeGreaterThanOrEqual(13);

  // The ongoing phase runs until abort or approve; approve ends the rollout as done.
  await handle.signal(rolloutApproveSignal);
  const final = await rig.finish('full');
  expect(final.state).toBe('completed');
  expect(final.phases[4]!.state).toBe('approved');
  process.stderr.write(
    `default plan: ${simulatedDays.toFixed(1)} simulated days in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`,
  );
});
