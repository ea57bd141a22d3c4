/**
 * Replay: every history in test/replay/histories/ is replayed with `Worker.runReplayHistories` against
 * the workflow bundle the suite built from today's code, so a change to workflow code that would not
 * replay a run already in flight (a command added, removed or reordered without `patched()`) fails
 * here instead of in production. No server is involved in the replay itself.
 *
 * The fixtures are real histories, recorded by `npx tsx scripts/record-histories.ts` (see its header
 * and the README's "Changing workflow code"): a file's name is the workflow id it ran under.
 * `histories/landed/<commit>/` holds the fixtures each re-recording replaced (the histories of the build
 * before it), `histories/before-patches/` histories recorded by the code before a `patched()` change; the
 * recorder never rewrites either, so runs of every build stay covered until their patches are deprecated.
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { createMetrics, metricsSinks } from '../../workers/metrics';
import * as registeredWorkflows from '../../workflows';
import { historyFromJson } from './history-json';

const HISTORIES = path.join(__dirname, 'histories');

/** Every fixture under histories/, in every folder (the current ones, landed/<commit>/, before-patches/). */
const fixtures = (readdirSync(HISTORIES, { recursive: true }) as string[])
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((file) => ({
    file,
    workflowId: path.basename(file, '.json'),
    history: historyFromJson(JSON.parse(readFileSync(path.join(HISTORIES, file), 'utf8'))),
  }));
const workflowType = (f: (typeof fixtures)[number]) =>
  f.history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name;

beforeAll(() => {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // a runtime already exists in this process
  }
});

test('every workflow the worker registers has at least one recorded history', () => {
  const types = new Set(fixtures.map(workflowType));
  expect([...types].sort()).toEqual(Object.keys(registeredWorkflows).sort());
});

test('every recorded history replays on the current workflow code', async () => {
  const failures: string[] = [];
  const replayed: string[] = [];
  const options = {
    workflowBundle: { codePath: process.env.AGENC_TEST_WORKFLOW_BUNDLE! },
    // The sinks the worker registers; a replay does not call them, so nothing is counted twice.
    sinks: metricsSinks(createMetrics()),
  };
  // One replay worker for every fixture (a worker per fixture loaded the bundle once per fixture): it replays
  // one history at a time and yields one result per history, in order, so the same workflow id
  // recorded by several builds is several replays, each reported under its own file. A failing
  // history does not stop the ones after it; a worker that dies stops the results short, which the
  // last expectation catches.
  let i = 0;
  for await (const result of Worker.runReplayHistories(options, fixtures)) {
    const fixture = fixtures[i++]!;
    expect(result.workflowId).toBe(fixture.workflowId);
    replayed.push(fixture.file);
    if (result.error)
      failures.push(`${fixture.file} (${workflowType(fixture)}): ${result.error.name}: ${result.error.message}`);
  }
  expect(failures).toEqual([]);
  expect(replayed).toEqual(fixtures.map((f) => f.file));
});
