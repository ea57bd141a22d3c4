/**
 * Load with admission (loopback only, bounded): a burst of 1,000 submissions at once against
 * `max_pending_operations`. Every refusal is clear and starts nothing, every admitted task finishes,
 * and the worker's memory stays under `max_memory_mb` while it runs. Against the real dev server,
 * proofs and SVM.
 */
import { AdmissionError } from '../../client/tasks';
import { controlHandle } from '../../temporal/control';
import { pollUntil } from '../helpers/poll';
import { SPECULATIVE_CONFIG, startTestSystem, type TestSystem } from '../helpers/system';
import { slotsGivenBack, submitBurst } from '../helpers/burst';

const LIMIT = 40;
const BURST = 1000;
const MAX_MEMORY_MB = 4096;

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({
    name: 'burst',
    config: {
      speculation: {
        ...SPECULATIVE_CONFIG.speculation,
        // 40 proofs on 2 proving threads of a loaded machine may wait past a minute in the backlog: this test is about admission.
        confirmation_timeout_ms: 300_000,
        limits: { max_pending_operations: LIMIT, max_memory_mb: MAX_MEMORY_MB },
      },
    },
  });
  await sys.fundAgent('default');
});
afterAll(() => sys?.close());

async function startedTaskIds(): Promise<string[]> {
  const ids: string[] = [];
  for await (const wf of sys.client.workflow.list({ query: 'WorkflowType="speculativeTask"' })) ids.push(wf.workflowId);
  return ids.sort();
}

test(`a burst of ${BURST} submissions: exactly ${LIMIT} admitted and finished, the rest refused clearly, nothing half-submitted, memory under max_memory_mb`, async () => {
  let peakRssMb = 0;
  const sampler = setInterval(() => {
    peakRssMb = Math.max(peakRssMb, process.memoryUsage().rss / 2 ** 20);
  }, 100);
  try {
    // Each admitted task stands for 3 s of work.
    const { admitted, others } = await submitBurst(sys, BURST, 3000);
    expect(admitted).toHaveLength(LIMIT);
    expect(others.filter((o) => !(o instanceof AdmissionError))).toEqual([]);
    expect(new Set(others.map((o) => `${(o as AdmissionError).field}: ${(o as AdmissionError).message}`))).toEqual(
      new Set([
        `max_pending_operations: ${LIMIT} tasks are open, the limit is speculation.limits.max_pending_operations = ${LIMIT}; wait for tasks to finish or raise the limit`,
      ]),
    );
    // Nothing half-submitted: a workflow exists for exactly the admitted tasks (visibility is eventually consistent: wait for all of them to show).
    const started = await pollUntil(
      'visibility to list the admitted tasks',
      startedTaskIds,
      (ids) => ids.length >= LIMIT,
      15_000,
      250,
    );
    expect(started).toEqual(admitted.map((id) => `task-${id}`).sort());

    const finals = await Promise.all(admitted.map((id) => sys.wait(id, 180_000)));
    expect(finals.filter((s) => s.status !== 'confirmed')).toEqual([]);
    await slotsGivenBack(sys.client);
  } finally {
    clearInterval(sampler);
  }
  expect(peakRssMb).toBeLessThan(MAX_MEMORY_MB);
});

test('thirty-five dependents asking to speculate at once: the worker sends their requests as batched Updates, one in flight at a time, and every task finishes', async () => {
  const root = await sys.submit({ type: 'compute', payload: { value: 1, work_ms: 1000 } });
  const dependents = await Promise.all(
    Array.from({ length: 35 }, (_, i) => sys.submit({ type: 'compute', payload: { value: i }, dependsOn: root })),
  );
  const finals = await Promise.all([root, ...dependents].map((id) => sys.wait(id, 240_000)));
  expect(finals.filter((s) => s.status !== 'confirmed').map((s) => [s.task_id, s.status, s.rollback_reason])).toEqual(
    [],
  );
  // Up to max_parallel_branches (4) speculated; the rest were refused by the branch limit, or started once the root was confirmed.
  const statuses = finals.slice(1).map((s) => s.speculation_status);
  expect(statuses.filter((s) => !['speculative', 'branch_limit', 'non_speculative'].includes(s))).toEqual([]);
  const speculative = statuses.filter((s) => s === 'speculative').length;
  expect(speculative).toBeGreaterThan(0);
  expect(speculative).toBeLessThanOrEqual(4);

  // One worker process: its tasks' requests went as batched Updates, one in flight at a time (each accepted only after the one before it completed).
  const history = await controlHandle(sys.client).fetchHistory();
  const inFlight = new Set<string>();
  let updates = 0;
  for (const e of history.events ?? []) {
    const accepted = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest;
    if (accepted?.input?.name === 'admitSpeculations') {
      expect([...inFlight]).toEqual([]);
      inFlight.add(accepted.meta!.updateId!);
      updates += 1;
    }
    const completed = e.workflowExecutionUpdateCompletedEventAttributes?.meta?.updateId;
    if (completed) inFlight.delete(completed);
  }
  expect(updates).toBeGreaterThan(0);
  expect(updates).toBeLessThanOrEqual(dependents.length);
});
