/**
 * The circuit breaker against the real dev server, real proofs and the real SVM: tasks that fail by
 * their agent's own fault (a wrong claimed output, so their proofs fail) trip it; new tasks then run
 * non-speculatively as `auto_disabled`, `speculation_auto_disabled{reason}` is 1 and the status says
 * why and until when; past the cooldown it re-arms by itself; tripped again, `agenc speculation enable`
 * is refused without --force (exit 1, naming the cooldown) and re-enables it with --force and a reason.
 */
import { controlStatus } from '../../temporal/control';
import { runAgenc } from '../helpers/agenc-cli';
import { failingRootWithTree } from '../helpers/failing-root';
import { pollUntil } from '../helpers/poll';
import { speculativeConfig, startTestSystem, TEST_ADMIN_TOKEN, type TestSystem } from '../helpers/system';

const COOLDOWN_MS = 10_000;
const BAD = 'breaker-bad';
const GOOD = 'breaker-good';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({
    name: 'breaker',
    config: speculativeConfig({
      speculation: {
        breaker: { enabled: true, max_own_faults: 2, own_fault_window_ms: 60_000, cooldown_ms: COOLDOWN_MS },
        // No clean-up timer wakes the control workflow during the test: the re-arm must come on its own.
        limits: { gc_interval_ms: 3_600_000 },
      },
    }),
  });
  await sys.fundAgent(BAD);
  await sys.fundAgent(GOOD);
});
afterAll(() => sys?.close());

/** Two root tasks whose proofs fail (their agent's own fault), awaited to their end. */
async function twoOwnFaults(): Promise<void> {
  const roots = await Promise.all(
    [0, 1].map(async () => (await failingRootWithTree(sys, { agent: BAD, above: false, below: 0 })).root),
  );
  const finals = await Promise.all(roots.map((id) => sys.wait(id)));
  expect(finals.map((s) => [s.status, s.rollback_reason])).toEqual([
    ['failed', 'proof_failed'],
    ['failed', 'proof_failed'],
  ]);
}

/** A parent and its dependent by a well-behaved agent: how the dependent ran. */
async function dependentRunsAs(): Promise<string> {
  const parent = await sys.submit({ type: 'compute', payload: { value: 1 }, agent: GOOD });
  const child = await sys.submit({ type: 'compute', payload: { value: 2 }, dependsOn: parent, agent: GOOD });
  const [, state] = await Promise.all([sys.wait(parent), sys.wait(child)]);
  expect(state.status).toBe('confirmed');
  return state.speculation_status;
}

async function autoDisabledGauge(): Promise<Record<string, number>> {
  const metric = await sys.worker.metrics.autoDisabled.get();
  return Object.fromEntries(metric.values.map((v) => [String(v.labels.reason), v.value]));
}

async function untilTripped() {
  return pollUntil(
    'the circuit breaker to trip',
    async () => (await controlStatus(sys.client)).auto_disabled,
    (t) => Boolean(t),
    { timeoutMs: 20_000, everyMs: 200 },
  );
}

test('own-fault failures trip it; it re-arms after its cooldown; tripped again, an operator re-enables it with --force', async () => {
  expect(await autoDisabledGauge()).toEqual({ none: 0 });
  expect(await dependentRunsAs()).toBe('speculative');

  await twoOwnFaults();
  const tripped = (await untilTripped())!;
  expect(tripped).toMatchObject({ reason: 'own_faults' });
  expect(tripped.detail).toBe(
    "2 tasks failed by their agents' own fault in a row within 60 s (speculation.breaker.max_own_faults 2)",
  );
  expect(Date.parse(tripped.until) - Date.parse(tripped.at)).toBe(COOLDOWN_MS);
  expect(await autoDisabledGauge()).toEqual({ own_faults: 1 });

  // Past the cooldown it re-arms by itself, on time, with nothing else happening (no task open, and no
  // clean-up timer due): the status and the gauge say so within seconds.
  await pollUntil(
    'every task closed',
    async () => (await controlStatus(sys.client)).open_tasks,
    (n) => n === 0,
    { timeoutMs: 5000, everyMs: 100 },
  );
  await pollUntil(
    'the circuit breaker to re-arm at the end of its cooldown',
    async () => (await controlStatus(sys.client)).auto_disabled,
    (t) => t === null,
    { timeoutMs: Date.parse(tripped.until) - Date.now() + 3000, everyMs: 250 },
  );
  expect(await autoDisabledGauge()).toEqual({ none: 0 });
  expect(await dependentRunsAs()).toBe('speculative');

  // Tripped again, with a cooldown that outlasts what follows: new tasks run non-speculatively, and the
  // operator's way back.
  const env = {
    ...process.env,
    AGENC_ADMIN_URL: `http://127.0.0.1:${sys.worker.httpPort}`,
    ADMIN_TOKEN: TEST_ADMIN_TOKEN,
  };
  const agenc = (...args: string[]) => runAgenc(['--namespace', sys.namespace, ...args], { env });
  expect((await agenc('config', 'set', 'speculation.breaker.cooldown_ms=600000')).code).toBe(0);
  await twoOwnFaults();
  await untilTripped();
  expect(await dependentRunsAs()).toBe('auto_disabled');
  const refused = await agenc('speculation', 'enable', '--reason', 'the bad agent is gone');
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain('circuit breaker, own_faults');
  expect(refused.stderr).toContain('--force');
  expect((await controlStatus(sys.client)).auto_disabled).not.toBeNull();

  const enabled = await agenc(
    'speculation',
    'enable',
    '--force',
    '--reason',
    'the bad agent is gone',
    '--output',
    'json',
  );
  expect(enabled.code).toBe(0);
  expect(JSON.parse(enabled.stdout)).toMatchObject({ outcome: 'enabled', speculation: { auto_disabled: null } });
  expect(await dependentRunsAs()).toBe('speculative');
  const again = await agenc('speculation', 'enable', '--reason', 'checking', '--output', 'json');
  expect(JSON.parse(again.stdout)).toMatchObject({ outcome: 'armed' });

  const counted = (await sys.worker.metrics.tasksTotal.get()).values
    .filter((v) => v.labels.speculation_status === 'auto_disabled')
    .reduce((n, v) => n + v.value, 0);
  expect(counted).toBe(1);
}, 240_000);
