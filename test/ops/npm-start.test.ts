/**
 * `npm start`, the main job, as a user runs it: `scripts/start.ts` in its own process, here reusing the
 * suite's Temporal server (as it reuses any server already answering at TEMPORAL_ADDRESS) in a fresh
 * namespace, with its data directory, chain and keys in a temp dir. It must say it is up and what
 * configuration is live, run a speculative parent → child to confirmation, answer the runbook's status
 * call, take the CLI's writes with the token it generated (no ADMIN_TOKEN in the CLI's shell), and stop
 * cleanly on Ctrl-C (SIGINT) without stopping a server it did not start.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { submitTask, waitForTask } from '../../client/tasks';
import { freePort } from '../../workers/temporal-dev-server';
import { http } from '../observability/helpers';
import { PROJECT_ROOT, testRunDir } from '../helpers/paths';

let child: ChildProcess;
let exited: Promise<number | null>;
let stdout = '';
let dataDir: string;
let metricsPort: number;
const namespace = `npm-start-${process.pid}`;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(testRunDir(), 'npm-start-'));
  metricsPort = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_NAMESPACE: namespace,
    AGENC_DATA_DIR: dataDir,
    AGENC_CHAIN_FILE: path.join(dataDir, 'chain', 'svm-accounts.json'),
    AGENC_KEYS_DIR: path.join(dataDir, 'keys'),
    METRICS_PORT: String(metricsPort),
    TEMPORAL_SDK_METRICS_PORT: '0',
    TEMPORAL_LOG_LEVEL: 'WARN',
    RUST_LOG: 'error',
  };
  delete env.ADMIN_TOKEN; // npm start generates one into the data directory
  delete env.AGENC_CONFIG; // and uses config/speculation-local.toml
  child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
    cwd: PROJECT_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stdout += c.toString()));
  const deadline = Date.now() + 90_000;
  while (!stdout.includes('Ctrl-C stops everything.')) {
    if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}:\n${stdout}`);
    if (Date.now() > deadline) throw new Error(`npm start did not come up in 90 s:\n${stdout}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}, 120_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGKILL');
    await exited;
  }
});

test('says it is up, where everything is, and which configuration is live', () => {
  expect(stdout).toContain('AgenC Speculate is up.');
  expect(stdout).toContain(`Temporal          ${process.env.TEMPORAL_ADDRESS} (namespace ${namespace})`);
  expect(stdout).toContain(`http://localhost:${metricsPort}/metrics`);
  expect(stdout).toContain(
    `export ADMIN_TOKEN=$(cat ${path.relative(PROJECT_ROOT, path.join(dataDir, 'admin-token'))})`,
  );
  expect(stdout).toContain(path.join('config', 'speculation-local.toml'));
  expect(stdout).toMatch(/speculation {7}enabled, rollout 100% \(live configuration, version \d+\)/);
  // The generated admin token is private to the user.
  expect(statSync(path.join(dataDir, 'admin-token')).mode & 0o777).toBe(0o600);
});

test('a dependent speculates on its parent and both confirm; /admin/status answers without a token', async () => {
  const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS! });
  try {
    const client = new Client({ connection, namespace });
    // Signed as the default agent, whose key `npm start` made when it funded it.
    const keys = { keysDir: path.join(dataDir, 'keys') };
    const parent = (await submitTask(client, { type: 'compute', payload: { value: 100 } }, keys)).task_id;
    const child = (await submitTask(client, { type: 'compute', payload: { value: 200 }, dependsOn: parent }, keys))
      .task_id;
    const [p, c] = await Promise.all([
      waitForTask(client, parent, { timeoutMs: 60_000 }),
      waitForTask(client, child, { timeoutMs: 60_000 }),
    ]);
    expect(p.state.status).toBe('confirmed');
    expect(c.state).toMatchObject({
      status: 'confirmed',
      speculation_status: 'speculative',
      depth: 1,
      bond: { state: 'released' },
    });
  } finally {
    await connection.close();
  }
  const status = await http(metricsPort, 'GET', '/admin/status');
  expect(status.status).toBe(200);
  expect(status.json.speculation).toMatchObject({ enabled: true, rollout_percentage: 100, active_tasks: 0 });
}, 120_000);

test("the CLI's writes work out of the box: it reads the admin token npm start generated", async () => {
  expect(stdout).toContain(
    `agenc writes (config set, speculation pause, …) go here with the token (read from that file); export AGENC_ADMIN_URL=http://127.0.0.1:${metricsPort}`,
  );
  const agenc = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        TEMPORAL_NAMESPACE: namespace,
        AGENC_DATA_DIR: dataDir,
        AGENC_ADMIN_URL: `http://127.0.0.1:${metricsPort}`,
      };
      delete env.ADMIN_TOKEN;
      execFile(
        process.execPath,
        [path.join(PROJECT_ROOT, 'bin', 'agenc.js'), ...args],
        { cwd: PROJECT_ROOT, env, timeout: 60_000 },
        (error, out, err) =>
          resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout: out, stderr: err }),
      );
    });
  const pause = await agenc(['speculation', 'pause', '--output', 'json']);
  expect({ code: pause.code, stderr: pause.stderr }).toEqual({ code: 0, stderr: '' });
  expect(JSON.parse(pause.stdout)).toMatchObject({ signal: 'pause', speculation: { paused: true } });
  const resume = await agenc(['speculation', 'resume', '--output', 'json']);
  expect({ code: resume.code, stderr: resume.stderr }).toEqual({ code: 0, stderr: '' });
  expect(JSON.parse(resume.stdout)).toMatchObject({ signal: 'resume', speculation: { paused: false } });
}, 60_000);

test('Ctrl-C (SIGINT) stops the workers gracefully and exits 0, leaving a server it did not start running', async () => {
  child.kill('SIGINT');
  expect(await exited).toBe(0);
  expect(stdout).toContain('workers stopped');
  expect(stdout).not.toContain('Temporal dev server stopped');
  const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS! });
  await connection.close();
}, 60_000);
