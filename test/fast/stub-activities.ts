/**
 * Stub activities for the fast tier: every activity the task and control workflows schedule (the
 * interfaces in shared/activity-contract.ts), answering at once with plausible results and recording
 * every call. A test tells one activity of one task to fail (with the ApplicationFailure types the real
 * activities throw), be lost to its worker (Temporal's timeout, see `behave.lost`), be held until the test
 * lets it go (heartbeating meanwhile) or fails it, or be delayed.
 *
 * The control workflow is real: `getSpeculationConfig` and `admitSpeculation` reach it as the real
 * activities do (temporal/control.ts), and `findClosedTasks` / `getTaskOutcome` ask the test server.
 * So is `verifySubmission`'s verdict: the real judgement of the signature against the agents' keys in the
 * rig's keys directory.
 */
import { createTaskActivities } from '../../activities/task-activities';
import { Context } from '@temporalio/activity';
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { ApplicationFailure, TimeoutFailure, type TimeoutType } from '@temporalio/common';
import type { ProofActivities, TaskActivities } from '../../shared/activity-contract';
import { taskStateQuery } from '../../shared/messages';
import type { ProofRecord } from '../../shared/proof-records';
import type { SettleBondResult } from '../../shared/stake-records';
import { taskWorkflowId } from '../../shared/task-model';
import { admitSpeculation, controlStatus } from '../../temporal/control';
import { KeyStore } from '../../activities/chain/keys';
import { judgeSubmission, registeredKey } from '../../activities/submission-activities';
import { createCascadeActivities } from '../../activities/cascade-activities';

export type ActivityName = keyof TaskActivities | keyof ProofActivities;

export interface StubCall {
  /** Order of arrival over the whole file: what "before" means in assertions. */
  seq: number;
  activity: ActivityName;
  /** The task the call is about (its input's `taskId`, the first entry of a commitment batch…), if any. */
  taskId: string | undefined;
  /** Temporal's attempt number of this activity (1 for the first). */
  attempt: number;
  /** The workflow that scheduled it. */
  workflowId: string;
  input: unknown;
}

/** What an activity does instead of its default: `next` runs the default. */
export type Behaviour = (call: StubCall, next: () => Promise<unknown>) => Promise<unknown>;

/** An activity held by the test: it heartbeats until released (then runs its default) or failed. */
export interface Gate {
  /** Resolves once the held activity has arrived (first attempt). */
  readonly reached: Promise<void>;
  release(): void;
  fail(err: Error): void;
}

