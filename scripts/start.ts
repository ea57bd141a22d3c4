/**
 * `npm start`: the whole system on this machine (the embedded default): the Temporal dev server with
 * its Web UI, the workers on `agenc-tasks` and `agenc-proofs`, the embedded SVM, and the metrics/admin
 * server on :9090. Ctrl-C stops the workers gracefully, then the dev server.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { buildProgram, PROJECT_ROOT } from '../programs/build/build-program';
import { controlStatus } from '../temporal/control';
import { createLogger } from '../workers/logger';
import type { WorkerProcess } from '../workers/worker-process';
import { startEmbeddedSystem } from './embedded-system';
import { cliBundle } from './build-cli';

async function main(): Promise<void> {
  const logger = createLogger('agenc');
  const say = (m: string) => process.stdout.write(`${m}\n`);
  // The custody program, built from programs/custody once and then cached by source hash (.data/programs).
  if (existsSync(path.join(PROJECT_ROOT, 'programs', 'custody', 'src', 'lib.rs'))) {
    const custody = await buildProgram('custody', { onProgress: (line) => logger.info(line) });
    logger.info(
      `custody program ${custody.built ? 'built' : 'cached'} in ${custody.seconds.toFixed(2)} s: ${custody.soPath}`,
    );
  }
  // The prebuilt CLI, so the first `npx agenc …` beside this system answers at once.
  if (!cliBundle())
    logger.warn('the prebuilt CLI could not be built: `agenc` will compile its TypeScript at each start');
  const { server, worker, admin, sdkMetricsUrl } = await startEmbeddedSystem(logger);

  say('');
  say('AgenC Speculate is up.');
  say(
    `  Temporal Web UI   ${server.uiUrl ?? `(reused the server at ${server.address}; its UI is wherever it serves it)`}`,
  );
  say(`  Temporal          ${server.address} (namespace ${process.env.TEMPORAL_NAMESPACE ?? 'default'})`);
  say(
    `  metrics           http://localhost:${worker.httpPort}/metrics${sdkMetricsUrl ? `   (SDK worker metrics: ${sdkMetricsUrl})` : ''}`,
  );
  say(
    `  admin API         http://localhost:${worker.httpPort}/admin/status${admin.file ? `   (export ADMIN_TOKEN=$(cat ${path.relative(process.cwd(), admin.file)}))` : ''}`,
  );
  // The CLI's writes go through the admin API: it finds the token file by itself, ADMIN_TOKEN otherwise.
  say(
    `                    agenc writes (config set, speculation pause, …) go here with the token${admin.file ? ' (read from that file)' : ': the same ADMIN_TOKEN in their shell'}` +
      (worker.httpPort === 9090 ? '' : `; export AGENC_ADMIN_URL=http://127.0.0.1:${worker.httpPort}`),
  );
  say(`  configuration     ${worker.config.file}`);
  for (const line of await liveConfigurationLines(worker)) say(line);
  say('');
  say('Submit a task (in another terminal):');
  say('  P=$(npx agenc task submit --type compute --payload \'{"value": 100}\' --output json | jq -r .task_id)');
  say('  npx agenc task submit --type compute --payload \'{"value": 200}\' --depends-on "$P"');
  say('  npx agenc task list');
  say('Or watch a small tree speculate and roll back: npm run demo');
  say('Ctrl-C stops everything.');

  await worker.done;
  logger.info('workers stopped');
  if (server.started) {
    await server.stop();
    logger.info('Temporal dev server stopped');
  }
  process.exit(0);
}

/**
 * The configuration in force lives in the control workflow and survives restarts (admin changes,
 * rollouts), so it can differ from the file: say what is live, and why it may differ.
 */
async function liveConfigurationLines(worker: WorkerProcess): Promise<string[]> {
  const live = await controlStatus(worker.client);
  const file = worker.config.config.speculation;
  const describe = (enabled: boolean, pct: number) => `${enabled ? 'enabled' : 'disabled'}, rollout ${pct}%`;
  const lines = [
    `  speculation       ${describe(live.enabled, live.rollout_percentage)} (live configuration, version ${live.config_version})`,
  ];
  const rollouts: string[] = [];
  for await (const wf of worker.client.workflow.list({ query: 'WorkflowType="rollout" AND ExecutionStatus="Running"' }))
    rollouts.push(wf.workflowId);
  if (rollouts.length)
    lines.push(`                    rollouts running: ${rollouts.join(', ')} (npx agenc rollout status <name>)`);
  if (live.enabled !== file.enabled || live.rollout_percentage !== file.features.rollout_percentage) {
    lines.push(
      `                    the file says ${describe(file.enabled, file.features.rollout_percentage)}: admin changes and rollouts are kept across restarts;`,
      '                    POST /admin/config/reload re-reads the file',
    );
  }
  return lines;
}

main().catch((err: unknown) => {
  process.stderr.write(`start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
