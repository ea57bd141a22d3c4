/**
 * `agenc task list --root ID` and `--parent ID` / `listTasks`: the root or parent goes into a visibility
 * query inside a quoted literal, so a value that is not a task id is refused naming the flag, the value
 * and the rule, never trimmed into some other query (which listed nothing, or failed in the server's
 * query parser). Against a real worker and the suite's Temporal visibility.
 */
import { InvalidArgumentError, listTasks } from '../../client/tasks';
import { runAgenc } from '../helpers/agenc-cli';
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
  ['root', 'a quote that would close the literal', 'tree-one" OR AgencRootTaskId="tree-two'],
  ['root', 'a trailing backslash that would escape the closing quote', 'tree-one\\'],
  ['root', 'a space', 'tree one'],
  ['root', 'an empty value', ''],
  ['root', '65 characters', 'a'.repeat(65)],
  ['parent', 'a quote that would close the literal', 'tree-one" OR AgencParentTaskIds="tree-two'],
  ['parent', 'a closing parenthesis that would end the clause', 'tree-one)'],
  ['parent', 'an empty value', ''],
] as const)('--%s with %s is refused naming the flag, the value and the rule', async (flag, _what, value) => {
  const refusal = listTasks(sys.client, { [flag]: value });
  await expect(refusal).rejects.toThrow(InvalidArgumentError);
  await expect(refusal).rejects.toMatchObject({
    field: flag,
    code: `invalid_${flag}`,
    message: `--${flag} ${JSON.stringify(value)} is not a task id (${RULE})`,
  });
});

test('--parent lists the tasks that name it among their parents, with every parent of each', async () => {
  const rows = await listTasks(sys.client, { parent: 'tree-one' });
  expect(rows.map((r) => [r.task_id, r.parent_task_ids])).toEqual([['tree-one-child', ['tree-one']]]);
  expect(await listTasks(sys.client, { parent: 'tree-two' })).toEqual([]);
});

test('the CLI refuses a bad --root as bad input (exit 2), with the same message', async () => {
  const root = 'tree-one" OR AgencRootTaskId="tree-two';
  const run = await runAgenc(['--namespace', sys.namespace, 'task', 'list', '--root', root]);
  expect(run).toMatchObject({ code: 2, stdout: '' });
  expect(run.stderr).toBe(`agenc: --root ${JSON.stringify(root)} is not a task id (${RULE})\n`);
});
