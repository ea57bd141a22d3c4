/**
 * A cross-process lock file (O_CREAT|O_EXCL). Used so two processes building the same circuit cache do
 * not both spend a minute on it; correctness does not depend on it (builds go to a temp directory that
 * is renamed into place). The holder refreshes the lock's mtime; a lock whose holder pid is dead (same
 * host) or that has not been refreshed for `staleMs` is broken.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';

export interface LockOptions {
  /** Give up after this long (default 10 min). */
  timeoutMs?: number;
  /** A lock older than this, or held by a dead pid on this host, is broken (default 10 min). */
  staleMs?: number;
  pollMs?: number;
  onWait?: (holder: string) => void;
}

function holderIsDead(content: string): boolean {
  try {
    const info = JSON.parse(content) as { pid?: number; host?: string };
    if (info.host !== os.hostname() || typeof info.pid !== 'number') return false;
    if (info.pid === process.pid) return false;
    try {
      process.kill(info.pid, 0);
      return false;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'ESRCH';
    }
  } catch {
    return false; // half-written lock: let staleMs decide
  }
}

export async function withFileLock<T>(lockPath: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10 * 60_000;
  const staleMs = opts.staleMs ?? 10 * 60_000;
  const pollMs = opts.pollMs ?? 250;
  const started = Date.now();
  let announced = false;
  for (;;) {
    try {
      const fd = fs.openSync(lockPath, 'wx');
      fs.writeSync(fd, JSON.stringify({ pid: process.pid, host: os.hostname(), at: new Date().toISOString() }));
      fs.closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let content = '';
    let age = 0;
    try {
      content = fs.readFileSync(lockPath, 'utf8');
      age = Date.now() - fs.statSync(lockPath).mtimeMs;
    } catch {
      continue; // released between our attempts
    }
    if (age > staleMs || holderIsDead(content)) {
      // Only the lock judged stale: two waiters may judge the same dead holder's lock at once, and the first
      // to break it may have taken a fresh one by the time the second gets here (then both would build).
      let still = '';
      try {
        still = fs.readFileSync(lockPath, 'utf8');
      } catch {
        continue; // already broken
      }
      if (still === content) fs.rmSync(lockPath, { force: true });
      continue;
    }
    if (Date.now() - started > timeoutMs) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for lock ${lockPath} (held by ${content}); delete it if no build is running`,
      );
    }
    if (!announced) {
      opts.onWait?.(content);
      announced = true;
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  // keep the lock fresh while we hold it, so only an abandoned lock ever looks stale
  const touch = setInterval(
    () => {
      try {
        const now = new Date();
        fs.utimesSync(lockPath, now, now);
      } catch {
        // lock removed under us: nothing to refresh
      }
    },
    Math.max(1000, Math.floor(staleMs / 4)),
  );
  touch.unref();
  try {
    return await fn();
  } finally {
    clearInterval(touch);
    fs.rmSync(lockPath, { force: true });
  }
}
