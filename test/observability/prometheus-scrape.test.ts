/**
 * A real Prometheus (Debian's /usr/bin/prometheus) on a free port scrapes the test worker every
 * second with the project's rule file loaded; real tasks run (a failing root with a dependent that
 * rolls back, the runbook's smoke test 2), and the rollback count is read back through PromQL.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { freePort } from '../../workers/temporal-dev-server';
import { PROJECT_ROOT, testRunDir } from '../helpers/paths';
import { startTestSystem, type TestSystem } from '../helpers/system';
import { createPrometheusSource } from '../../activities/rollout-metrics/prometheus-source';
import { getTaskState } from '../../client/tasks';
import { forceRollbackSignal } from '../../shared/messages';
import { taskWorkflowId } from '../../shared/task-model';
import { bondAmount } from '../../activities/chain/bond-amount';
import { pollUntil } from '../helpers/poll';
import { http, parseExposition } from './helpers';

const PROMETHEUS = '/usr/bin/prometheus';
const RULES_FILE = path.join(PROJECT_ROOT, 'config', 'prometheus', 'rules', 'speculation.rules.yml');

let sys: TestSystem;
let prom: ChildProcess | undefined;
let promExit: Promise<number | null> | undefined;
let promPort: number;
let promLog: string;

interface PromResponse<T> {
  status: 'success' | 'error';
  data: T;
  error?: string;
}
type Vector = { metric: Record<string, string>; value: [number, string] }[];

async function api<T>(pathAndQuery: string): Promise<T> {
  const res = await http(promPort, 'GET', pathAndQuery);
  if (res.status !== 200) throw new Error(`Prometheus ${pathAndQuery}: HTTP ${res.status}: ${res.text}`);
  const body = res.json as PromResponse<T>;
  if (body.status !== 'success') throw new Error(`Prometheus ${pathAndQuery}: ${body.error}`);
  return body.data;
}

const query = async (promql: string) => {
  const data = await api<{ resultType: string; result: Vector }>(`/api/v1/query?query=${encodeURIComponent(promql)}`);
  expect(data.resultType).toBe('vector');
  return data.result;
};
const scalarOf = (v: Vector) => (v.length ? Number(v[0]!.value[1]) : undefined);

beforeAll(async () => {
  const probe = spawnSync(PROMETHEUS, ['--version'], { encoding: 'utf8' });
  if (probe.error)
    throw new Error(`${PROMETHEUS} is not installed: apt-get install -y prometheus (this test is never skipped)`);

  // Commits take 5 s to finalize, so a dependent stays speculative long enough to be forced back.
  sys = await startTestSystem({ name: 'obs-prom', worker: { embeddedFinalityMs: 5000 } });
  await sys.fundAgent('default');

  const dir = mkdtempSync(path.join(testRunDir(), 'prometheus-'));
  promPort = await freePort();
  const configFile = path.join(dir, 'prometheus.yml');
  // The project's scrape job name (job="agenc", what the runbook and the WorkerDown alert select) and
  // its rule file, pointed at this test's worker.
  writeFileSync(
    configFile,
    [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'rule_files:',
      `  - ${JSON.stringify(RULES_FILE)}`,
      'scrape_configs:',
      '  - job_name: agenc',
      '    scrape_interval: 1s',
      '    scrape_timeout: 1s',
      '    metrics_path: /metrics',
      '    static_configs:',
      `      - targets: ['127.0.0.1:${sys.worker.httpPort}']`,
      '',
    ].join('\n'),
  );
  promLog = path.join(dir, 'prometheus.log');
  const out = openSync(promLog, 'a');
  prom = spawn(
    PROMETHEUS,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', out, out] },
  );
  closeSync(out);
  promExit = new Promise((resolve) => prom!.once('exit', (code) => resolve(code)));
  const exitedEarly = promExit.then((code) => {
    throw new Error(`prometheus exited (${code}) before it was ready:\n${readFileSync(promLog, 'utf8')}`);
  });
  await Promise.race([
    exitedEarly,
    pollUntil(
      'Prometheus /-/ready',
      () => http(promPort, 'GET', '/-/ready', { timeoutMs: 1000 }),
      (r) => r.status === 200,
      20_000,
      200,
    ),
  ]);
  exitedEarly.catch(() => undefined);
}, 90_000);

afterAll(async () => {
  if (prom && prom.exitCode === null && prom.signalCode === null) {
    prom.kill('SIGTERM');
    const timer = setTimeout(() => prom!.kill('SIGKILL'), 10_000);
    await promExit;
    clearTimeout(timer);
  }
  await sys?.close();
});

test('Prometheus scrapes the worker as job "agenc" (the runbook connectivity check) with the rule file loaded', async () => {
  const targets = await pollUntil(
    'the agenc target to be up',
    () =>
      api<{
        activeTargets: { labels: Record<string, string>; health: string; lastError: string; scrapeUrl: string }[];
      }>('/api/v1/targets'),
    (d) => d.activeTargets.some((t) => t.labels.job === 'agenc' && t.health === 'up'),
    15_000,
  );
  const agenc = targets.activeTargets.filter((t) => t.labels.job === 'agenc');
  expect(agenc).toEqual([
    expect.objectContaining({
      health: 'up',
      lastError: '',
      scrapeUrl: `http://127.0.0.1:${sys.worker.httpPort}/metrics`,
    }),
  ]);

  const rules = await api<{
    groups: { name: string; file: string; rules: { name: string; health: string; type: string }[] }[];
  }>('/api/v1/rules');
  expect(rules.groups.map((g) => g.name).sort()).toEqual(['speculation.alerts', 'speculation.recording']);
  expect(rules.groups.every((g) => g.file === RULES_FILE)).toBe(true);
  const names = rules.groups.flatMap((g) => g.rules.map((r) => r.name));
  expect(names).toEqual(
    expect.arrayContaining([
      'speculation:rollbacks_by_reason:rate5m',
      'SpeculationRollbackRateCritical',
      'SpeculationWorkerDown',
    ]),
  );
  // The worker is up, so the P1 WorkerDown alert is not pending or firing.
  expect(await query('ALERTS{alertname="SpeculationWorkerDown"}')).toEqual([]);
});

test('the core metrics reach Prometheus before any task runs', async () => {
  await pollUntil(
    'speculation_memory_usage_bytes in Prometheus',
    () => query('speculation_memory_usage_bytes{job="agenc"}'),
    (v) => v.length === 1,
    15_000,
  );
  expect(scalarOf(await query('speculation_enabled{job="agenc"}'))).toBe(1);
  expect(scalarOf(await query('speculation_rollout_percentage{job="agenc"}'))).toBe(100);
  expect(scalarOf(await query('sum(speculation_rollback_total{job="agenc"})'))).toBe(0);
  expect(scalarOf(await query('up{job="agenc"}'))).toBe(1);
  // The on-call series: the memory limit the usage is held against, the breaker armed, the depths.
  const limitMb = sys.worker.config.config.speculation.limits.max_memory_mb;
  expect(scalarOf(await query('speculation_memory_limit_bytes{job="agenc"}'))).toBe(limitMb * 2 ** 20);
  expect(await query('speculation_auto_disabled{job="agenc"}')).toEqual([
    expect.objectContaining({ metric: expect.objectContaining({ reason: 'none' }), value: [expect.any(Number), '0'] }),
  ]);
  const depths = await query('speculation_active_tasks_by_depth{job="agenc"}');
  expect(depths.length).toBe(sys.worker.config.config.speculation.max_depth);
  expect(depths.every((d) => d.value[1] === '0')).toBe(true);
  // What the new alerts hold the live figures against, from the live configuration and the chain.
  const spec = sys.worker.config.config.speculation;
  expect(scalarOf(await query('speculation_max_depth{job="agenc"}'))).toBe(spec.max_depth);
  expect(scalarOf(await query('speculation_active_depth_max{job="agenc"}'))).toBe(0);
  expect(scalarOf(await query('speculation_proof_timeout_seconds{job="agenc"}'))).toBe(spec.proof.timeout_ms / 1000);
  expect(scalarOf(await query('speculation_smallest_bond_lamports{job="agenc"}'))).toBe(bondAmount(1, spec.stake));
  expect(await query('speculation_stake_available_lamports{job="agenc"}')).toEqual([
    expect.objectContaining({
      metric: expect.objectContaining({ agent: 'default' }),
      value: [expect.any(Number), '1000000000'],
    }),
  ]);
});

test('a failing root rolls its dependent back, and PromQL reads the rollback count', async () => {
  const root = await sys.submit({ type: 'compute', payload: { fail: true } });
  const child = await sys.submit({ type: 'compute', payload: { value: 100 }, dependsOn: root });
  expect((await sys.wait(child)).status).toBe('rolled_back');
  expect((await sys.wait(root)).status).toBe('failed');

  // What the worker itself says (the runbook's smoke test 2 greps it)...
  const own = parseExposition((await http(sys.worker.httpPort!, 'GET', '/metrics')).text)
    .filter((s) => s.name === 'speculation_rollback_total')
    .reduce((sum, s) => sum + s.value, 0);
  expect(own).toBeGreaterThanOrEqual(1);

  // ...and what Prometheus scraped: the same count once a scrape has seen every increment.
  const total = await pollUntil(
    `sum(speculation_rollback_total) to reach ${own} in Prometheus`,
    async () => scalarOf(await query('sum(speculation_rollback_total)')),
    (v) => v !== undefined && v >= 1 && v >= own,
    30_000,
  );
  expect(total).toBe(own);
  const byReason = await query('speculation_rollback_total{job="agenc"} > 0');
  expect(byReason.map((s) => s.metric.reason)).toContain('parent_failed');
  // The failing root itself is a failure, counted by its reason (not a rollback).
  const failed = await pollUntil(
    'speculation_tasks_failed_total in Prometheus',
    () => query('speculation_tasks_failed_total{job="agenc"} > 0'),
    (v) => v.length > 0,
    30_000,
  );
  expect(failed.map((s) => [s.metric.reason, s.value[1]])).toEqual([['execution_failed', '1']]);
});

test('the recording rules evaluate over the scraped series', async () => {
  const recorded = await pollUntil(
    'a speculation:* recorded series',
    () => query('{__name__=~"speculation:.+"}'),
    (v) => v.length > 0,
    30_000,
  );
  expect(recorded.length).toBeGreaterThan(0);
  // The rollback above shows in the rollback rate by reason once two scrapes straddle it.
  const rate = await pollUntil(
    'speculation:rollbacks_by_reason:rate5m{reason="parent_failed"} > 0',
    () => query('speculation:rollbacks_by_reason:rate5m{reason="parent_failed"}'),
    (v) => (scalarOf(v) ?? 0) > 0,
    30_000,
  );
  expect(scalarOf(rate)).toBeGreaterThan(0);
  const rules = await api<{ groups: { rules: { name: string; health: string; lastError?: string }[] }[] }>(
    '/api/v1/rules',
  );
  const unhealthy = rules.groups.flatMap((g) => g.rules).filter((r) => r.health === 'err');
  expect(unhealthy).toEqual([]);
});

test("the rollout's Prometheus source reads the rollback rate of speculative tasks only", async () => {
  // The dependent of the failed root above never speculated (its parent never executed): it is in
  // speculation_rollback_total but is not a miss. This child speculates on a parent that takes 5 s to
  // confirm (the worker's embedded finality), and an operator forces it back meanwhile: one miss.
  const parent = await sys.submit({ type: 'compute', payload: { value: 3 } });
  const child = await sys.submit({ type: 'compute', payload: { value: 5 }, dependsOn: parent });
  await pollUntil(
    'the child to speculate',
    () => getTaskState(sys.client, child),
    (s) => s.bond?.state === 'locked',
    20_000,
    100,
  );
  await sys.client.workflow.getHandle(taskWorkflowId(child)).signal(forceRollbackSignal, { reason: 'test' });
  expect(await sys.wait(child)).toMatchObject({
    status: 'rolled_back',
    rollback_reason: 'forced',
    speculation_status: 'speculative',
  });
  expect((await sys.wait(parent)).status).toBe('confirmed');

  const source = createPrometheusSource({ prometheusUrl: `http://127.0.0.1:${promPort}` });
  const window = () => ({ start: new Date(Date.now() - 3_600_000).toISOString(), end: new Date().toISOString() });
  const readings = await pollUntil(
    'the speculative task and its miss in the Prometheus readings',
    () => source.read(window()),
    (r) => r.speculativeTasks === 1 && r.rollbackRate > 0.5,
    30_000,
  );
  // One speculative start, one miss: 100%, not the 200% that counting every rollback would give.
  expect(readings).toMatchObject({
    source: 'prometheus',
    speculativeTasks: 1,
    rollbacks: 1,
    p1Alerts: [],
    proofQueueCapacity: 2000,
  });
  expect(readings.rollbackRate).toBeCloseTo(1, 1);
  expect(scalarOf(await query('sum(speculation_rollback_total)'))).toBe(2);
});

test('each confirmed task is observed once in the latency histogram by how it ran, and Prometheus records speculation_p99_latency_ms', async () => {
  const latency = async () => {
    const samples = parseExposition((await http(sys.worker.httpPort!, 'GET', '/metrics')).text);
    const of = (name: string, status: string) =>
      samples.find((s) => s.name === name && s.labels.speculation_status === status)?.value ?? 0;
    return {
      speculative: of('speculation_task_latency_seconds_count', 'speculative'),
      nonSpeculative: of('speculation_task_latency_seconds_count', 'non_speculative'),
      sum:
        of('speculation_task_latency_seconds_sum', 'speculative') +
        of('speculation_task_latency_seconds_sum', 'non_speculative'),
    };
  };
  const before = await latency();
  const parent = await sys.submit({ type: 'compute', payload: { value: 7 } });
  const child = await sys.submit({ type: 'compute', payload: { value: 8 }, dependsOn: parent });
  expect(await sys.wait(child)).toMatchObject({ status: 'confirmed', speculation_status: 'speculative' });
  expect(await sys.wait(parent)).toMatchObject({ status: 'confirmed', speculation_status: 'non_speculative' });

  const after = await latency();
  expect({
    speculative: after.speculative - before.speculative,
    nonSpeculative: after.nonSpeculative - before.nonSpeculative,
  }).toEqual({
    speculative: 1,
    nonSpeculative: 1,
  });
  expect(after.sum).toBeGreaterThan(before.sum);

  const p99 = await pollUntil(
    'speculation_p99_latency_ms recorded from the scraped histogram',
    () => query('speculation_p99_latency_ms'),
    (v) => (scalarOf(v) ?? 0) > 0,
    30_000,
  );
  expect(p99).toHaveLength(1);
});

// Last: it adds a speculative task and a rollback, which the exact counts of the tests above do not expect.
test('a confirmation is observed from its commitment landing to finality, and a cascade by its size and duration', async () => {
  const before = scalarOf(await query('sum(speculation_confirmation_seconds_count{job="agenc"})')) ?? 0;
  expect((await sys.wait(await sys.submit({ type: 'compute', payload: { value: 7 } }))).status).toBe('confirmed');
  const after = await pollUntil(
    'a finality observation in Prometheus',
    async () => scalarOf(await query('sum(speculation_confirmation_seconds_count{job="agenc"})')),
    (v) => v !== undefined && v > before,
    30_000,
  );
  // At least this confirmation (an earlier test's last one may reach Prometheus in the same scrape).
  expect(after).toBeGreaterThan(before);
  // The embedded chain finalizes 5 s after landing here: every observation is at least that.
  const sum = scalarOf(await query('sum(speculation_confirmation_seconds_sum{job="agenc"})'))!;
  expect(sum).toBeGreaterThanOrEqual(5 * after!);

  // A speculating dependent of a root whose proof fails: the root's cascade rolls one descendant back.
  const root = await sys.submit({ type: 'compute', payload: { value: 2, claimed_output: '12345' } });
  const child = await sys.submit({ type: 'compute', payload: { value: 3 }, dependsOn: root });
  expect((await sys.wait(child)).status).toBe('rolled_back');
  const cascades = await pollUntil(
    'a cascade observation in Prometheus',
    () => query('speculation_rollback_cascade_size_count{job="agenc"} > 0'),
    (v) => v.length > 0,
    30_000,
  );
  expect(cascades.length).toBe(1);
  expect(scalarOf(await query('speculation_rollback_duration_seconds_count{job="agenc"}'))).toBeGreaterThanOrEqual(1);
});
