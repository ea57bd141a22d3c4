/**
 * The gauges a worker reads from the speculation-control workflow at scrape time, when that read
 * fails: a scrape of /metrics must say "unknown" the Prometheus way (no sample, and
 * speculation_control_up 0), never the last value it read nor 0, which the runbook's drain scripts
 * take for "no speculative tasks left". Against a real worker on the suite's server; the control
 * workflow is deleted (as `temporal workflow delete` does), so its status query fails for real.
 */
import { CONTROL_WORKFLOW_ID, setConfigUpdate } from '../../shared/messages';
import { controlHandle, controlStatus, ensureControl } from '../../temporal/control';
import { http, parseExposition } from './helpers';
import { pollUntil } from '../helpers/poll';
import { startTestSystem, type TestSystem } from '../helpers/system';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({ name: 'control-gauges' });
});
afterAll(() => sys?.close());

/** Gauges filled from the control workflow's status query, and the one that says whether it answered. */
const CONTROL_GAUGES = [
  'speculation_active_tasks',
  'speculation_enabled',
  'speculation_proof_queue_capacity',
  'speculation_rollout_percentage',
  'speculation_stake_at_risk_lamports',
  'speculation_control_up',
];

/** One scrape of the worker's /metrics: the sample of each control gauge that has one. */
async function controlSamples(): Promise<Record<string, number>> {
  const res = await http(sys.worker.httpPort!, 'GET', '/metrics');
  expect(res.status).toBe(200);
  const out: Record<string, number> = {};
  for (const s of parseExposition(res.text)) if (CONTROL_GAUGES.includes(s.name)) out[s.name] = s.value;
  return out;
}

test('while the control workflow answers, its gauges are exposed and speculation_control_up is 1', async () => {
  // A value no gauge would show by default, so a stale one is recognisable below.
  await controlHandle(sys.client).executeUpdate(setConfigUpdate, {
    args: [{ 'speculation.features.rollout_percentage': 37 }],
  });
  expect(await controlSamples()).toEqual({
    speculation_active_tasks: 0,
    speculation_enabled: 1,
    speculation_proof_queue_capacity: expect.any(Number),
    speculation_rollout_percentage: 37,
    speculation_stake_at_risk_lamports: 0,
    speculation_control_up: 1,
  });
});

test('when the status query fails, the gauges have no sample (not the last value, not 0) and speculation_control_up is 0', async () => {
  const { runId } = await controlHandle(sys.client).describe();
  await sys.client.workflowService.deleteWorkflowExecution({
    namespace: sys.namespace,
    workflowExecution: { workflowId: CONTROL_WORKFLOW_ID, runId },
  });
  // Deletion is asynchronous on the server: wait until the query really fails, as the worker's does.
  await pollUntil(
    'the control status query to fail',
    () =>
      controlStatus(sys.client).then(
        () => 'answered',
        () => 'failed',
      ),
    (v) => v === 'failed',
    30_000,
    200,
  );
  expect(await controlSamples()).toEqual({ speculation_control_up: 0 });
  // The runbook's smoke test greps `^speculation_active_tasks`: it now reports the metric missing,
  // and its drain loop, which waits for "0", keeps waiting instead of declaring the system drained.
});

test('once the control workflow answers again, the gauges come back with its values', async () => {
  await ensureControl(sys.client, sys.worker.config.raw);
  // Started again from the configuration file, whose rollout is 100%.
  await pollUntil('the gauges to come back', controlSamples, (s) => s.speculation_control_up === 1, 30_000, 200);
  expect(await controlSamples()).toMatchObject({
    speculation_active_tasks: 0,
    speculation_rollout_percentage: 100,
    speculation_control_up: 1,
  });
});
