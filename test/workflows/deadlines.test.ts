/**
 * Deadlines (`--deadline`) against the real dev server, Groth16 proofs and the SVM: a deadline too close
 * to speculate (`claim_window`), one that expires mid-speculation (`claim_expired`, bond released, its
 * speculative dependent rolled back), and one that bounds a dependent's wait for its parent. A parent's
 * proof is held (ActivityGate) so that it stays unconfirmed as long as a test needs.
 */
import { setConfigUpdate } from '../../shared/messages';
import { controlHandle } from '../../temporal/control';
import { ActivityGate } from '../helpers/activity-gate';
import { untilSpeculating } from '../helpers/failing-root';
import { pollUntil } from '../helpers/poll';
import { getTaskState } from '../../client/tasks';
import { http, parseExposition } from '../observability/helpers';
import { speculativeConfig, startTestSystem, type TestSystem } from '../helpers/system';

let sys: TestSystem;
const gate = new ActivityGate();

beforeAll(async () => {
  sys = await startTestSystem({
    name: 'deadlines',
    config: speculativeConfig({ speculation: { claim_buffer_ms: 30_000, proof: { batch_size: 1 } } }),
    worker: { embeddedFinalityMs: 0, activityInterceptors: [gate.interceptor] },
  });
  await sys.fundAgent('default');
});
afterAll(async () => {
  gate.releaseAll();
  await sys?.close();
});

const setLive = (changes: Record<string, unknown>) =>
  controlHandle(sys.client).executeUpdate(setConfigUpdate, { args: [changes] });

const compute = (taskId: string, value: number, dependsOn?: string, deadline?: string) =>
  sys.submit({ type: 'compute', payload: { value }, dependsOn, taskId, deadline });

async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const res = await http(sys.worker.httpPort!, 'GET', '/metrics');
  const sample = parseExposition(res.text).find(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  return sample?.value ?? 0;
}

test('a deadline closer than claim_buffer_ms: no speculation (claim_window), the task waits for its parent and confirms', async () => {
  const releaseRoot = gate.hold('generateProof', 'dl-win-root');
  await compute('dl-win-root', 1);
  // 20 s left, 30 s buffer: speculating could not pay off.
  await compute('dl-win', 2, 'dl-win-root', '20s');
  const waiting = await pollUntil(
    'dl-win refused as claim_window while its parent is unconfirmed',
    () => getTaskState(sys.client, 'dl-win'),
    (s) => s.speculation_status === 'claim_window',
    30_000,
  );
  expect(waiting).toMatchObject({ status: 'waiting_parent', bond: null, deadline: expect.any(String) });
  expect(waiting.waiting_for).toMatch(/dl-win-root.*confirmed.*claim_window/);
  releaseRoot();
  const final = await sys.wait('dl-win');
  expect(final).toMatchObject({ status: 'confirmed', speculation_status: 'claim_window', bond: null });
  expect(Date.parse(final.timestamps.confirmed!)).toBeLessThan(Date.parse(final.deadline!));
  expect(await metric('speculation_tasks_total', { type: 'compute', speculation_status: 'claim_window' })).toBe(1);
}, 120_000);

test('a deadline that passes mid-speculation: claim_expired, bond released, its speculative dependent rolled back', async () => {
  await setLive({ 'speculation.claim_buffer_ms': 1000 });
  try {
    const releaseRoot = gate.hold('generateProof', 'dl-exp-root');
    await compute('dl-exp-root', 1);
    const submitted = Date.now();
    await compute('dl-exp', 2, 'dl-exp-root', '8s');
    await compute('dl-exp-child', 3, 'dl-exp');
    await untilSpeculating(sys.client, ['dl-exp', 'dl-exp-child'], { timeoutMs: 30_000 });
    const expired = await sys.wait('dl-exp', 60_000);
    expect(expired).toMatchObject({
      status: 'rolled_back',
      speculation_status: 'speculative',
      rollback_reason: 'claim_expired',
      bond: { state: 'released' },
    });
    expect(expired.bond!.slashed ?? 0).toBe(0);
    expect(expired.error).toMatch(/deadline .* passed in status (proving|awaiting_ancestors|executed)/);
    // Not before its deadline (8 s after submission, to the second).
    expect(Date.parse(expired.timestamps.rolling_back!)).toBeGreaterThanOrEqual(submitted + 7_000);
    expect(await sys.wait('dl-exp-child', 60_000)).toMatchObject({
      status: 'rolled_back',
      rollback_reason: 'parent_rolled_back',
      bond: { state: 'released' },
    });
    releaseRoot();
    expect((await sys.wait('dl-exp-root')).status).toBe('confirmed');
    expect(await metric('speculation_rollback_total', { reason: 'claim_expired' })).toBe(1);
  } finally {
    await setLive({ 'speculation.claim_buffer_ms': 30_000 });
  }
}, 120_000);

test("a dependent's deadline bounds its wait for a parent it may not speculate on", async () => {
  const releaseRoot = gate.hold('generateProof', 'dl-wait-root');
  await compute('dl-wait-root', 1);
  await compute('dl-wait', 2, 'dl-wait-root:confirmed', '4s');
  const final = await sys.wait('dl-wait', 60_000);
  expect(final).toMatchObject({
    status: 'rolled_back',
    speculation_status: 'non_speculative',
    rollback_reason: 'claim_expired',
    bond: null,
    result: null,
  });
  expect(final.error).toMatch(/passed in status waiting_parent/);
  releaseRoot();
  expect((await sys.wait('dl-wait-root')).status).toBe('confirmed');
}, 120_000);