interface Rule {
  activity: ActivityName;
  taskId: string;
  behave: Behaviour;
  /** Calls left for this rule; Infinity for every call. */
  left: number;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The task a call is about, read from the activity's input. */
function taskIdOf(activity: ActivityName, input: unknown): string | undefined {
  const i = input as Record<string, unknown> | string | string[] | undefined;
  if (typeof i === 'string') return i; // getTaskOutcome
  if (Array.isArray(i) || !i) return undefined; // findClosedTasks
  if (activity === 'verifyProof') return (i.expected as { taskId: string }).taskId;
  if (activity === 'sendCommitments' || activity === 'commitResults')
    return (i.entries as Array<{ taskId: string }>)[0]?.taskId;
  if (activity === 'awaitFinality') return Object.keys(i.signatures as Record<string, string>)[0];
  if (activity === 'releaseBonds') return (i.bonds as Array<{ taskId: string }>)[0]?.taskId;
  if (activity === 'cascadeRollback') return i.origin as string;
  return typeof i.taskId === 'string' ? i.taskId : undefined;
}

/** Ready-made behaviours. */
export const behave = {
  /** Throws what `make` returns (a fresh failure for every call). */
  fail:
    (make: () => Error): Behaviour =>
    async () => {
      throw make();
    },
  /**
   * The attempt is lost to its worker (it died, or stopped heartbeating): what the workflow sees is
   * Temporal's TimeoutFailure (HEARTBEAT by default) in the attempt's failure, retried by the activity's
   * retry policy like a real timeout.
   *
   * A real timeout cannot be had in milliseconds: the test server holds its clock while an activity is
   * scheduled or running, so a hung attempt times out in wall-clock time (5 s for an execution, 10 s for
   * a proof, each attempt). And a worker can only report an ApplicationFailure (the test server refuses
   * anything else), so the TimeoutFailure comes as its cause: ActivityFailure → ApplicationFailure
   * (`ActivityWorkerLost`) → TimeoutFailure, where a real timeout gives ActivityFailure → TimeoutFailure.
   * The workflow's decisions read the cause chain (task-decisions.ts executionWorkerLost, proofActivityLost).
   */
  lost:
    (timeoutType: TimeoutType = 'HEARTBEAT'): Behaviour =>
    async (call) => {
      const message = `activity ${timeoutType} timeout: no answer from the worker (stub: attempt ${call.attempt} lost)`;
      throw ApplicationFailure.create({
        message,
        type: 'ActivityWorkerLost',
        cause: new TimeoutFailure(message, undefined, timeoutType),
      });
    },
  /** Waits `ms` of wall-clock time, then runs the default. */
  delay:
    (ms: number): Behaviour =>
    async (_call, next) => {
      await wait(ms);
      return next();
    },
};

export class StubActivities {
  readonly calls: StubCall[] = [];
  private readonly rules: Rule[] = [];
  private readonly teardownHooks: Array<() => void> = [];
  private seq = 0;
  /** Bonds by task: what the stub chain holds. */
  readonly bonds = new Map<
    string,
    { agent: string; amount: number; state: 'locked' | 'released' | 'slashed'; slashed: number }
  >();
  /** Task ids in the order their commitments landed (each once). */
  readonly landed: string[] = [];
  /** Task ids in the order their bonds were settled (released or slashed, each once), by any activity. */
  readonly settled: string[] = [];

  constructor(
    private readonly client: Client,
    private readonly rawConfig: () => Record<string, unknown>,
    /** The agents' key files, as the real worker's key store holds them. */
    private readonly keysDir: string,
  ) {}

  /**
   * From now on, `behaviour` replaces the default for `activity` of `taskId`, for the next `times` calls
   * (default: all). Rules apply in the order they were made: `when(…, lost, 3)` then `when(…, fail)` loses
   * three attempts, then fails every one after.
   */
  when(activity: ActivityName, taskId: string, behaviour: Behaviour, times = Infinity): void {
    this.rules.push({ activity, taskId, behave: behaviour, left: times });
  }

  /** Holds the next call of `activity` for `taskId` until the test releases or fails it. */
  hold(activity: ActivityName, taskId: string): Gate {
    let reached!: () => void;
    let settle!: (outcome: { error?: Error }) => void;
    const arrived = new Promise<void>((r) => (reached = r));
    const outcome = new Promise<{ error?: Error }>((r) => (settle = r));
    this.onTeardown(() => settle({}));
    this.when(
      activity,
      taskId,
      async (_call, next) => {
        reached();
        const ctx = Context.current();
        let done = false;
        // Heartbeats while held (the activity's heartbeat timeout never fires), and hears a cancellation.
        const beat = (async () => {
          while (!done) {
            ctx.heartbeat();
            await wait(200);
          }
        })();
        try {
          const o = await Promise.race([outcome, ctx.cancelled]);
          if (o.error) throw o.error;
        } finally {
          done = true;
          await beat;
        }
        return next();
      },
      1,
    );
    return { reached: arrived, release: () => settle({}), fail: (error) => settle({ error }) };
  }

  onTeardown(hook: () => void): void {
    this.teardownHooks.push(hook);
  }

  /** Lets every held activity go, so the workers can shut down. */
  teardown(): void {
    for (const hook of this.teardownHooks.splice(0)) hook();
  }

  /** Calls of `activity` (for `taskId`, when given), in order. */
  called(activity: ActivityName, taskId?: string): StubCall[] {
    return this.calls.filter((c) => c.activity === activity && (taskId === undefined || c.taskId === taskId));
  }

