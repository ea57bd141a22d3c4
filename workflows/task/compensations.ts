/**
 * The saga's compensations: the steps that undo a task's speculation, registered before the step they
 * undo and run in reverse order. On confirmation the same steps settle the speculation instead (the
 * bond is released in full, the control slot freed).
 */
import { log } from '@temporalio/workflow';
import { rootMessage } from '../task-decisions';

/** The reason confirmation settles the speculation with (commit.ts): not a rollback. */
export const CONFIRMED = 'confirmed';

interface Compensation {
  name: string;
  run: () => Promise<void>;
  /** Undoes the step's effects: runs on a rollback only (on confirmation they stay). */
  rollbackOnly: boolean;
}

export class Compensations {
  private steps: Compensation[] = [];

  constructor(private readonly taskId: string) {}

  register(name: string, run: () => Promise<void>, opts: { rollbackOnly?: boolean } = {}): void {
    this.steps.push({ name, run, rollbackOnly: opts.rollbackOnly ?? false });
  }

  /** Nothing needs undoing after all (the speculation was refused or never bonded). */
  forget(): void {
    this.steps.length = 0;
  }

  /**
   * Runs every compensation in reverse order of registration; each is idempotent. One that fails for
   * good (a permanent activity error) does not stop the others nor keep the task from ending: its
   * failure goes to `failed`, and `agenc admin check-integrity` reports the bond it left locked.
   */
  async runAll(reason: string, failed: (what: string) => void): Promise<void> {
    for (const c of [...this.steps].reverse()) {
      if (c.rollbackOnly && reason === CONFIRMED) continue;
      log.info('compensating', { taskId: this.taskId, step: c.name, reason });
      try {
        await c.run();
      } catch (err) {
        log.error('compensation failed for good; see agenc admin check-integrity', {
          taskId: this.taskId,
          step: c.name,
          error: rootMessage(err),
        });
        failed(`${c.name} failed: ${rootMessage(err)}`);
      }
    }
    this.forget();
  }
}
