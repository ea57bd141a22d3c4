/**
 * Activities a test holds back, to force an order of events on the real system: by activity type and
 * task id (the `taskId` of the activity's input), an activity waits until the test lets it go (heartbeating
 * meanwhile, so its heartbeat timeout never fires) or for a fixed delay; a cascade by its origin. Pass `gate.interceptor` in the
 * worker's `activityInterceptors`; `releaseAll()` in `afterAll` so no held activity keeps the worker from
 * shutting down.
 */
import { Context } from '@temporalio/activity';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';

export class ActivityGate {
  private readonly holds = new Map<string, { release: () => void; released: Promise<void> }>();
  private readonly delays = new Map<string, number>();

  /** Holds the activity until the returned function is called. */
  hold(activityType: string, taskId: string): () => void {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    this.holds.set(`${activityType}:${taskId}`, { release, released });
    return release;
  }

  /** Delays the activity by `ms` before it runs (a busy service), without heartbeating. */
  delay(activityType: string, taskId: string, ms: number): void {
    this.delays.set(`${activityType}:${taskId}`, ms);
  }

  releaseAll(): void {
    for (const h of this.holds.values()) h.release();
  }

  readonly interceptor: ActivityInterceptorsFactory = (ctx) => ({
    inbound: {
      execute: async (input, next) => {
        // The task an activity is about: its input's `taskId`, the `origin` of a cascade, or the first entry of a commitment batch.
        const about = input.args[0] as
          { taskId?: string; origin?: string; entries?: Array<{ taskId?: string }> } | undefined;
        const taskId = about?.taskId ?? about?.origin ?? about?.entries?.[0]?.taskId;
        const key = `${ctx.info.activityType}:${taskId}`;
        const delay = taskId === undefined ? undefined : this.delays.get(key);
        if (delay) await new Promise((r) => setTimeout(r, delay));
        const held = taskId === undefined ? undefined : this.holds.get(key);
        if (held) {
          let done = false;
          void held.released.then(() => (done = true));
          while (!done) {
            Context.current().heartbeat();
            await new Promise((r) => setTimeout(r, 300));
          }
        }
        return next(input);
      },
    },
  });
}
