import { startTestSystem, type TestSystem } from '../helpers/system';
import { getTaskState } from '../../client/tasks';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({ name: 'basic' });
  await sys.fundAgent('default');
});
afterAll(() => sys?.close());

test('a dependent speculates on its parent and confirms after it, with its bond released', async () => {
  const parent = await sys.submit({ type: 'compute', payload: { value: 100 } });
  const child = await sys.submit({ type: 'compute', payload: { value: 200 }, dependsOn: parent });

  const parentState = await sys.wait(parent);
  expect(parentState.status).toBe('confirmed');
  const childState = await sys.wait(child);
  expect(childState).toMatchObject({ status: 'confirmed', speculation_status: 'speculative', depth: 1 });
  expect(childState.bond).toMatchObject({ state: 'released' });
  expect(BigInt(childState.result!.output)).toBe(200n * 200n + BigInt(parentState.result!.output));
  expect(childState.parent_commitment).toBe(parentState.result_commitment);
  expect(Date.parse(childState.timestamps.speculated!)).toBeLessThan(Date.parse(parentState.timestamps.confirmed!));
  expect((await getTaskState(sys.client, child)).commit_signature).toBeTruthy();
});
