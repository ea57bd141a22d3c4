/**
 * `TaskRun`: one task's run, as the entity the task workflow drives. It holds the public `TaskState`
 * and the run's own bookkeeping; `run()` reads as the task's lifecycle. The steps a phase needs are
 * in files named for them: the parents (parents.ts), the dependents (dependents.ts), the bond (bond.ts),
 * the commitment and its batching (commit.ts), the rollback and its compensations (rollback.ts,
 * compensations.ts). Pure decisions stay in ../task-decisions.ts.
 */
import {
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  isCancellation,
  log,
  patched,
  proxySinks,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { SpeculationConfig } from '../../config/schema';
import {
  type CommitBatch,
  type ParentConfirmed,
  type ParentExecuted,
  type RollbackAnswer,
  taskClosedSignal,
} from '../../shared/messages';
import type { MetricsSinks } from '../../shared/metrics-sink';
import type { CommitEntry, ProofRecord } from '../../shared/proof-records';
import { SA } from '../../shared/search-attributes';
import {
  dependenciesOf,
  type RollbackReason,
  type TaskInput,
  type TaskOutput,
  type TaskState,
  type TaskStatus,
  TASK_NOT_CONFIRMED,
  taskLink,
} from '../../shared/task-model';
import { setLogPhase } from '../log-attributes';
import {
  endReason,
  newsForDependents,
  type ParentNews,
  rollbackRefusal,
  rollbackTakesEffect,
  rootMessage,
} from '../task-decisions';
import { QUICK, taskActivities } from './activity-options';
import { admitAndBond } from './admission';
import { answerGathering, commit } from './commit';
import type { CascadeMembership } from './cascade';
import { Compensations } from './compensations';
import { ControlMailbox } from './control-mailbox';
import { DependentNews, passOnProgress, pushStateTo } from './dependents';
import {
  awaitParents,
  hasLanded,
  isConfirmed,
  type KnownParent,
  mayStartOn,
  parentFailed,
  Parents,
  registerWithParents,
  toBeConfirmed,
  toLand,
  toStart,
  type WaitWords,
  tellParentsSettled,
} from './parents';
import { continueAsAttempt, nextAttempt, restartDependents, retryBackoff } from './attempts';
import { claimWindowAllowsSpeculation, startDeadlineTimer } from './deadline';
import { execute } from './execute';
import { prove } from './prove';
import { rollBack } from './rollback';

export const { metrics: metricsSink } = proxySinks<MetricsSinks>();

/** A failure that is the task's own fault; its bond (if any) is slashed. */
export class OwnFault extends Error {
  constructor(
    public readonly reason: RollbackReason,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Statuses (`enter` is their only writer; FINAL_STATUSES end the run):
 *
 * | status | entered from | goes to | heeds |
 * |---|---|---|---|
 * | pending | the start | waiting_parent (a dependent), executing (a root) | forceRollback |
 * | waiting_parent | pending; again after a refused admission | executing, rolling_back | parentExecuted, parentProgress, parentConfirmed, parentRolledBack, forceRollback |
 * | executing | pending, waiting_parent | executed, rolling_back | parentConfirmed, parentCommitted, parentRolledBack, forceRollback |
 * | executed | executing | awaiting_ancestors (to prove), proving | the same |
 * | awaiting_ancestors | executed (optimistic proofs off), proving (the parent's commitment not landed) | proving, committing, rolling_back | the same, and gatherCommits |
 * | proving | executed, awaiting_ancestors | awaiting_ancestors, committing, rolling_back | the same, and gatherCommits (answered empty) |
 * | committing | proving, awaiting_ancestors; gatherCommits (joins the parent's batch) | confirmed; rolling_back only if the commitment cannot land | commitsReady, parentConfirmed; rollback requests are ignored |
 * | rolling_back | any forward status, on a rollback request or an own fault | failed (own fault), rolled_back | dependentSettled |
 * | confirmed, failed, rolled_back | committing, rolling_back | — | queries |
 *
 * In every status a dependent may register (it hears this task's state at once) and queries answer.
 */
export class TaskRun {
  readonly state: TaskState;
  /** The live configuration: read when the task starts, then the one its speculation admission answered with. */
  config?: SpeculationConfig;
  /** What this task knows of each parent, pushed by their signals. */
  readonly parents: Parents;
  /** The first rollback that took effect (later requests are ignored). */
  rollbackRequest?: RollbackReason;
  /** The parent whose failure that rollback was for, if it was a parent's. */
  rollbackCause?: string;
  /** The failure that was this task's own fault, once the forward run ended with one. */
  ownFault?: OwnFault;
  /** The proof, once generated (verified, unless the task then fails on it). */
  proofRecord?: ProofRecord;
  /** Dependents that reached a final state (or whose workflow closed without saying so). */
  readonly settledDependents = new Set<string>();
  /** The commitment batch that carried this task's commitment: its own, or an ancestor's that took it along. */
  commitBatch?: CommitBatch;
  /** This task's commitment has landed on-chain, and its dependents have been (or will be) told. */
  commitLanded = false;
  /** What this task answered an ancestor gathering commits: its own entry and its proven descendants'. */
  handedUp?: CommitEntry[];
  /** The parent whose batch took `handedUp` (a join answers only one of its parents' gatherings). */
  handedUpTo?: string;
  /** Dependents' answers to this task's gathering, by dependent. */
  readonly gathered = new Map<string, CommitEntry[]>();
  /** The forward run has ended: from then on nothing changes why the task ends (with the end-reason-frozen patch). */
  forwardEnded = false;
  /** The results the task executes on (its data and confirmed parents'): confirmed, or executed when speculating. */
  consumed: Array<{ taskId: string; output: TaskOutput }> = [];
  /** The execution's private value, proven to produce the output. */
  proofValue = '0';
  /** A bond lock is under way (it cannot be called back): a cascade's join waits for it to finish. */
  bondLocking = false;
  /** Which attempt of the task this run is (1 for the first). */
  readonly attempt: number;
  /** The cascade this task joined (a failed ancestor's), if it did. */
  cascade?: CascadeMembership;

  readonly compensations: Compensations;
  readonly control: ControlMailbox;
  /** The forward run (parent → commit); a rollback request cancels it. */
  readonly forward = new CancellationScope();

  /**
   * A dependent sends its commitment once its parent's has landed, not once it is final, so a chain's
   * finality waits overlap. Workflows started before keep waiting for the parent's confirmation.
   */
  readonly pipelinedCommits = patched('pipelined-commits');
  /**
   * Why the task ends is decided once, when its forward run ends: a rollback request arriving while it waits
   * for its subtree (its confirmation timer, its parent failing, an operator) no longer turns a slash into a
   * release, and its confirmation timer dies with the forward run. Workflows started before keep the old rule.
   */
  readonly endReasonFrozen = patched('end-reason-frozen');
  /**
   * Only what the agent controls slashes (OWN_FAULT_REASONS): a SystemFault or a proof timeout rolls the task
   * back with its bond released. Workflows started before keep the rule they started with.
   */
  readonly systemFaultsReleased = patched('system-faults-release-bond');
  /** While waiting for the parent, look whether its workflow still runs (awaitParent). Workflows started before wait without looking. */
  readonly parentLiveness = patched('parent-liveness');
  /**
   * The submission is verified first (signed by the agent it names, with its registered key), before anything
   * is bonded, and the proof binds that key. Workflows started before run unverified and prove the agent's name.
   */
  readonly submissionVerified = patched('verify-submission');
  /**
   * What dependents hear is sent by DependentNews, after the task's step in an activation, so a replay
   * that sees a registration and an activity result in the other order emits the same commands.
   * Workflows started before push from the handlers and the steps, as they did.
   */
  readonly newsDeferred = patched('dependent-news-deferred');
  readonly news = new DependentNews(this);

  constructor(readonly input: TaskInput) {
    this.attempt = input.attempt ?? 1;
    this.state = {
      task_id: input.taskId,
      workflow_id: workflowInfo().workflowId,
      type: input.type,
      agent: input.agent,
      agent_public_key: null,
      payload: input.payload,
      parent_task_id: input.parentTaskId ?? null,
      parents: dependenciesOf(input).map((d) => ({ task_id: d.taskId, kind: d.kind })),
      root_task_id: input.rootTaskId,
      status: 'pending',
      speculation_status: 'pending',
      depth: 0,
      dependents: [],
      result: null,
      result_commitment: null,
      parent_commitment: null,
      parent_commitments: [],
      bond: null,
      proof: { state: 'none' },
      commit_signature: null,
      committed_by: null,
      rollback_reason: null,
      rollback_causes: [],
      error: null,
      waiting_for: null,
      deadline: input.deadline ?? null,
      attempt: input.attempt ?? 1,
      previous_attempts: input.previousAttempts ?? [],
      retry: null,
      timestamps: { submitted: input.submittedAt },
    };
    this.parents = new Parents(dependenciesOf(input));
    this.compensations = new Compensations(input.taskId);
    this.control = new ControlMailbox(input.taskId);
  }

  /** The lifecycle: wait for the parent, admit and bond, execute, prove, await ancestors, commit — or roll back — then close. */
  async run(): Promise<TaskState> {
    if (this.newsDeferred) this.news.start();
    this.announce();
    const restarting = restartDependents(this);
    await this.runForward();
    if (this.goingForward()) await commit(this);
    if (this.goingForward()) await this.confirm();
    else await rollBack(this);
    const next = nextAttempt(this);
    await restarting;
    await this.close();
    if (next) await continueAsAttempt(this, next);
    // Not confirmed: the workflow ends failed, so the Web UI's list (and its Failures count) shows it for
    // what it is; the final state is the failure's details, and the taskState query still answers.
    if (this.state.status !== 'confirmed' && patched('unconfirmed-fails-workflow')) throw notConfirmed(this.state);
    return this.state;
  }

  /** The only writer of the status: the log phase, the status's first timestamp, the Web UI's details, the search attributes. */
  enter(status: TaskStatus, waitingFor: string | null = null): void {
    this.state.status = status;
    setLogPhase(status);
    // When the task entered the status: a later wait within it (a rollback's minute checks) keeps it.
    this.state.timestamps[status] ??= now();
    this.state.waiting_for = waitingFor;
    setCurrentDetails(`**${status}**${waitingFor ? ` — waiting for ${waitingFor}` : ''}`);
    upsertSearchAttributes([
      { key: SA.status, value: status },
      { key: SA.speculationStatus, value: this.state.speculation_status },
      { key: SA.depth, value: this.state.depth },
    ]);
  }

  /** A new wait within the same status: what the Web UI and `agenc status` show; the status's timestamp stays. */
  waitFor(waitingFor: string): void {
    this.state.waiting_for = waitingFor;
    setCurrentDetails(`**${this.state.status}** — waiting for ${waitingFor}`);
  }

  /** Cancels the forward run, unless the task is past the point where a rollback can take effect; `cause` names the parent whose failure asks it. */
  requestRollback(reason: RollbackReason, cause?: string): void {
    if (
      !rollbackTakesEffect(this.state.status, Boolean(this.rollbackRequest), this.endReasonFrozen && this.forwardEnded)
    )
      return;
    log.warn('rollback requested', { taskId: this.input.taskId, reason, ...(cause ? { parent: cause } : {}) });
    this.rollbackRequest = reason;
    this.rollbackCause = cause;
    this.forward.cancel();
  }

  /** An operator's rollback, its reason kept in the state: answers whether it takes effect, and why not. */
  forceRollback(reason: string): RollbackAnswer {
    const why = rollbackRefusal(this.state.status, this.rollbackRequest, this.endReasonFrozen && this.forwardEnded);
    if (why) return { accepted: false, status: this.state.status, why };
    this.state.forced_rollback = { reason, at: new Date().toISOString() };
    this.requestRollback('forced');
    return { accepted: true, status: this.state.status };
  }

  /** Every parent failure this task heard, once each, in order: the first is what it rolled back for, the rest it says it also heard. */
  noteRollbackCause(parentId: string, reason: RollbackReason): void {
    const causes = (this.state.rollback_causes ??= []);
    if (!causes.some((c) => c.task_id === parentId)) causes.push({ task_id: parentId, reason });
  }

  /** Why the task ends, once its forward run has; undefined while it may still confirm. */
  endReason(): RollbackReason | undefined {
    return endReason(this.rollbackRequest, this.ownFault?.reason);
  }

  goingForward(): boolean {
    return !this.rollbackRequest && !this.ownFault;
  }

  pendingAncestors(): number {
    return this.parents.pendingAncestors();
  }

  batchSize(): number {
    return this.config?.speculation.proof.batch_size ?? 1;
  }

  /**
   * A permanent failure no step expected (an activity's non-retryable error): the task still ends, rolled
   * back with its compensations run and its dependents told, instead of failing its workflow and leaving
   * them waiting. Not the agent's fault: a bond is released.
   */
  systemError(where: string, err: unknown): void {
    log.error('unexpected permanent failure; rolling back as system_error', {
      taskId: this.input.taskId,
      where,
      error: rootMessage(err),
    });
    this.state.error = `${where} failed: ${rootMessage(err)}`;
    this.rollbackRequest ??= 'system_error';
  }

  /** Keeps a failure beside any before it (a compensation that failed for good). */
  recordError(failure: string): void {
    this.state.error = [this.state.error, failure].filter(Boolean).join('; ');
  }

  // What the task hears (its signal handlers): each records it; the replies a relative waits on go at once.

  async heardDependentRegistered(taskId: string): Promise<void> {
    if (!this.state.dependents.includes(taskId)) this.state.dependents.push(taskId);
    // A dependent that settled and registers again is its next attempt: unsettled again.
    this.settledDependents.delete(taskId);
    if (this.newsDeferred) this.news.oweState([taskId]);
    else await pushStateTo(this, taskId);
  }

  /** The dependents (all, or those named) hear the task's new state. */
  async tellDependents(dependents?: readonly string[]): Promise<void> {
    const told = dependents ?? this.state.dependents;
    if (this.newsDeferred) this.news.oweState(told);
    else await Promise.all(told.map((d) => pushStateTo(this, d)));
  }

  /** What the dependents hear of this task now (its state, as shared/task-decisions newsForDependents reads it). */
  newsForDependents(): ParentNews {
    return newsForDependents({
      status: this.state.status,
      hasResult: Boolean(this.state.result),
      ownFault: Boolean(this.ownFault),
      rollbackRequested: Boolean(this.rollbackRequest),
    });
  }

  /** The dependents hear their new count of unconfirmed ancestors. */
  private async tellProgress(): Promise<void> {
    if (this.newsDeferred) this.news.oweProgress();
    else await passOnProgress(this);
  }

  heardParentExecuted(executed: ParentExecuted): void {
    const parent = this.knownParent(executed.parentTaskId);
    if (!parent) return;
    parent.executed = executed;
    parent.pendingAncestors = executed.pendingAncestors;
  }

  async heardParentProgress(parentId: string, pendingAncestors: number): Promise<void> {
    const parent = this.knownParent(parentId);
    if (!parent) return;
    parent.pendingAncestors = pendingAncestors;
    await this.tellProgress();
  }

  async heardParentConfirmed(confirmed: ParentConfirmed): Promise<void> {
    const parent = this.knownParent(confirmed.parentTaskId);
    if (!parent) return;
    parent.confirmed = { output: confirmed.output, salt: confirmed.salt, commitment: confirmed.commitment };
    if (confirmed.batch?.signatures[this.input.taskId]) this.commitBatch = confirmed.batch;
    await this.tellProgress();
  }

  heardParentCommitted(parentId: string, batch: CommitBatch): void {
    const parent = this.knownParent(parentId);
    if (!parent) return;
    parent.committed = true;
    if (batch.signatures[this.input.taskId]) this.commitBatch = batch;
  }

  heardParentFailed(parentId: string, reason: RollbackReason): void {
    parentFailed(this, parentId, reason);
  }

  /** A parent's news; one from a task that is not a parent is logged and ignored. */
  private knownParent(parentId: string): KnownParent | undefined {
    const parent = this.parents.get(parentId);
    if (!parent)
      log.warn('news from a task that is not a parent ignored', { taskId: this.input.taskId, from: parentId });
    return parent;
  }

  heardDependentSettled(taskId: string): void {
    this.settledDependents.add(taskId);
  }

  heardGatheringAnswer(taskId: string, entries: CommitEntry[]): void {
    this.gathered.set(taskId, entries);
  }

  heardGatheringRequest(parentTaskId: string): Promise<void> {
    return answerGathering(this, parentTaskId);
  }

  private announce(): void {
    const { input } = this;
    upsertSearchAttributes([
      { key: SA.taskId, value: input.taskId },
      { key: SA.rootTaskId, value: input.rootTaskId },
      { key: SA.agent, value: input.agent },
      { key: SA.taskType, value: input.type },
      ...(input.parentTaskId ? [{ key: SA.parentTaskId, value: input.parentTaskId }] : []),
    ]);
    this.enter('pending');
  }

  /** Parent → execute → prove → ancestors landed, in the cancellable forward scope; ends with why it stopped, if it did. */
  private async runForward(): Promise<void> {
    try {
      await this.forward.run(async () => {
        startDeadlineTimer(this);
        await retryBackoff(this);
        if (this.submissionVerified) await this.verifySubmission();
        this.config = await taskActivities(QUICK, 'read the live speculation configuration').getSpeculationConfig();
        // A parent that failed before the policy was known (an order edge): decided now.
        for (const [parentId, reason] of this.parents.undecidedFailures()) parentFailed(this, parentId, reason);
        if (this.parents.any) await this.startOnParents();
        else this.startedAs('non_speculative');
        await execute(this);
        await prove(this);
        await this.awaitAncestorsLanded();
      });
    } catch (err) {
      if (err instanceof OwnFault) this.ownFault = err;
      else if (!(isCancellation(err) && this.rollbackRequest)) this.systemError('the forward run', err);
    }
    this.forwardEnded = true;
  }

  /**
   * Is the submission signed by the agent it names, with the key registered for it? Asked of the worker that
   * holds the key store before the task does anything else, so a forged submission never reaches its parent,
   * the control workflow or a bond. A refusal rolls the task back (`submission_refused`): nothing was bonded,
   * and it is not the named agent's doing.
   */
  private async verifySubmission(): Promise<void> {
    const { input } = this;
    const verdict = await taskActivities(
      QUICK,
      `verify: the submission is signed by agent ${input.agent}'s registered key`,
    ).verifySubmission({
      taskId: input.taskId,
      type: input.type,
      payload: input.payload,
      agent: input.agent,
      parentTaskId: input.parentTaskId,
      ...(input.parents ? { parents: input.parents } : {}),
      agentPublicKey: input.agentPublicKey,
      submissionSignature: input.submissionSignature,
    });
    if (verdict.valid) {
      this.state.agent_public_key = verdict.agentPublicKey;
      return;
    }
    log.warn('submission refused', { taskId: input.taskId, agent: input.agent, code: verdict.code });
    await this.rollBackForSystemFault('submission_refused', verdict.reason);
  }

  private startedAs(speculationStatus: TaskState['speculation_status']): void {
    this.state.speculation_status = speculationStatus;
    metricsSink.taskStarted(this.input.type, speculationStatus);
  }

  /**
   * Waits until it may start on its parents (each data and order parent executed, each confirmed-kind one
   * confirmed); speculates on the unconfirmed ones if admitted and bonded, else waits for their confirmation.
   */
  private async startOnParents(): Promise<void> {
    const { parents } = this;
    this.enter('waiting_parent', parents.firstNotReady(mayStartOn, toStart) ?? null);
    await registerWithParents(this);
    await this.awaitEachParent(mayStartOn, toStart);
    const unconfirmed = parents.unconfirmed();
    if (unconfirmed.length) {
      const speculating = claimWindowAllowsSpeculation(this) && (await admitAndBond(this, unconfirmed));
      metricsSink.taskStarted(this.input.type, this.state.speculation_status);
      if (!speculating) {
        const words = toBeConfirmed(` (${this.state.speculation_status})`);
        this.enter('waiting_parent', parents.firstNotReady(isConfirmed, words) ?? null);
        await this.awaitEachParent(isConfirmed, words);
      }
    } else {
      this.startedAs('non_speculative');
    }
    this.consumed = parents.consumed();
    this.state.parent_commitments = this.consumed.map((c) => c.output.commitment);
    this.state.parent_commitment = this.consumed[0]?.output.commitment ?? null;
  }

  /**
   * Waits until every parent passes `ready`, saying which one it waits for: one wait while the first it
   * names is not ready, then the next. A single parent gets exactly the one wait a run started before task
   * graphs made, returned as it is (no await of its own): a replay sees its commands in the same order
   * only if the wait resolves after as many steps as it did then.
   */
  awaitEachParent(ready: (p: KnownParent) => boolean, words: WaitWords): Promise<void> {
    const firstNotReady = () => this.parents.firstNotReady(ready, words);
    const waiting = firstNotReady();
    if (waiting) this.waitFor(waiting);
    if (this.parents.ids.length <= 1) return awaitParents(this, () => this.parents.all(ready));
    return (async () => {
      for (let named = waiting; named; named = firstNotReady()) {
        this.waitFor(named);
        await awaitParents(this, () => firstNotReady() !== named);
      }
    })();
  }

  /** Rolls back for a fault that is not the agent's: the bond is released. Never returns (the forward scope is cancelled). */
  async rollBackForSystemFault(reason: RollbackReason, message: string): Promise<void> {
    this.state.error = message;
    this.requestRollback(reason);
    await this.forward.cancelRequested;
  }

  /** A commitment lands after its parents': wait for theirs (or, before pipelined commits, for their confirmation). */
  private async awaitAncestorsLanded(): Promise<void> {
    const { parents } = this;
    if (parents.allConfirmed()) return;
    if (this.pipelinedCommits) {
      if (parents.allLanded()) return;
      this.enter('awaiting_ancestors', parents.firstNotReady(hasLanded, toLand) ?? null);
      await this.awaitEachParent(hasLanded, toLand);
    } else {
      this.enter('awaiting_ancestors', parents.firstNotReady(isConfirmed, toBeConfirmed()) ?? null);
      await this.awaitEachParent(isConfirmed, toBeConfirmed());
    }
  }

  private async confirm(): Promise<void> {
    const { state } = this;
    this.enter('confirmed');
    const carrier = state.committed_by === this.input.taskId ? '' : ` in task ${state.committed_by}'s batch`;
    const bond = state.bond ? `${state.bond.amount} lamports released` : 'none';
    setCurrentDetails(
      `**confirmed** — committed on Solana (${state.commit_signature})${carrier}; bond ${bond}${dependentLinks(state)}`,
    );
    metricsSink.confirmed(state.speculation_status);
    await this.tellDependents();
  }

  /** Final: the parent hears it, the control workflow frees the admission slot (max_pending_operations). */
  private async close(): Promise<void> {
    if (this.newsDeferred) await this.news.drained();
    await tellParentsSettled(this);
    // A task followed by its next attempt keeps its admission slot (max_pending_operations) for it.
    if (!this.state.retry)
      await this.control.tell('taskClosed', (control) =>
        control.signal(taskClosedSignal, { taskId: this.input.taskId, status: this.state.status }),
      );
    await this.control.deliverUndelivered((what) => this.waitFor(what));
    await condition(allHandlersFinished);
    // A dependent that registered in the meantime still hears the final state before the workflow ends.
    if (this.newsDeferred) await this.news.drained();
  }
}

function now(): string {
  return new Date().toISOString();
}

/** The task's dependents as links to their pages in the Web UI (empty without dependents). */
export function dependentLinks(state: TaskState): string {
  if (!state.dependents.length) return '';
  const ns = workflowInfo().namespace;
  return `; dependents: ${state.dependents.map((id) => taskLink(ns, id)).join(', ')}`;
}

/** How an unconfirmed task ends its workflow: a non-retryable failure whose details are its final state. */
function notConfirmed(state: TaskState): ApplicationFailure {
  const why = state.rollback_reason ? ` (${state.rollback_reason})` : '';
  return ApplicationFailure.create({
    type: TASK_NOT_CONFIRMED,
    message: `task ${state.task_id} ${state.status}${why}${state.error ? `: ${state.error}` : ''}`,
    nonRetryable: true,
    details: [state],
  });
}
