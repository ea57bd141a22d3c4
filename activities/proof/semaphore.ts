/**
 * Bounds in-process concurrency: at most `maxConcurrent` holders, at most `queueSize` waiters; a caller
 * arriving when the queue is full is refused at once (ProofQueueFullError) instead of piling up.
 */
import { ProofCancelledError, ProofQueueFullError } from './errors';

export interface SemaphoreStats {
  running: number;
  waiting: number;
  maxConcurrent: number;
  queueSize: number;
}

export class BoundedSemaphore {
  private running = 0;
  private readonly waiters: Array<{ grant: () => void; reject: (e: Error) => void }> = [];

  constructor(
    readonly maxConcurrent: number,
    readonly queueSize: number,
  ) {
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1)
      throw new RangeError(`maxConcurrent must be an integer >= 1, got ${maxConcurrent}`);
    if (!Number.isInteger(queueSize) || queueSize < 0)
      throw new RangeError(`queueSize must be an integer >= 0, got ${queueSize}`);
  }

  stats(): SemaphoreStats {
    return {
      running: this.running,
      waiting: this.waiters.length,
      maxConcurrent: this.maxConcurrent,
      queueSize: this.queueSize,
    };
  }

  /** Resolves with a release function once a slot is free. `signal` aborts the wait (not a held slot). */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(new ProofCancelledError('cancelled before a proving slot was free'));
    if (this.running < this.maxConcurrent) {
      this.running++;
      return Promise.resolve(this.releaser());
    }
    if (this.waiters.length >= this.queueSize) {
      return Promise.reject(
        new ProofQueueFullError(
          `proof queue full: ${this.running} proofs running (max_concurrent ${this.maxConcurrent}) and ${this.waiters.length} waiting (queue_size ${this.queueSize}); ` +
            'retry later, add proof workers, or raise the queue size',
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.releaser());
        },
        reject,
      };
      const onAbort = (): void => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new ProofCancelledError('cancelled while waiting for a proving slot'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next)
        next.grant(); // the slot passes directly to the next waiter
      else this.running--;
    };
  }
}
