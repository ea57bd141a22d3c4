/**
 * The `record` task type against a real SQLite file in a temporary directory: the execution writes one row
 * per attempt (idempotently), the undo deletes only that attempt's row (idempotently), a second connection
 * to the file sees what the first wrote, and bad payloads are refused with the field named.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { computeOutput } from '../../activities/proof/fields';
import { recordTask } from '../../activities/task-types/record';
import { RecordsStore, recordsStore } from '../../activities/task-types/records-store';
import { checkPayload, findTaskType } from '../../activities/task-types/registry';

let dir: string;
let file: string;
const savedEnv = process.env.AGENC_RECORDS_DB;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agenc-records-'));
  file = path.join(dir, 'records.sqlite');
  process.env.AGENC_RECORDS_DB = file;
});

afterAll(() => {
  recordsStore().close();
  if (savedEnv === undefined) delete process.env.AGENC_RECORDS_DB;
  else process.env.AGENC_RECORDS_DB = savedEnv;
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('record task type', () => {
  it('is registered', () => {
    expect(findTaskType('record')).toBe(recordTask);
  });

  it('writes one row per attempt, and a second write of the same attempt changes nothing', async () => {
    const result = await recordTask.execute({ value: 3, note: 'first' }, [], { taskId: 't-write', attempt: 1 });
    expect(result).toEqual({ output: 9n, proofValue: 3n, workMs: 0 });
    const rows = recordsStore().rowsOf('t-write');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ taskId: 't-write', attempt: 1, value: 3, output: '9', note: 'first' });
    expect(Number.isNaN(Date.parse(rows[0]!.writtenAt))).toBe(false);

    await recordTask.execute({ value: 3, note: 'first' }, [], { taskId: 't-write', attempt: 1 });
    expect(recordsStore().rowsOf('t-write')).toEqual(rows);
    expect(recordsStore().write({ taskId: 't-write', attempt: 1, value: 3, output: '9' })).toBe('already there');
    expect(recordsStore().rowsOf('t-write')).toEqual(rows);
  });

  it('computes what compute computes, on the parent outputs', async () => {
    const parents = [5n, 21888242871839275222246405745257275088548364400416034343698204186575808495610n];
    const result = await recordTask.execute({ value: 7, work_ms: 10 }, parents, { taskId: 't-join', attempt: 1 });
    expect(result.output).toBe(computeOutput(7n, parents));
    expect(result.proofValue).toBe(7n);
    expect(result.workMs).toBe(10);
    expect(recordsStore().rowsOf('t-join')[0]).toMatchObject({
      output: computeOutput(7n, parents).toString(),
      note: null,
    });
  });

  it("undo deletes only that attempt's row, and a second undo says nothing was there", async () => {
    const payload = { value: 2 };
    await recordTask.execute(payload, [], { taskId: 't-undo', attempt: 1 });
    await recordTask.execute(payload, [], { taskId: 't-undo', attempt: 2 });
    await recordTask.execute(payload, [], { taskId: 't-other', attempt: 1 });

    const said = await recordTask.undo!(payload, { taskId: 't-undo', attempt: 2, output: 4n });
    expect(said).toBe(`deleted 1 row (task t-undo, attempt 2) from ${file}`);
    expect(
      recordsStore()
        .rowsOf('t-undo')
        .map((r) => r.attempt),
    ).toEqual([1]);
    expect(recordsStore().rowsOf('t-other')).toHaveLength(1);

    const again = await recordTask.undo!(payload, { taskId: 't-undo', attempt: 2, output: 4n });
    expect(again).toBe(`no row of task t-undo attempt 2 in ${file} (already undone or never written)`);
    expect(
      recordsStore()
        .rowsOf('t-undo')
        .map((r) => r.attempt),
    ).toEqual([1]);
    expect(recordsStore().rowsOf('t-other')).toHaveLength(1);
  });

  it('undo of an execution that never ran finds nothing', async () => {
    const said = await recordTask.undo!({ value: 1 }, { taskId: 't-never', attempt: 1, output: null });
    expect(said).toMatch(/^no row of task t-never attempt 1 in /);
  });

  it('undo waits undo_ms before deleting', async () => {
    await recordTask.execute({ value: 1 }, [], { taskId: 't-slow', attempt: 1 });
    const undo = recordTask.undo!({ value: 1, undo_ms: 1200 }, { taskId: 't-slow', attempt: 1, output: 1n });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(recordsStore().rowsOf('t-slow')).toHaveLength(1);
    await expect(undo).resolves.toMatch(/^deleted 1 row/);
    expect(recordsStore().rowsOf('t-slow')).toHaveLength(0);
  });

  it('a second connection to the file (as another worker process has) sees the rows written', async () => {
    await recordTask.execute({ value: 4, note: 'seen elsewhere' }, [], { taskId: 't-wal', attempt: 1 });
    const other = new RecordsStore(file);
    try {
      expect(other.rowsOf('t-wal')).toEqual(recordsStore().rowsOf('t-wal'));
      expect(other.rowsOf('t-wal')[0]).toMatchObject({ value: 4, output: '16', note: 'seen elsewhere' });
      expect(other.remove('t-wal', 1)).toBe(1);
      expect(recordsStore().rowsOf('t-wal')).toHaveLength(0);
      expect(other.all().map((r) => r.taskId)).toContain('t-other');
    } finally {
      other.close();
    }
    expect(fs.existsSync(`${file}-wal`)).toBe(true);
  });

  describe('payload', () => {
    it('accepts a good one', () => {
      expect(checkPayload('record', { value: 1, note: 'x', work_ms: 0, undo_ms: 20_000 })).toEqual({
        ok: true,
        payload: { value: 1, note: 'x', work_ms: 0, undo_ms: 20_000 },
      });
    });

    it.each([
      [{ value: -1 }, 'payload.value: must be >= 0'],
      [{ value: 1.5 }, 'payload.value: must be a whole number'],
      [{}, 'payload.value: is required'],
      [{ value: 1, note: 'n'.repeat(201) }, 'payload.note: must be at most 200 characters'],
      [{ value: 1, note: 5 }, 'payload.note: must be a string'],
      [{ value: 1, undo_ms: 20_001 }, 'payload.undo_ms: must be <= 20000'],
      [{ value: 1, undo_ms: 0.5 }, 'payload.undo_ms: must be a whole number of milliseconds'],
      [{ value: 1, work_ms: -1 }, 'payload.work_ms: must be >= 0'],
      [{ value: 1, colour: 'red' }, "Unrecognized key(s) in object: 'colour'"],
      [{ fail: true }, "Unrecognized key(s) in object: 'fail'"],
    ])('refuses %j', (payload, expected) => {
      const result = checkPayload('record', payload);
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.message).toContain('payload does not match task type "record"');
        expect(result.message).toContain(expected);
      }
    });
  });
});