  /** The arrival order of the first call of `activity` for `taskId`; Infinity when there was none (it sorts last). */
  firstSeq(activity: ActivityName, taskId: string): number {
    return this.called(activity, taskId)[0]?.seq ?? Infinity;
  }

  /** Whether `before`'s bond was settled before `after`'s (both settled). */
  settledBefore(before: string, after: string): boolean {
    const [a, b] = [this.settled.indexOf(before), this.settled.indexOf(after)];
    return a >= 0 && b >= 0 && a < b;
  }

  /** Bonds still locked on the stub chain. */
  lockedBonds(): string[] {
    return [...this.bonds].filter(([, b]) => b.state === 'locked').map(([id]) => id);
  }

  private async run<T>(activity: ActivityName, input: unknown, byDefault: () => Promise<T>): Promise<T> {
    const info = Context.current().info;
    const call: StubCall = {
      seq: ++this.seq,
      activity,
      taskId: taskIdOf(activity, input),
      attempt: info.attempt,
      workflowId: info.workflowExecution?.workflowId ?? '',
      input,
    };
    this.calls.push(call);
    const rule = this.rules.find((r) => r.activity === activity && r.taskId === call.taskId && r.left > 0);
    if (!rule) return byDefault();
    rule.left -= 1;
    return (await rule.behave(call, byDefault)) as T;
  }

  /** The activities, by the queue they are served on (as workers/worker-process.ts registers the real ones). */
  taskActivities(): TaskActivities {
    const run = this.run.bind(this);
    const client = this.client;
    const keys = new KeyStore(this.keysDir);
    return {
      verifySubmission: (input) =>
        run('verifySubmission', input, async () => judgeSubmission(input, () => registeredKey(keys, input.agent))),
      getSpeculationConfig: () =>
        run('getSpeculationConfig', undefined, async () => (await controlStatus(client, this.rawConfig())).config),
      admitSpeculation: (request) =>
        run('admitSpeculation', request, () =>
          admitSpeculation(client, { ...request, workerMemoryMb: 128 }, this.rawConfig()),
        ),
      executeTask: (input) =>
        run('executeTask', input, async () => {
          const value = BigInt((input.payload as { value?: number }).value ?? 0);
          const parentOutputs = input.parentOutputs ?? [input.parentOutput ?? '0'];
          const output = parentOutputs.reduce((sum, o) => sum + BigInt(o), value * value);
          const salt = BigInt(input.taskId.length + 7);
          return {
            output: output.toString(),
            salt: salt.toString(),
            commitment: (output * 1_000_003n + salt).toString(),
            proofValue: value.toString(),
          };
        }),
      // Stub types have no effects outside: only a `record` task has something to undo (in words).
      undoTask: (input) =>
        run('undoTask', input, async () =>
          input.type === 'record' ? { undone: `deleted the row of task ${input.taskId} (stub)` } : null,
        ),
      // Only Temporal client calls: the real activity, recorded like the stubs.
      restartDependents: (input) =>
        run('restartDependents', input, () =>
          createTaskActivities({ client, rawConfig: () => this.rawConfig() }).restartDependents(input),
        ),
      getTaskOutcome: (taskId) =>
        run('getTaskOutcome', taskId, async () => {
          try {
            return await client.workflow.getHandle(taskWorkflowId(taskId)).query(taskStateQuery);
          } catch (err) {
            if (err instanceof WorkflowNotFoundError)
              throw ApplicationFailure.nonRetryable(`task ${taskId} does not exist`, 'UnknownTask');
            throw err;
          }
        }),
      findClosedTasks: (taskIds) =>
        run('findClosedTasks', taskIds, async () => {
          const closed: string[] = [];
          for (const taskId of taskIds) {
            try {
              const { status } = await client.workflow.getHandle(taskWorkflowId(taskId)).describe();
              if (status.name !== 'RUNNING') closed.push(taskId);
            } catch (err) {
              if (err instanceof WorkflowNotFoundError) closed.push(taskId);
              else throw err;
            }
          }
          return closed;
        }),
      lockBond: (input) =>
        run('lockBond', input, async () => {
          const { min_stake, max_stake, stake_per_depth } = input.stake;
          const amount = Math.min(max_stake, min_stake + input.depth * stake_per_depth);
          const had = this.bonds.get(input.taskId);
          if (!had) this.bonds.set(input.taskId, { agent: input.agent, amount, state: 'locked', slashed: 0 });
          return {
            taskId: input.taskId,
            agent: input.agent,
            bondAddress: `bond-${input.taskId}`,
            amount: had?.amount ?? amount,
            signature: `lock-${input.taskId}`,
            alreadyLocked: Boolean(had),
          };
        }),
      releaseBond: (input) => run('releaseBond', input, async () => this.settle(input.taskId, input.agent, 0)),
      slashBond: (input) =>
        run('slashBond', input, async () => this.settle(input.taskId, input.agent, input.slashPercentage)),
      releaseBonds: (input) =>
        run('releaseBonds', input, async () => {
          const results = [];
          for (const b of input.bonds) results.push(await this.settle(b.taskId, b.agent, 0));
          return results;
        }),
      // The real cascade, against the test server, releasing on the stub chain (releaseBonds above).
      cascadeRollback: (input) =>
        run('cascadeRollback', input, () =>
          createCascadeActivities({
            client,
            releaseBonds: (bonds) => this.taskActivities().releaseBonds(bonds),
          }).cascadeRollback(input),
        ),
      sendCommitments: (input) => run('sendCommitments', input, async () => this.commit(input.entries)),
      awaitFinality: (input) => run('awaitFinality', input, async () => undefined),
      commitResults: (input) => run('commitResults', input, async () => this.commit(input.entries)),
    };
  }

