/**
 * Structured logs (issue 7, item 6): JSON lines from pino, with the task id, workflow id and phase
 * on every line a task's workflow or activities write.
 *
 * The worker's own lines go to the pino logger given to `startWorkerProcess`; workflow and activity
 * lines go to the Temporal Runtime's logger, which `workers/runtime.ts` (`installRuntime`, called by
 * `workers/main.ts` and `scripts/start.ts`) bridges to pino. The test harness does not install a
 * Runtime, so here the test installs one the way production does, with a pino logger writing to a
 * capture stream (jest gives every test file its own module registry, so this Runtime is this file's
 * alone). It also turns on the SDK's Prometheus exporter on a free port, the 9464 of production.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { installRuntime } from '../../workers/runtime';
import { freePort } from '../../workers/temporal-dev-server';
import { PROJECT_ROOT } from '../helpers/paths';
import { startTestSystem, type TestSystem } from '../helpers/system';
import { pollUntil } from '../helpers/poll';
import { http, parseExposition } from './helpers';

type Line = Record<string, unknown> & { level: number; msg: string };
const raw: string[] = [];
const lines: Line[] = [];
const logger = pino(
  { level: 'info' },
  new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n').filter(Boolean)) {
        raw.push(l);
        try {
          lines.push(JSON.parse(l) as Line);
        } catch {
          // counted by the "every line is JSON" test through `raw`
        }
      }
      cb();
    },
  }),
);

let sys: TestSystem;
let sdkMetricsUrl: string | undefined;
let root: string;
let child: string;
let confirmed: string;

const taskLines = (taskId: string) => lines.filter((l) => l.workflowId === `task-${taskId}`);
const workflowLines = () => lines.filter((l) => l.sdkComponent === 'workflow' && l.workflowType === 'speculativeTask');
/** Lines about a task's activities: the SDK's lifecycle lines (sdkComponent "worker") and the activities' own (sdkComponent "activity"). */
const activityLines = () =>
  lines.filter((l) => typeof l.activityType === 'string' && l.workflowType === 'speculativeTask');

beforeAll(async () => {
  ({ sdkMetricsUrl } = installRuntime(logger, { sdkMetricsPort: await freePort(), host: '127.0.0.1' }));
  sys = await startTestSystem({ name: 'obs-logs', worker: { logger } });
  await sys.fundAgent('default');

  // The runbook's smoke test 2 (a failing root, its dependent rolls back) and a task that confirms.
  root = await sys.submit({ type: 'compute', payload: { fail: true } });
  child = await sys.submit({ type: 'compute', payload: { value: 100 }, dependsOn: root });
  confirmed = await sys.submit({ type: 'compute', payload: { value: 7 } });
  expect((await sys.wait(child)).status).toBe('rolled_back');
  expect((await sys.wait(root)).status).toBe('failed');
  expect((await sys.wait(confirmed)).status).toBe('confirmed');
  // Workflow log lines travel through a sink after the activation: give them a moment.
  await pollUntil(
    'the dependent\'s "rollback requested" line',
    async () => taskLines(child).length,
    (n) => n > 0,
    10_000,
    100,
  );
}, 120_000);
afterAll(() => sys?.close());

test("every line is one JSON object with pino's level, time and msg", () => {
  expect(raw.length).toBeGreaterThan(5);
  const notJson = raw.filter((l) => {
    try {
      const o = JSON.parse(l) as unknown;
      return !(o && typeof o === 'object' && !Array.isArray(o));
    } catch {
      return true;
    }
  });
  expect(notJson).toEqual([]);
  for (const l of lines)
    expect(l).toEqual(
      expect.objectContaining({ level: expect.any(Number), time: expect.any(Number), msg: expect.any(String) }),
    );
});

test("the worker's own lines go to the logger it was given", () => {
  expect(lines).toContainEqual(expect.objectContaining({ msg: 'configuration loaded', file: sys.configFile }));
  expect(lines).toContainEqual(
    expect.objectContaining({ msg: 'metrics and admin API listening', port: sys.worker.httpPort }),
  );
});

test('workflow lines of a task carry its workflowId and taskId (and the run, type and namespace)', () => {
  const wf = workflowLines();
  expect(wf.length).toBeGreaterThan(0);
  expect(taskLines(child)).toContainEqual(
    expect.objectContaining({
      msg: 'rollback requested',
      level: 40,
      reason: 'parent_failed',
      sdkComponent: 'workflow',
      workflowId: `task-${child}`,
      taskId: child,
      runId: expect.any(String),
      workflowType: 'speculativeTask',
      namespace: sys.namespace,
    }),
  );
  const missing = wf.filter(
    (l) => typeof l.workflowId !== 'string' || l.taskId !== String(l.workflowId).replace(/^task-/, ''),
  );
  expect(missing.map((l) => ({ msg: l.msg, workflowId: l.workflowId, taskId: l.taskId }))).toEqual([]);
});

