/**
 * Reading the embedded chain's JSON-lines logs (history, journal) at open: one line at a time, so a
 * long history never sits in memory as one string, and with the line number of everything it finds.
 *
 * Every record is appended as one write of its JSON and its newline, and fsynced before anything is
 * acknowledged (appendLineDurably). So the one kind of damage a crash can leave is in the last line:
 * cut short, not JSON, or without its newline. That line is reported as torn and the caller drops it.
 * A line that is not a record anywhere else, or a well-formed line that is not a record in sequence,
 * is damage no crash explains: the read fails naming the file and the line, and the file is left as
 * it is for whoever repairs it.
 */
import * as fs from 'node:fs';

/** A damaged log: the embedded chain refuses to open on it. */
export class ChainStateCorrupt extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    message: string,
  ) {
    super(message);
    this.name = 'ChainStateCorrupt';
  }
}

export interface LinePosition {
  /** 1-based, blank lines counted, as an editor or `sed -n 'Np'` numbers them. */
  line: number;
  /** Byte offset where the line starts. */
  offset: number;
}

/** Accepts a parsed line (undefined), or says why it is not a valid record in sequence. */
export type RecordCheck = (value: unknown, at: LinePosition) => string | undefined;

export interface LogScan {
  /** Bytes up to the end of the last record `check` accepted (what to keep if the tail is dropped). */
  end: number;
  /** The last line, cut short by a crash mid-append, and why it does not read as a record. */
  torn?: { line: number; reason: string };
}

const CHUNK = 1 << 20;

export interface LogName {
  /** What the log is, for messages: 'history', 'journal'. */
  kind: string;
  /** The glob of every file of the state it belongs to, for the last-resort advice. */
  stateFiles: string;
}

/** Reads `file` line by line, handing each record to `check`; a missing file reads as empty. */
export async function scanJsonLines(file: string, name: LogName, check: RecordCheck): Promise<LogScan> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { end: 0 };
    throw err;
  }
  let end = 0;
  let line = 0;
  /** A line that did not parse: harmless only if it turns out to be the last. */
  let suspect: { line: number; reason: string } | undefined;

  const onLine = (bytes: Buffer, offset: number, terminated: boolean) => {
    line += 1;
    const text = bytes.toString('utf8');
    if (text.trim() === '') return;
    if (suspect) throw corrupt(file, name, suspect.line, `${suspect.reason}, yet line ${line} after it holds more`);
    if (!terminated) {
      suspect = { line, reason: 'it has no newline at its end' };
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      suspect = { line, reason: `it is not JSON (${(err as Error).message}): ${preview(text)}` };
      return;
    }
    const problem = check(value, { line, offset });
    if (problem) throw corrupt(file, name, line, `${problem}: ${preview(text)}`);
    end = offset + bytes.length + 1;
  };

  try {
    const chunk = Buffer.alloc(CHUNK);
    let partial: Buffer[] = [];
    let position = 0;
    let lineStart = 0;
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, CHUNK, position);
      if (bytesRead === 0) break;
      const view = chunk.subarray(0, bytesRead);
      let from = 0;
      for (let newline = view.indexOf(0x0a, from); newline !== -1; newline = view.indexOf(0x0a, from)) {
        const bytes = partial.length
          ? Buffer.concat([...partial, view.subarray(from, newline)])
          : view.subarray(from, newline);
        partial = [];
        onLine(bytes, lineStart, true);
        lineStart = position + newline + 1;
        from = newline + 1;
      }
      if (from < bytesRead) partial.push(Buffer.from(view.subarray(from))); // a copy: the chunk is read into again
      position += bytesRead;
    }
    if (partial.length) onLine(Buffer.concat(partial), lineStart, false);
  } finally {
    await handle.close();
  }
  return suspect ? { end, torn: suspect } : { end };
}

/** Cuts `file` back to `length` bytes, durably, so the next append starts a line of its own. */
export async function truncateDurably(file: string, length: number): Promise<void> {
  const handle = await fs.promises.open(file, 'r+');
  try {
    await handle.truncate(length);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function corrupt(file: string, { kind, stateFiles }: LogName, line: number, reason: string): ChainStateCorrupt {
  return new ChainStateCorrupt(
    file,
    line,
    `embedded chain ${kind} ${file} line ${line} is not a valid record: ${reason}. A crash only ever cuts the last line short, ` +
      `so the file is damaged and the chain will not open on it. Restore ${file} from a backup, or repair line ${line} by hand ` +
      `(\`sed -n '${line}p' ${file}\` shows it); or, to give up this chain's balances and history, move ${stateFiles} aside and start an empty chain`,
  );
}

function preview(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}
