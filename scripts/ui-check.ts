/**
 * `npm run ui:check`: opens the Temporal Web UI of a running system in Chromium and checks that it
 * tells the story of a rolled-back task tree (and of a rollout): the list for
 * `AgencRootTaskId="<root>"` with each task's status, a rolled-back task's summary, details and
 * current details, the root's, the list of speculative tasks, and the rollout's phases.
 *
 *   npm run ui:check -- [--ui http://localhost:8233] [--namespace default] [--root TASK_ID]
 *                       [--rollout NAME] [--out test-results/ui-check]
 *
 * Without --root it takes the root of the most recently started rolled-back task (found through
 * visibility at TEMPORAL_ADDRESS, default localhost:7233); without --rollout the most recently started
 * rollout, if any. Prints every check and where the screenshots went. Exit code: 0 when everything
 * is visible, 1 when a check failed, 2 on bad arguments or nothing to inspect, 3 when Temporal or the
 * UI cannot be reached.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import { connectClient } from '../temporal/connection';
import { SA } from '../shared/search-attributes';
import { TASK_ID_PATTERN } from '../shared/task-model';
import { CHROMIUM_PATH, inspectUi, launchBrowser } from '../test/ui/inspect';

const USAGE = 'usage: npm run ui:check -- [--ui URL] [--namespace NS] [--root TASK_ID] [--rollout NAME] [--out DIR]';

class Exit extends Error {
  constructor(
    public readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** The root to inspect (given, or the most recent rolled-back task's) and the rollout (given, or the most recent). */
async function findTargets(
  namespace: string,
  root?: string,
  rollout?: string,
): Promise<{ root: string; rollout?: string }> {
  if (root && rollout) return { root, rollout };
  let client: Client;
  try {
    client = await connectClient({ namespace });
  } catch (err) {
    if (!root) throw new Exit(3, (err as Error).message);
    console.log(`rollout: not looked for (${(err as Error).message.split(':')[0]}); pass --rollout NAME to check one`);
    return { root };
  }
  try {
    if (!root) {
      for await (const wf of client.workflow.list({
        query: 'WorkflowType="speculativeTask" AND AgencStatus="rolled_back"',
      })) {
        root = wf.typedSearchAttributes.get(SA.rootTaskId) ?? undefined;
        if (root) break;
      }
      if (!root) {
        throw new Exit(
          2,
          `no rolled-back task in namespace ${namespace} (query AgencStatus="rolled_back"); make one, e.g.\n` +
            '  agenc submit --type compute --payload \'{"fail": true}\'  then a task --depends-on it; or pass --root TASK_ID',
        );
      }
      console.log(`root: ${root} (the most recent rolled-back task's tree)`);
    }
    if (!rollout) {
      for await (const wf of client.workflow.list({ query: 'WorkflowType="rollout"' })) {
        rollout = wf.typedSearchAttributes.get(SA.rolloutName) ?? wf.workflowId.replace(/^rollout-/, '');
        break;
      }
      console.log(
        rollout
          ? `rollout: ${rollout} (the most recent)`
          : 'rollout: none found (WorkflowType="rollout"); its checks are skipped',
      );
    }
    return { root, rollout };
  } finally {
    await client.connection.close();
  }
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        ui: { type: 'string', default: process.env.TEMPORAL_UI_URL ?? 'http://localhost:8233' },
        namespace: { type: 'string', default: process.env.TEMPORAL_NAMESPACE ?? 'default' },
        root: { type: 'string' },
        rollout: { type: 'string' },
        out: { type: 'string', default: path.join('test-results', 'ui-check') },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new Exit(2, `${(err as Error).message}\n${USAGE}`);
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const ui = values.ui!.replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]+/.test(ui)) throw new Exit(2, `--ui ${ui} is not an http(s) URL (e.g. http://localhost:8233)`);
  if (values.root !== undefined && !TASK_ID_PATTERN.test(values.root))
    throw new Exit(2, `--root "${values.root}" is not a task id`);
  if (!existsSync(CHROMIUM_PATH))
    throw new Exit(2, `Chromium not found at ${CHROMIUM_PATH}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  const namespace = values.namespace!;

  // Find what to inspect through visibility (the same queries an operator types).
  const found = await findTargets(namespace, values.root, values.rollout);
  const root = found.root;
  const rollout = found.rollout;

  try {
    const res = await fetch(`${ui}/api/v1/settings`);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
  } catch (err) {
    throw new Exit(
      3,
      `the Web UI does not answer at ${ui}: ${(err as Error).message} (start the system with \`npm start\`, or pass --ui)`,
    );
  }

  const outDir = path.resolve(values.out!);
  const browser = await launchBrowser();
  try {
    console.log(`inspecting ${ui}/namespaces/${namespace} in Chromium…`);
    const report = await inspectUi(
      browser,
      { ui, namespace },
      { rootTaskId: root, rollout, outDir, log: (m) => console.log(`  ${m}`) },
    );
    console.log('\nthe tree as the list shows it:');
    for (const r of report.treeRows) {
      const c = r.cells;
      console.log(
        `  ${r.workflowId.padEnd(24)} ${(c.AgencStatus ?? '').padEnd(12)} ${(c.AgencSpeculationStatus ?? '').padEnd(16)} depth ${c.AgencDepth || '-'}  parent ${c.AgencParentTaskId || '-'}`,
      );
    }
    if (report.detail)
      console.log(
        `\nrolled-back task page: ${report.detail.url}\n  summary: ${report.detail.summary}\n  current details: ${report.detail.currentDetails || '(none)'}`,
      );
    console.log(`\nscreenshots in ${path.relative(process.cwd(), outDir) || outDir}:`);
    for (const s of report.screenshots) console.log(`  ${path.relative(process.cwd(), s)}`);
    const failed = report.checks.filter((c) => !c.ok);
    console.log(
      failed.length
        ? `\n${failed.length} of ${report.checks.length} checks FAILED`
        : `\nall ${report.checks.length} checks passed`,
    );
    return failed.length ? 1 : 0;
  } finally {
    await browser.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Exit ? err.message : err);
    process.exit(err instanceof Exit ? err.code : 1);
  },
);