// Issue 7 item 6 and workers/logger.ts: "every line from a workflow or activity carries its task id,
// workflow id and phase". The task's status (pending, executing, waiting_parent, proving, ...) is
// the phase a reader needs; no line carries one today.
test('workflow lines of a task carry its phase', () => {
  const wf = workflowLines();
  expect(wf.length).toBeGreaterThan(0);
  const withoutPhase = wf.filter((l) => typeof l.phase !== 'string' || !l.phase);
  expect(withoutPhase.map((l) => ({ msg: l.msg, workflowId: l.workflowId, phase: l.phase }))).toEqual([]);
});

// The SDK logs an activity's lifecycle (here the failing root's "Activity failed", one per attempt)
// through the Runtime logger, with sdkComponent "worker" and the activity's attributes.
test('activity lines of a task carry its workflowId and activity type', () => {
  const failed = taskLines(root).filter((l) => typeof l.activityType === 'string');
  expect(failed).toContainEqual(
    expect.objectContaining({
      workflowId: `task-${root}`,
      workflowType: 'speculativeTask',
      activityType: 'executeTask',
      attempt: expect.any(Number),
      level: 40,
    }),
  );
});

// Issue 7 item 6: the task id and phase on every line, activities included.
test('activity lines of a task carry its taskId and phase', () => {
  const act = activityLines();
  expect(act.length).toBeGreaterThan(0);
  const incomplete = act.filter(
    (l) => l.taskId !== String(l.workflowId).replace(/^task-/, '') || typeof l.phase !== 'string',
  );
  expect(
    incomplete.map((l) => ({
      msg: l.msg,
      workflowId: l.workflowId,
      activityType: l.activityType,
      taskId: l.taskId,
      phase: l.phase,
    })),
  ).toEqual([]);
});

test("the Temporal SDK's worker metrics are served on their own port", async () => {
  expect(sdkMetricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  const port = Number(new URL(sdkMetricsUrl!).port);
  expect(port).not.toBe(sys.worker.httpPort);
  const res = await pollUntil(
    'temporal_ metrics on the SDK port',
    () => http(port, 'GET', '/metrics'),
    (r) => r.status === 200 && /^temporal_/m.test(r.text),
    10_000,
  );
  const names = new Set(parseExposition(res.text).map((s) => s.name));
  expect([...names].some((n) => n.startsWith('temporal_workflow_task'))).toBe(true);
  expect([...names].some((n) => n.startsWith('temporal_activity'))).toBe(true);
  // The SDK's metrics and the project's stay apart: none of ours on the SDK port.
  expect([...names].filter((n) => n.startsWith('speculation_'))).toEqual([]);
});

describe('createLogger (workers/logger.ts) in a process of its own', () => {
  const withoutLogEnv = () => {
    const { LOG_FORMAT: _f, LOG_LEVEL: _l, ...rest } = process.env;
    return rest;
  };
  const runLogger = (script: string, env: Record<string, string> = {}) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
      env: { ...withoutLogEnv(), ...env },
      timeout: 30_000,
    });
    if (r.status !== 0) throw new Error(`logger script exited ${r.status}: ${r.stderr}`);
    return r.stdout;
  };
  const logger = JSON.stringify(path.join(PROJECT_ROOT, 'workers', 'logger.ts'));

  test('writes JSON lines when stdout is not a terminal, with secrets redacted', () => {
    const out = runLogger(
      `const { createLogger } = require(${logger});
       const log = createLogger('agenc-worker');
       log.info({ taskId: 'abc', workflowId: 'task-abc', secretKey: [1, 2, 3], headers: { authorization: 'Bearer s3cret' } }, 'hello');
       log.debug('not at info');`,
    );
    const parsed = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed).toEqual([
      expect.objectContaining({
        name: 'agenc-worker',
        level: 30,
        msg: 'hello',
        taskId: 'abc',
        workflowId: 'task-abc',
        secretKey: '[redacted]',
        headers: { authorization: '[redacted]' },
      }),
    ]);
    expect(out).not.toContain('s3cret');
  });

  test('is readable (pretty, not JSON) when asked to be, as on a terminal', () => {
    const out = runLogger(
      `const { createLogger } = require(${logger});
       createLogger('agenc-worker', { pretty: true }).info({ taskId: 'abc' }, 'hello pretty');`,
    );
    expect(out).toContain('hello pretty');
    expect(out).toContain('taskId');
    expect(() => JSON.parse(out.trim().split('\n')[0]!)).toThrow();
  });
});
