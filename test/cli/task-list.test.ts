/**
 * `agenc task list --root ID` and `--parent ID` / `listTasks`: the root or parent goes into a visibility
 * query inside a quoted literal, so a value that is not a task id is refused naming the flag, the value
 * and the rule, never trimmed into some other query (which listed nothing, or failed in the server's
 * query parser). Against a real worker and the suite's Temporal visibility.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { InvalidArgumentError, listTasks } from '../../client/tasks';
import { PROJECT_ROOT } from '../helpers/paths';
import { pollUntil } from '../helpers/poll';
import { startTestSystem, type TestSystem } from '../helpers/system';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({ name: 'task-list' });
  await sys.fundAgent('default');
  const first = await sys.submit({ type: 'compute', payload: { value: 1 }, taskId: 'tree-one' });
  await sys.submit({ type: 'compute', payload: { value: 2 }, dependsOn: first, taskId: 'tree-one-child' });
  await sys.submit({ type: 'compute', payload: { value: 3 }, taskId: 'tree-two' });
  await pollUntil(
    'visibility to list the three tasks',
    () => listTasks(sys.client),
    (rows) => rows.length === 3,
    30_000,
    200,
  );
});
afterAll(() => sys?.close());

const RULE = 'letters, digits, _ . -, 1-64 characters, starting with a letter or digit';

test('--root lists the tree under that root and nothing else', async () => {
  const rows = await listTasks(sys.client, { root: 'tree-one' });
  expect(rows.map((r) => r.task_id).sort()).toEqual(['tree-one', 'tree-one-child']);
});

test.each([
  ['a quote that would close the literal', 'tree-one" OR AgencRootTaskId="tree-two'],
  ['a trailing backslash that would escape the closing quote', 'tree-one\\'],
  ['a space', 'tree one'],
  ['an empty value', ''],
  ['65 characters', 'a'.repeat(65)],
])('--root with %s is refused naming the flag, the value and the rule', async (_what, root) => {
  const refusal = listTasks(sys.client, { root });
  await expect(refusal).rejects.toThrow(InvalidArgumentError);
  await expect(refusal).rejects.toMatchObject({
    field: 'root',
    code: 'invalid_root',
    message: `--root ${JSON.stringify(root)} is not a task id (${RULE})`,
  });
});

test('--parent lists the tasks that name it among their parents, with every parent of each', async () => {
  const rows = await listTasks(sys.client, { parent: 'tree-one' });
  expect(rows.map((r) => [r.task_id, r.parent_task_ids])).toEqual([['tree-one-child', ['tree-one']]]);
  expect(await listTasks(sys.client, { parent: 'tree-two' })).toEqual([]);
});

test.each([
  ['a quote that would close the literal', 'tree-one" OR AgencParentTaskIds="tree-two'],
  ['a closing parenthesis that would end the clause', 'tree-one)'],
  ['an empty value', ''],
])('--parent with %s is refused naming the flag, the value and the rule', async (_what, parent) => {
  const refusal = listTasks(sys.client, { parent });
  await expect(refusal).rejects.toThrow(InvalidArgumentError);
  await expect(refusal).rejects.toMatchObject({
    field: 'parent',
    code: 'invalid_parent',
    message: `--parent ${JSON.stringify(parent)} is not a task id (${RULE})`,
  });
});

test('the CLI refuses a bad --root as bad input (exit 2), with the same message', async () => {
  const root = 'tree-one" OR AgencRootTaskId="tree-two';
  const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [path.join(PROJECT_ROOT, 'bin', 'agenc.js'), '--namespace', sys.namespace, 'task', 'list', '--root', root],
      { cwd: PROJECT_ROOT, timeout: 60_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }),
    );
  });
  expect(run).toMatchObject({ code: 2, stdout: '' });
  expect(run.stderr).toBe(`agenc: --root ${JSON.stringify(root)} is not a task id (${RULE})\n`);
});
