/**
 * The evidence rule is behind `patched('rollout-evidence')` (workflows/rollout-phase.ts): a phase
 * started by the code before it keeps the old rule when a worker replays it. The fixture is the
 * history of such a phase, recorded on the time-skipping server by the code before the patch: its
 * readings had 3 speculative tasks (below min_sample 20), counted as green, and it proceeded after
 * its hour. Today's rule would hold there instead (a `hold` signal where the history completed), so
 * without the patch this replay fails with `[TMPRL1100] Nondeterminism error: Timer machine does not
 * handle this event: HistoryEvent(id: 118, WorkflowExecutionCompleted)` (checked by hand with the
 * rule ungated). It lives here, not in test/replay/histories/before-patches/, only because this
 * change was limited to test/rollout/; it belongs there, and goes when the patch is deprecated.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { createMetrics, metricsSinks } from '../../workers/metrics';
import { historyFromJson } from '../replay/history-json';

beforeAll(() => {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // a runtime already exists in this process
  }
});

test('a phase the code before the evidence rule proceeded on a small sample replays on today’s code', async () => {
  const file = path.join(__dirname, 'histories', 'rollout-quiet-phase-1-before-rollout-evidence.json');
  const history = historyFromJson(JSON.parse(readFileSync(file, 'utf8')));
  const types = history.events?.map((e) => e.eventType);
  // What the fixture is: a completed phase with no patch marker in it.
  expect(history.events?.at(-1)?.workflowExecutionCompletedEventAttributes).toBeTruthy();
  expect(history.events?.some((e) => e.markerRecordedEventAttributes)).toBe(false);
  expect(types?.length).toBeGreaterThan(100);
  await expect(
    Worker.runReplayHistory(
      { workflowBundle: { codePath: process.env.AGENC_TEST_WORKFLOW_BUNDLE! }, sinks: metricsSinks(createMetrics()) },
      history,
      'rollout-quiet-phase-1',
    ),
  ).resolves.toBeUndefined();
});
