/** Waiting in tests for something that happens asynchronously, with a deadline and a message saying what was waited for. */
import type { Duration } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface PollOptions<T> {
  /** Wall-clock time after which the wait fails (default 30 s). */
  timeoutMs?: number;
  /** Pause between probes (default 500 ms); not used with `advance`. */
  everyMs?: number;
  /**
   * On a time-skipping server: between probes, move its clock on by `by` (`env.sleep`) instead of
   * waiting in wall-clock time, for what happens only after minutes or hours of workflow time.
   */
  advance?: { env: Pick<TestWorkflowEnvironment, 'sleep'>; by: Duration };
  /** A value after which `ok` can no longer come (a task ended, say): the wait fails at once with the reason returned. */
  hopeless?: (v: T) => string | undefined;
  /** How a value reads in the failure message (default: the value itself, as JSON). */
  show?: (v: T) => unknown;
}

/**
 * Polls `probe` until it returns a value that passes `ok`, or throws with the last value after the
 * timeout. A probe that throws counts as "not yet" (its last error goes into the message). The 4th and
 * 5th arguments may still be `timeoutMs` and `everyMs`.
 */
export async function pollUntil<T>(
  what: string,
  probe: () => Promise<T>,
  ok: (v: T) => boolean,
  options: PollOptions<T> | number = {},
  everyMs?: number,
): Promise<T> {
  const opts: PollOptions<T> = typeof options === 'number' ? { timeoutMs: options, everyMs } : options;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const show = opts.show ?? ((v: T) => v);
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let seen = false;
  let lastErr: unknown;
  for (;;) {
    try {
      last = await probe();
      seen = true;
      if (ok(last)) return last;
    } catch (err) {
      lastErr = err;
    }
    const lastValue = seen ? JSON.stringify(show(last as T)) : 'none';
    const hopeless = seen ? opts.hopeless?.(last as T) : undefined;
    if (hopeless) throw new Error(`${what}: cannot happen any more (${hopeless}); last value ${lastValue}`);
    if (Date.now() > deadline) {
      throw new Error(
        `${what}: not reached within ${timeoutMs} ms; last value ${lastValue}${lastErr ? `, last error ${String(lastErr)}` : ''}`,
      );
    }
    if (opts.advance) await opts.advance.env.sleep(opts.advance.by);
    else await sleep(opts.everyMs ?? 500);
  }
}
