/** Waiting in tests for something that happens asynchronously, with a deadline and a message saying what was waited for. */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a value that passes `ok`, or throws with the last value after `timeoutMs`. */
export async function pollUntil<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastErr: unknown;
  for (;;) {
    try {
      last = await probe();
      if (ok(last)) return last;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not reached within ${timeoutMs} ms; last value ${JSON.stringify(last)}${lastErr ? `, last error ${String(lastErr)}` : ''}`);
    }
    await sleep(everyMs);
  }
}
