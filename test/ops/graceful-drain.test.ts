/**
 * `scripts/graceful-drain.sh`, the runbook's Version Rollback step 1, against a real system
 * (startTestSystem). A speculative task is kept active deterministically as in
 * test/rollout/drain-visibility.test.ts: the worker runs `agenc-tasks` only, so its root waits in
 * `proving` for a proof no worker takes and never confirms, and the dependent stays speculative until
 * the test forces it back.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { controlStatus } from '../../temporal/control';
import { TASK_QUEUE } from '../../shared/task-queues';
import { PROJECT_ROOT } from '../helpers/paths';
import { pollUntil } from '../helpers/poll';
import { SPECULATIVE_CONFIG, startTestSystem, TEST_ADMIN_TOKEN, type TestSystem } from '../helpers/system';

const SCRIPT = path.join(PROJECT_ROOT, 'scripts', 'graceful-drain.sh');
let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem({
    name: 'graceful-drain',
    config: { speculation: { ...SPECULATIVE_CONFIG.speculation, confirmation_timeout_ms: 600_000 } },
    worker: { queues: [TASK_QUEUE] },
  });
  await sys.fundAgent('default');
});
afterAll(() => sys?.close());

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function drain(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  const base: NodeJS.ProcessEnv = {
    ...process.env,
    ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    AGENC_URL: `http://127.0.0.1:${sys.worker.httpPort}`,
  };
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete base[key];
    else base[key] = value;
  }
  return new Promise((resolve) => {
    execFile('bash', [SCRIPT, ...args], { env: base, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
  });
}

test('--help says what it does, its options and exit codes', async () => {
  const r = await drain(['--help'], { ADMIN_TOKEN: undefined });
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('Usage: scripts/graceful-drain.sh');
  expect(r.stdout).toMatch(/--timeout SECONDS/);
  expect(r.stdout).toMatch(/Exit status: 0 .*; 1 .*; 2 /s);
});

test('usage errors and a refused or missing token exit 2 and say what was wrong', async () => {
  const unknown = await drain(['--fast']);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toContain('unknown option "--fast"');
  const badTimeout = await drain(['--timeout', 'soon']);
  expect(badTimeout.code).toBe(2);
  expect(badTimeout.stderr).toContain('--timeout must be a whole number of seconds ≥ 1, got "soon"');
  const noToken = await drain([], { ADMIN_TOKEN: undefined });
  expect(noToken.code).toBe(2);
  expect(noToken.stderr).toContain('ADMIN_TOKEN must be set');
  const wrongToken = await drain(['--timeout', '5'], { ADMIN_TOKEN: 'not-the-token' });
  expect(wrongToken.code).toBe(2);
  expect(wrongToken.stderr).toMatch(/admin API refused the drain \(HTTP 401\)/);
});

test('waits with progress while a speculative task is active, gives up at the timeout (exit 1), drains once it is gone (exit 0)', async () => {
  const root = await sys.submit({ type: 'compute', payload: { value: 3 } });
  const child = await sys.submit({ type: 'compute', payload: { value: 4 }, dependsOn: root });
  await pollUntil(
    'the child to speculate',
    () => controlStatus(sys.client),
    (s) => s.active_tasks === 1,
    30_000,
    250,
  );

  const stuck = await drain(['--timeout', '3', '--poll', '1']);
  expect(stuck.code).toBe(1);
  expect(stuck.stdout).toContain('Draining: no new speculation');
  expect(stuck.stdout).toMatch(/Active speculative tasks: 1 \(waiting, \d+s left\)/);
  expect(stuck.stderr).toContain('1 speculative task(s) still active after 3s');
  expect(stuck.stderr).toContain('scripts/emergency-rollback.sh');
  expect(await controlStatus(sys.client)).toMatchObject({ draining: true, active_tasks: 1 });

  const forced = await fetch(`http://127.0.0.1:${sys.worker.httpPort}/admin/speculation/force-rollback`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
  });
  expect(forced.status).toBe(200);
  expect(await sys.wait(child)).toMatchObject({ status: 'rolled_back', rollback_reason: 'forced' });

  const done = await drain(['--timeout', '10', '--poll', '1']);
  expect(done.code).toBe(0);
  expect(done.stdout).toContain('✓ All speculative tasks drained');
  expect(done.stdout).toContain('agenc speculation resume');
});