  proofActivities(): ProofActivities {
    const run = this.run.bind(this);
    return {
      generateProof: (input) =>
        run('generateProof', input, async (): Promise<ProofRecord> => {
          const at = new Date().toISOString();
          const parents = input.parents?.map((p) => p.commitment) ?? [input.parentCommitment ?? '0'];
          return {
            proof_type: 'groth16',
            proof: {
              pi_a: ['1', '2', '1'],
              pi_b: [
                ['1', '2'],
                ['3', '4'],
                ['1', '0'],
              ],
              pi_c: ['1', '2', '1'],
              protocol: 'groth16',
              curve: 'bn128',
            },
            public_signals: [input.taskId, input.agent, 'output-commitment', ...parents],
            verification_key_hash: 'stub-verification-key',
            commitments: { output: 'output-commitment', parent: parents[0] ?? '0', parents },
            task_id: input.taskId,
            agent: input.agent,
            timing: { started_at: at, finished_at: at, duration_ms: 1 },
          };
        }),
      verifyProof: (input) => run('verifyProof', input, async () => ({ valid: true })),
    };
  }

  private settle(taskId: string, agent: string, slashPercentage: number): SettleBondResult {
    const bond = this.bonds.get(taskId);
    const base = { taskId, agent, bondAddress: `bond-${taskId}`, signature: `settle-${taskId}` };
    if (!bond) return { ...base, outcome: 'never_locked', slashed: 0, returned: 0, alreadySettled: false };
    const alreadySettled = bond.state !== 'locked';
    if (!alreadySettled) {
      bond.state = slashPercentage > 0 ? 'slashed' : 'released';
      bond.slashed = Math.floor(bond.amount * slashPercentage);
      this.settled.push(taskId);
    }
    return {
      ...base,
      outcome: bond.state === 'slashed' ? 'slashed' : 'released',
      slashed: bond.slashed,
      returned: bond.amount - bond.slashed,
      alreadySettled,
    };
  }

  private commit(entries: Array<{ taskId: string }>): { signatures: Record<string, string> } {
    for (const e of entries) if (!this.landed.includes(e.taskId)) this.landed.push(e.taskId);
    return { signatures: Object.fromEntries(entries.map((e) => [e.taskId, `commit-${e.taskId}`])) };
  }
}
