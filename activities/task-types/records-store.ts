/**
 * The `record` task type's outside effect: one row per (task, attempt) in a real SQLite file, written by the
 * execution and deleted by the undo.
 *
 * Several worker processes (and the CLI, and tests) may open the same file at once. WAL journaling lets
 * readers go on while one process writes (a reader sees the last committed state, never a half-written one),
 * and busy_timeout makes a writer that finds the file locked by another process wait for it (up to 5 s)
 * instead of failing at once with SQLITE_BUSY: without it, two workers writing at the same moment would turn
 * an ordinary lock wait into a failed activity.
 */
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { PROJECT_ROOT } from '../../config/load';

/** One attempt's row. */
export interface RecordRow {
  taskId: string;
  attempt: number;
  value: number;
  /** The task's output, a decimal field element. */
  output: string;
  note: string | null;
  /** ISO 8601, when the row was written. */
  writtenAt: string;
}

interface SqlRow {
  task_id: string;
  attempt: number;
  value: number;
  output: string;
  note: string | null;
  written_at: string;
}

/**
 * `AGENC_RECORDS_DB`, else records.sqlite in the data directory (`AGENC_DATA_DIR`, else `.data`, as the
 * embedded Temporal's DATA_DIR; computed here rather than imported, since that module loads the Temporal client).
 */
export function recordsDatabasePath(): string {
  return (
    process.env.AGENC_RECORDS_DB ??
    path.join(process.env.AGENC_DATA_DIR ?? path.join(PROJECT_ROOT, '.data'), 'records.sqlite')
  );
}

function toRow(r: SqlRow): RecordRow {
  return {
    taskId: r.task_id,
    attempt: r.attempt,
    value: r.value,
    output: r.output,
    note: r.note,
    writtenAt: r.written_at,
  };
}

export class RecordsStore {
  private readonly db: Database.Database;
  private readonly insertStmt: Database.Statement<[string, number, number, string, string | null, string]>;
  private readonly deleteStmt: Database.Statement<[string, number]>;
  private readonly rowsOfStmt: Database.Statement<[string], SqlRow>;
  private readonly allStmt: Database.Statement<[], SqlRow>;

  constructor(readonly file: string) {
    mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(
      `CREATE TABLE IF NOT EXISTS records (
         task_id TEXT NOT NULL,
         attempt INTEGER NOT NULL,
         value INTEGER NOT NULL,
         output TEXT NOT NULL,
         note TEXT,
         written_at TEXT NOT NULL,
         PRIMARY KEY (task_id, attempt)
       )`,
    );
    this.insertStmt = this.db.prepare(
      'INSERT OR IGNORE INTO records (task_id, attempt, value, output, note, written_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.deleteStmt = this.db.prepare('DELETE FROM records WHERE task_id = ? AND attempt = ?');
    this.rowsOfStmt = this.db.prepare('SELECT * FROM records WHERE task_id = ? ORDER BY attempt');
    this.allStmt = this.db.prepare('SELECT * FROM records ORDER BY task_id, attempt');
  }

  /** Writes the attempt's row once: a second write of the same (task, attempt) changes nothing and says so. */
  write(row: {
    taskId: string;
    attempt: number;
    value: number;
    output: string;
    note?: string;
  }): 'written' | 'already there' {
    const info = this.insertStmt.run(
      row.taskId,
      row.attempt,
      row.value,
      row.output,
      row.note ?? null,
      new Date().toISOString(),
    );
    return info.changes === 1 ? 'written' : 'already there';
  }

  /** Deletes the attempt's row; the number deleted (0 when there was none). */
  remove(taskId: string, attempt: number): number {
    return this.deleteStmt.run(taskId, attempt).changes;
  }

  /** The task's rows, by attempt. */
  rowsOf(taskId: string): RecordRow[] {
    return this.rowsOfStmt.all(taskId).map(toRow);
  }

  all(): RecordRow[] {
    return this.allStmt.all().map(toRow);
  }

  /** Closes the file; recordsStore() opens it again when next asked. */
  close(): void {
    this.db.close();
    if (openStores.get(this.file) === this) openStores.delete(this.file);
  }
}

const openStores = new Map<string, RecordsStore>();

/** This process's store for recordsDatabasePath() (read at each call), opened on first use and kept open. */
export function recordsStore(): RecordsStore {
  const file = path.resolve(recordsDatabasePath());
  let store = openStores.get(file);
  if (!store) {
    store = new RecordsStore(file);
    openStores.set(file, store);
  }
  return store;
}
