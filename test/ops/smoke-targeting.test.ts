/**
 * Issue 23: the runbook's smoke tests during a canary. They run as an agent of their own ("smoke",
 * scripts/smoke-tests/lib.sh), and `speculation.features.rollout_target_agents` puts that agent inside
 * the rollout at any percentage. The shipped scripts run as an operator runs them (bash, the `agenc` CLI,
 * curl on the metrics URL) against a real worker on the suite's dev server, with real proofs and the SVM:
 * at a 0% rollout with the smoke agent targeted, all five pass; with the target removed through
 * `agenc config set`, test 1 fails and its message names the rollout and the key that fixes it.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { runAgenc } from '../helpers/agenc-cli';
import { PROJECT_ROOT } from '../helpers/paths';
import { speculativeConfig, startTestSystem, TEST_ADMIN_TOKEN, type TestSystem } from '../helpers/system';

let sys: TestSystem;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  sys = await startTestSystem({
    name: 'smoke',
    // A canary before its first phase: no task is inside by its hash, so only targeting lets one speculate.
    config: speculativeConfig({
      speculation: { features: { rollout_percentage: 0, rollout_target_agents: ['smoke'] } },
    }),
    worker: { embeddedFinalityMs: 1000 },
  });
  await sys.fundAgent('smoke');
  const url = `http://127.0.0.1:${sys.worker.httpPort}`;
  env = {
    ...process.env,
    TEMPORAL_NAMESPACE: sys.namespace,
    AGENC_ADMIN_URL: url,
    ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    METRICS_URL: `${url}/metrics`,
    AGENC_KEYS_DIR: sys.keysDir,
    // `agenc proof verify` (test 3) reads the commitment record from this system's embedded chain.
    AGENC_CHAIN_FILE: path.join(sys.dir, 'chain', 'svm-accounts.json'),
  };
});
afterAll(() => sys?.close());

function runScript(script: string): Promise<{ code: number | null; out: string }> {
  const child = spawn('bash', [path.join(PROJECT_ROOT, 'scripts', 'smoke-tests', script)], { cwd: PROJECT_ROOT, env });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, out })));
}

test('at a 0% rollout with the smoke agent targeted, every smoke test passes', async () => {
  const { code, out } = await runScript('speculation-smoke.sh');
  expect(out).toContain('✓ Child task executing speculatively');
  expect(out).toMatch(/✓ Bond of \d+ lamports locked and released on confirmation/);
  expect(out).toContain('All smoke tests passed.');
  expect(code).toBe(0);
}, 300_000);

test('without the target, test 1 fails saying the task is outside the rollout and how to target it', async () => {
  const set = await runAgenc(['config', 'set', 'speculation.features.rollout_target_agents=[]', '--output', 'json'], {
    env,
  });
  expect(set.code).toBe(0);

  const { code, out } = await runScript('01-basic-speculation.sh');
  expect(code).toBe(1);
  expect(out).toContain('✗ Expected speculative status, got: not_in_rollout');
  expect(out).toContain(
    'the task is outside the rollout: {"rollout_percentage":0,"rollout_target_agents":[],"rollout_target_task_prefixes":[]}',
  );
  expect(out).toContain('add "smoke" to speculation.features.rollout_target_agents');
}, 120_000);

test('a target that is not an agent name is refused, naming the key and the entry', async () => {
  const bad = await runAgenc(['config', 'set', 'speculation.features.rollout_target_agents=["Smoke Test"]'], { env });
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('speculation.features.rollout_target_agents');
  expect(bad.stderr).toContain('("Smoke Test" is not one)');
}, 60_000);
