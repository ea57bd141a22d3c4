/**
 * `speculativeTask`: one durable workflow per task (`task-<taskId>`).
 *
 * A dependent starts on its parent's *executed* (unconfirmed) result when the control workflow admits
 * it, bonding stake for the risk. Its proof may be generated early, but its commitment goes on-chain
 * only after every ancestor is confirmed. When an ancestor fails, the rollback runs as a saga: the
 * subtree first (deepest first: a task compensates only after all its dependents have settled), then
 * this task's compensations in reverse, inside a non-cancellable scope. Every compensation is
 * idempotent, so a retry after a crash ends in the same state.
 */
import {
  type ActivityOptions,
  CancellationScope,
  allHandlersFinished,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxySinks,
  setCurrentDetails,
  sleep,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { SpeculationConfig } from '../config/schema';
import type { ProofActivities, TaskActivities } from '../shared/activity-contract';
import type { CommitEntry, ProofRecord } from '../shared/proof-records';
import { FAILURE_TYPES } from '../shared/activity-contract';
import {
  agentSlashedSignal,
  type CommitBatch,
  commitsReadySignal,
  CONTROL_WORKFLOW_ID,
  dependentSettledSignal,
  forceRollbackSignal,
  gatherCommitsSignal,
  type ParentExecuted,
  parentCommittedSignal,
  parentConfirmedSignal,
  parentExecutedSignal,
  parentProgressSignal,
  parentRolledBackSignal,
  proofRecordQuery,
  registerDependentSignal,
  speculationEndedSignal,
  taskClosedSignal,
  taskStateQuery,
} from '../shared/messages';
import type { MetricsSinks } from '../shared/metrics-sink';
import { setLogPhase } from './log-attributes';
import {
  bondSettlement,
  bondSettlementBeforeSystemFaults,
  classifyExecutionFailure,
  classifyProofFailure,
  commitBatchEntries,
  endReason,
  executionWorkerLost,
  failureType,
  mayJoinParentBatch,
  newsForDependents,
  passesOnProgress,
  proofActivityLost,
  proofFailureReason,
  provesBeforeParentConfirmed,
  rollbackExplanation,
  rollbackTakesEffect,
  rootMessage,
  unconfirmedAncestors,
  unconfirmedStatus,
  unsettledDependents,
} from './task-decisions';
import { SA } from '../shared/search-attributes';
import { PROOF_QUEUE, PROOF_VERIFICATION_QUEUE } from '../shared/task-queues';
import { FINAL_STATUSES, type RollbackReason, type TaskInput, type TaskOutput, type TaskState, type TaskStatus, taskWorkflowId } from '../shared/task-model';

// Timeouts are short because a worker that dies mid-activity is only noticed when they expire: then
// Temporal retries the activity on a live worker (every activity here is idempotent).
const QUICK: ActivityOptions = {
  startToCloseTimeout: '15s',
  retry: { initialInterval: '500ms', maximumInterval: '10s', backoffCoefficient: 2 },
};
/** Chain activities are idempotent: retried without limit, never a double transfer. */
const CHAIN: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s', backoffCoefficient: 2, nonRetryableErrorTypes: [FAILURE_TYPES.stakeInsufficientFunds] },
};
/**
 * An execution error is retried twice (after 1 s, then 2 s) before the task fails on its own fault.
 * The execution heartbeats while it works, so a worker that dies is noticed within the heartbeat
 * timeout, not at the end of start-to-close.
 */
const EXECUTION: ActivityOptions = {
  startToCloseTimeout: '30s',
  heartbeatTimeout: '5s',
  retry: { maximumAttempts: 3, initialInterval: '1s', backoffCoefficient: 2, nonRetryableErrorTypes: [FAILURE_TYPES.invalidPayload] },
};

/** Rounds of execution attempts all lost to their worker (each round is EXECUTION's attempts) before the task gives up. */
const MAX_LOST_EXECUTION_ROUNDS = 3;

/**
 * How long a committing task waits for its dependents to say what is proven below them. A dependent
 * that answers later is not lost: it commits itself once this task is confirmed.
 */
const COMMIT_GATHER_TIMEOUT = '2 seconds';

/**
 * Commits wait for finality once per batch; a batch on a cluster sends one confirmed transaction per result.
 * They heartbeat while they wait, so a worker that dies mid-commit is noticed in seconds, not at start-to-close.
 */
const COMMIT: ActivityOptions = { ...CHAIN, startToCloseTimeout: '2 minutes', heartbeatTimeout: '10s' };

/**
 * How long a finished task keeps trying to tell the control workflow what it must hear (a slot to free, a
 * slash's cooldown) while that workflow is missing, e.g. closed and not yet restored. Past it the control
 * workflow's clean-up frees the slots; only the cooldown is lost, and the log says so.
 */
const CONTROL_REDELIVERY_MS = 60 * 60_000;

/** How often a rolling-back task checks on dependents that have not settled yet. */
const SUBTREE_CHECK_INTERVAL = '1 minute';

/** The activities with a one-line summary naming the step, as the Web UI's timeline shows it. */
function step(options: ActivityOptions, summary: string) {
  return proxyActivities<TaskActivities>({ ...options, summary });
}
const { metrics } = proxySinks<MetricsSinks>();

/** A failure that is the task's own fault; its bond (if any) is slashed. */
class OwnFault extends Error {
  constructor(
    public readonly reason: RollbackReason,
    message: string,
  ) {
    super(message);
  }
}

/**
 * What the workflow keeps besides its public `TaskState`: what the signals told it and what its steps
 * recorded. Handlers write here and steps read here; the decisions on it are in task-decisions.ts.
 */
interface TaskBook {
  /** The live configuration: read when the task starts, then the one its speculation admission answered with. */
  config?: SpeculationConfig;
  /** What this task knows of its parent, pushed by the parent's signals. */
  parent: {
    executed?: ParentExecuted;
    confirmed?: TaskOutput;
    /** The parent's commitment has landed on-chain (not yet final): this task may send its own. */
    committed?: boolean;
    /** The parent's own unconfirmed ancestors. */
    pendingAncestors: number;
  };
  /** The first rollback that took effect (later requests are ignored). */
  rollbackRequest?: RollbackReason;
  /** The failure that was this task's own fault, once the forward run ended with one. */
  ownFault?: OwnFault;
  /** The proof, once generated (verified, unless the task then fails on it). */
  proofRecord?: ProofRecord;
  /** Dependents that reached a final state (or whose workflow closed without saying so). */
  settledDependents: Set<string>;
  /** The commitment batch that carried this task's commitment: its own, or an ancestor's that took it along. */
  commitBatch?: CommitBatch;
  /** This task's commitment has landed on-chain, and its dependents have been (or will be) told. */
  commitLanded?: boolean;
  /** What this task answered an ancestor gathering commits: its own entry and its proven descendants'. */
  handedUp?: CommitEntry[];
  /** Dependents' answers to this task's gathering, by dependent. */
  gathered: Map<string, CommitEntry[]>;
  /** The steps that undo speculation (or, on confirmation, settle it), run in reverse order of registration. */
  compensations: Array<{ name: string; run: () => Promise<void> }>;
  /** The forward run has ended: from then on nothing changes why the task ends (with the end-reason-frozen patch). */
  forwardEnded?: boolean;
  /** Messages the control workflow could not take yet (it was missing), in the order they were sent. */
  undeliveredToControl: Array<{ what: string; send: (control: ReturnType<typeof getExternalWorkflowHandle>) => Promise<void> }>;
}

/**
 * What the proof worker may take on top of `timeout_ms`: its own ProofTimeout (the agent's fault) fires
 * at `timeout_ms` after proving starts, and the margin lets that answer, or a proof finished just in
 * time, reach the server. Start-to-close firing therefore means the worker stopped answering.
 */
const PROOF_ANSWER_MARGIN_MS = 5_000;

/**
 * A proof waits in the `agenc-proofs` backlog, not in a worker, so only proving counts against the
 * agent. The wait itself is bounded by `confirmation_timeout_ms`: as long as a speculative dependent
 * waits for its parent to confirm, since a proof that waits longer holds every dependent past that
 * limit anyway. Schedule-to-start timeouts are not retried; start-to-close and heartbeat timeouts (a
 * worker that died or hung) are, on any other proof worker; every one of them is the system's fault.
 */
function proofOptions(cfg: SpeculationConfig): ActivityOptions {
  return {
    taskQueue: PROOF_QUEUE,
    scheduleToStartTimeout: cfg.speculation.confirmation_timeout_ms,
    startToCloseTimeout: cfg.speculation.proof.timeout_ms + PROOF_ANSWER_MARGIN_MS,
    heartbeatTimeout: '10s',
    retry: { maximumAttempts: 3, nonRetryableErrorTypes: [FAILURE_TYPES.proofTimeout] },
  };
}

/** Verification takes tens of milliseconds, on its own queue so that it never waits behind the proof backlog. */
function verificationOptions(cfg: SpeculationConfig): ActivityOptions {
  return {
    taskQueue: PROOF_VERIFICATION_QUEUE,
    scheduleToStartTimeout: cfg.speculation.confirmation_timeout_ms,
    startToCloseTimeout: '15s',
    retry: { maximumAttempts: 3 },
  };
}

export async function speculativeTask(input: TaskInput): Promise<TaskState> {
  const now = () => new Date().toISOString();
  const state: TaskState = {
    task_id: input.taskId,
    workflow_id: workflowInfo().workflowId,
    type: input.type,
    agent: input.agent,
    payload: input.payload,
    parent_task_id: input.parentTaskId ?? null,
    root_task_id: input.rootTaskId,
    status: 'pending',
    speculation_status: 'pending',
    depth: 0,
    dependents: [],
    result: null,
    result_commitment: null,
    parent_commitment: null,
    bond: null,
    proof: { state: 'none' },
    commit_signature: null,
    committed_by: null,
    rollback_reason: null,
    error: null,
    waiting_for: null,
    timestamps: { submitted: input.submittedAt },
  };

  const task: TaskBook = { parent: { pendingAncestors: 0 }, settledDependents: new Set(), gathered: new Map(), compensations: [], undeliveredToControl: [] };
  const forward = new CancellationScope();
  /**
   * A dependent sends its commitment once its parent's has landed, not once it is final, so a chain's
   * finality waits overlap. Workflows started before keep waiting for the parent's confirmation.
   */
  const pipelinedCommits = patched('pipelined-commits');
  /**
   * Why the task ends is decided once, when its forward run ends: a rollback request arriving while it waits
   * for its subtree (its confirmation timer, its parent failing, an operator) no longer turns a slash into a
   * release, and its confirmation timer dies with the forward run. Workflows started before keep the old rule.
   */
  const endReasonFrozen = patched('end-reason-frozen');
  /**
   * Only what the agent controls slashes (OWN_FAULT_REASONS): a SystemFault or a proof timeout rolls the task
   * back with its bond released. Workflows started before keep the rule they started with.
   */
  const systemFaultsReleased = patched('system-faults-release-bond');
  /** While waiting for the parent, look whether its workflow still runs (awaitParent). Workflows started before wait without looking. */
  const parentLiveness = patched('parent-liveness');

  const setStatus = (status: TaskStatus, waitingFor: string | null = null) => {
    state.status = status;
    setLogPhase(status);
    // When the task entered the status: a later wait within it (a rollback's minute checks) keeps it.
    state.timestamps[status] ??= now();
    state.waiting_for = waitingFor;
    setCurrentDetails(`**${status}**${waitingFor ? ` — waiting for ${waitingFor}` : ''}`);
    upsertSearchAttributes([
      { key: SA.status, value: status },
      { key: SA.speculationStatus, value: state.speculation_status },
      { key: SA.depth, value: state.depth },
    ]);
  };

  /** A new wait within the same status: what the Web UI and `agenc status` show; the status's timestamp stays. */
  const waitFor = (waitingFor: string) => {
    state.waiting_for = waitingFor;
    setCurrentDetails(`**${state.status}** — waiting for ${waitingFor}`);
  };

  const pendingAncestors = () =>
    unconfirmedAncestors({
      hasParent: Boolean(input.parentTaskId),
      parentConfirmed: Boolean(task.parent.confirmed),
      parentPending: task.parent.pendingAncestors,
    });

  const signalTask = async (taskId: string, send: (h: ReturnType<typeof getExternalWorkflowHandle>) => Promise<void>) => {
    try {
      await send(getExternalWorkflowHandle(taskWorkflowId(taskId)));
    } catch (err) {
      // A task that already finished needs nothing more from this one.
      log.debug('related task already finished; signal not delivered', { other: taskId, error: rootMessage(err) });
    }
  };

  /** What a dependent needs to hear about this task now: sent on registration and on every change. */
  const pushStateTo = async (taskId: string) => {
    const news = newsForDependents({
      status: state.status,
      hasResult: Boolean(state.result),
      ownFault: Boolean(task.ownFault),
      rollbackRequested: Boolean(task.rollbackRequest),
    });
    if (news.kind === 'rolled_back') {
      await signalTask(taskId, (h) => h.signal(parentRolledBackSignal, { parentTaskId: input.taskId, reason: news.reason }));
    } else if (news.kind === 'confirmed') {
      await signalTask(taskId, (h) => h.signal(parentConfirmedSignal, { parentTaskId: input.taskId, ...state.result!, batch: task.commitBatch }));
    } else if (news.kind === 'executed') {
      const executed: ParentExecuted = { parentTaskId: input.taskId, agent: input.agent, pendingAncestors: pendingAncestors(), ...state.result! };
      await signalTask(taskId, (h) => h.signal(parentExecutedSignal, executed));
      if (task.commitLanded) await signalTask(taskId, (h) => h.signal(parentCommittedSignal, { parentTaskId: input.taskId, batch: task.commitBatch! }));
    }
  };
  const pushStateToAll = () => Promise.all(state.dependents.map(pushStateTo));

  /** Tells the dependents their new count of unconfirmed ancestors, after this task's parent's changed. */
  const passOnProgress = async () => {
    if (!passesOnProgress({ status: state.status, hasResult: Boolean(state.result) })) return;
    await Promise.all(
      state.dependents.map((d) => signalTask(d, (h) => h.signal(parentProgressSignal, { parentTaskId: input.taskId, pendingAncestors: pendingAncestors() }))),
    );
  };

  /**
   * Answers a committing parent's gathering: the same answer as before if asked again, nothing unless this
   * task may join the batch, else its own entry and what is proven below it.
   */
  const answerGathering = async (parentTaskId: string) => {
    const answer = async (entries: CommitEntry[]) => signalTask(parentTaskId, (h) => h.signal(commitsReadySignal, { taskId: input.taskId, entries }));
    if (task.handedUp) return answer(task.handedUp);
    const ready = mayJoinParentBatch({
      status: state.status,
      proofState: state.proof.state,
      rollbackRequested: Boolean(task.rollbackRequest),
      ownFault: Boolean(task.ownFault),
      batchSize: batchSize(),
    });
    if (!ready) return answer([]);
    // Point of no return, as for a task committing on its own: the parent is past its own and may carry this commitment.
    setStatus('committing', `parent task ${parentTaskId}'s commitment batch`);
    task.handedUp = [commitEntry(), ...(await gatherBelow())];
    return answer(task.handedUp);
  };

  const requestRollback = (reason: RollbackReason) => {
    if (!rollbackTakesEffect(state.status, Boolean(task.rollbackRequest), endReasonFrozen && Boolean(task.forwardEnded))) return;
    log.warn('rollback requested', { taskId: input.taskId, reason });
    task.rollbackRequest = reason;
    forward.cancel();
  };

  setHandler(
    registerDependentSignal,
    async ({ taskId }) => {
      if (!state.dependents.includes(taskId)) state.dependents.push(taskId);
      await pushStateTo(taskId);
    },
    { description: 'A dependent task registers; the parent pushes its current state to it at once and every change after.' },
  );
  setHandler(
    parentExecutedSignal,
    (e) => {
      task.parent.executed = e;
      task.parent.pendingAncestors = e.pendingAncestors;
    },
    { description: 'The parent has executed (not yet confirmed): its output, salt, commitment and unconfirmed-ancestor count.' },
  );
  setHandler(
    parentProgressSignal,
    async ({ pendingAncestors: n }) => {
      task.parent.pendingAncestors = n;
      await passOnProgress();
    },
    { description: "The parent's count of unconfirmed ancestors changed." },
  );
  setHandler(
    parentConfirmedSignal,
    async (c) => {
      task.parent.confirmed = { output: c.output, salt: c.salt, commitment: c.commitment };
      if (c.batch?.signatures[input.taskId]) task.commitBatch = c.batch;
      await passOnProgress();
    },
    { description: 'The parent is confirmed (proven and committed on-chain).' },
  );
  setHandler(
    parentCommittedSignal,
    ({ batch }) => {
      task.parent.committed = true;
      if (batch.signatures[input.taskId]) task.commitBatch = batch;
    },
    { description: "The parent's commitment has landed on-chain (not yet final): this task may send its own." },
  );
  setHandler(parentRolledBackSignal, ({ reason }) => requestRollback(reason), {
    description: 'The parent failed or rolled back: this task and its subtree roll back.',
  });
  setHandler(forceRollbackSignal, () => requestRollback('forced'), {
    description: 'Operator: roll this task and its whole subtree back through their compensations.',
  });
  setHandler(
    dependentSettledSignal,
    ({ taskId }) => {
      task.settledDependents.add(taskId);
    },
    { description: 'A dependent reached a final state.' },
  );
  setHandler(gatherCommitsSignal, ({ parentTaskId }) => answerGathering(parentTaskId), {
    description: 'The parent is committing: a proven dependent answers with what is proven in its subtree, to go on-chain in the same batch.',
  });
  setHandler(
    commitsReadySignal,
    ({ taskId, entries }) => {
      task.gathered.set(taskId, entries);
    },
    { description: "A dependent's answer to gathering: its proven subtree, ancestors first." },
  );
  setHandler(proofRecordQuery, () => task.proofRecord ?? null, {
    description: 'The Groth16 proof record: proof, public signals, verification-key hash, timing.',
  });
  setHandler(taskStateQuery, () => state, { description: "The task's full state: status, speculation status, depth, bond, proof, timestamps." });

  const batchSize = () => task.config?.speculation.proof.batch_size ?? 1;

  const commitEntry = (): CommitEntry => ({
    taskId: input.taskId,
    agent: input.agent,
    commitment: state.result!.commitment,
    parentCommitment: state.parent_commitment ?? '0',
    verificationKeyHash: task.proofRecord!.verification_key_hash,
  });

  /** Asks the running dependents for what is proven below them; their answers, ancestors first (preorder). */
  async function gatherBelow(): Promise<CommitEntry[]> {
    const asked = unsettledDependents(state.dependents, task.settledDependents);
    if (!asked.length) return [];
    await Promise.all(asked.map((d) => signalTask(d, (h) => h.signal(gatherCommitsSignal, { parentTaskId: input.taskId }))));
    await condition(() => asked.every((d) => task.gathered.has(d) || task.settledDependents.has(d)), COMMIT_GATHER_TIMEOUT);
    return asked.flatMap((d) => task.gathered.get(d) ?? []);
  }
  const proofs = (summary: string) => proxyActivities<ProofActivities>({ summary, ...proofOptions(task.config!) });
  const verifications = (summary: string) => proxyActivities<ProofActivities>({ summary, ...verificationOptions(task.config!) });

  /** Locks the bond; its compensation (release or slash, by the final reason) is registered first. */
  const bondAndSpeculate = async (depth: number, cfg: SpeculationConfig): Promise<boolean> => {
    task.compensations.push({ name: 'settle bond', run: settleBond });
    try {
      const bond = await CancellationScope.nonCancellable(() =>
        step(CHAIN, `bond: lock ${bondLabel(depth)} of ${input.agent}'s stake`).lockBond({
          taskId: input.taskId,
          agent: input.agent,
          depth,
          stake: cfg.speculation.stake,
        }),
      );
      state.bond = { address: bond.bondAddress, amount: bond.amount, state: 'locked' };
      metrics.speculated(depth, bond.amount);
      return true;
    } catch (err) {
      // Only permanent errors get here (the chain's are retried otherwise): too little stake, an agent without a
      // wallet, a bond address already used or settled. None is a reason to fail the task: it runs non-speculatively.
      if (!failureType(err)) throw err;
      if (failureType(err) !== FAILURE_TYPES.stakeInsufficientFunds)
        log.warn('bond not taken; running without speculation', { taskId: input.taskId, error: rootMessage(err) });
      state.speculation_status = 'stake_limit';
      state.error = rootMessage(err);
      // Nothing was locked: undo the admission now and run on as a non-speculative task.
      task.compensations.length = 0;
      await endSpeculation();
      return false;
    }
  };

  async function endSpeculation(): Promise<void> {
    await tellControl('speculationEnded', (control) => control.signal(speculationEndedSignal, { taskId: input.taskId, outcome: state.status }));
  }

  /**
   * Tells the control workflow something. Should it be missing (closed, not yet restored), the message waits
   * and goes after the task is final (deliverToControl): no task fails, or keeps its dependents waiting,
   * because the control workflow is briefly away. Later messages queue behind a waiting one, keeping order.
   */
  async function tellControl(what: string, send: (control: ReturnType<typeof getExternalWorkflowHandle>) => Promise<void>): Promise<void> {
    if (!task.undeliveredToControl.length) {
      try {
        await send(getExternalWorkflowHandle(CONTROL_WORKFLOW_ID));
        return;
      } catch (err) {
        if (isCancellation(err)) throw err;
        log.warn('speculation-control did not take a message; it is sent again once this task is final', {
          taskId: input.taskId,
          what,
          error: rootMessage(err),
        });
      }
    }
    task.undeliveredToControl.push({ what, send });
  }

  /** Sends what the control workflow could not take, in order, retrying with backoff while it is restored. */
  async function deliverToControl(): Promise<void> {
    const giveUpAt = Date.now() + CONTROL_REDELIVERY_MS;
    let delayMs = 1000;
    while (task.undeliveredToControl.length) {
      const next = task.undeliveredToControl[0]!;
      try {
        await next.send(getExternalWorkflowHandle(CONTROL_WORKFLOW_ID));
        task.undeliveredToControl.shift();
        continue;
      } catch (err) {
        if (Date.now() >= giveUpAt) {
          log.error("speculation-control stayed missing; its clean-up frees this task's slots, a slash cooldown is lost", {
            taskId: input.taskId,
            undelivered: task.undeliveredToControl.map((m) => m.what),
            error: rootMessage(err),
          });
          return;
        }
      }
      waitFor(`speculation-control to be restored, to tell it: ${task.undeliveredToControl.map((m) => m.what).join(', ')}`);
      await sleep(delayMs);
      delayMs = Math.min(delayMs * 2, 60_000);
    }
  }

  /** Compensations in reverse order of registration; each is idempotent. */
  /**
   * Compensations in reverse order of registration; each is idempotent. One that fails for good (a
   * permanent activity error) does not stop the others nor keep the task from ending: the failure is kept
   * in `error`, and `agenc admin check-integrity` reports the bond it left locked.
   */
  async function runCompensations(reason: string): Promise<void> {
    for (const c of [...task.compensations].reverse()) {
      log.info('compensating', { taskId: input.taskId, step: c.name, reason });
      try {
        await c.run();
      } catch (err) {
        log.error('compensation failed for good; see agenc admin check-integrity', { taskId: input.taskId, step: c.name, error: rootMessage(err) });
        state.error = [state.error, `${c.name} failed: ${rootMessage(err)}`].filter(Boolean).join('; ');
      }
    }
    task.compensations.length = 0;
  }

  /**
   * Waits for news from the parent. With parent-liveness, it also looks every so often (from
   * gc_interval_ms, doubling to 8 times that) whether the parent's workflow still runs: a parent that
   * closed without a verdict (terminated, failed) never sends one, so this task reads its last state and
   * rolls back, saying why, instead of waiting forever with its admission slot.
   */
  async function awaitParent(until: () => boolean): Promise<void> {
    const parentId = input.parentTaskId!;
    if (!parentLiveness) return void (await condition(until));
    const everyMs = task.config!.speculation.limits.gc_interval_ms;
    for (let waitMs = everyMs; !(await condition(until, waitMs)); waitMs = Math.min(2 * waitMs, 8 * everyMs)) {
      const [closed] = await step(QUICK, `check: does parent task ${parentId} still run`).findClosedTasks([parentId]);
      if (!closed) continue;
      const outcome = await lastStateOf(parentId);
      if (until()) return;
      if (outcome?.status === 'confirmed' && outcome.result) {
        task.parent.confirmed = outcome.result;
        continue;
      }
      const said = outcome ? `closed while ${outcome.status}` : 'closed, and its last state could not be read';
      state.error = `parent task ${parentId}'s workflow ${said}, without a verdict (terminated or failed)`;
      requestRollback(outcome?.status === 'rolled_back' ? 'parent_rolled_back' : 'parent_failed');
      await forward.cancelRequested;
    }
  }

  /** A closed task's last state, or undefined when it cannot be read (its history gone, or not replayable). */
  async function lastStateOf(taskId: string): Promise<TaskState | undefined> {
    try {
      return await step({ ...QUICK, retry: { ...QUICK.retry, maximumAttempts: 3 } }, `read the last state of closed task ${taskId}`).getTaskOutcome(taskId);
    } catch (err) {
      if (isCancellation(err)) throw err;
      return undefined;
    }
  }

  const bondLabel = (depth: number) => `the depth-${depth} bond`;

  /** Release in full, or slash `slash_percentage` on the task's own fault. Idempotent. */
  async function settleBond(): Promise<void> {
    if (!state.bond || state.bond.state !== 'locked') return;
    // Frozen when the forward run ended (end-reason-frozen), so the status, the reason and this settlement agree.
    const reason = endReason(task.rollbackRequest, task.ownFault?.reason);
    if (reason && (systemFaultsReleased ? bondSettlement(reason) : bondSettlementBeforeSystemFaults(reason)) === 'slash') {
      const slashPercentage = task.config!.speculation.stake.slash_percentage;
      const r = await step(CHAIN, `slash: ${slashPercentage * 100}% of the bond to the treasury (${reason})`).slashBond({
        taskId: input.taskId,
        agent: input.agent,
        slashPercentage,
        reason,
      });
      state.bond = { ...state.bond, state: 'slashed', slashed: r.slashed, returned: r.returned };
      metrics.bondSettled(state.bond.amount, r.slashed ?? 0);
      await tellControl('agentSlashed', (control) => control.signal(agentSlashedSignal, { agent: input.agent, taskId: input.taskId }));
    } else {
      await step(CHAIN, `release: the bond back to ${input.agent}'s stake (${reason ?? 'confirmed'})`).releaseBond({
        taskId: input.taskId,
        agent: input.agent,
        reason: reason ?? 'confirmed',
      });
      state.bond = { ...state.bond, state: 'released' };
      metrics.bondSettled(state.bond.amount, 0);
    }
  }

  const runForward = async () => {
    task.config = await step(QUICK, 'read the live speculation configuration').getSpeculationConfig();
    let proofValue = '0';
    let parentOutput: TaskOutput | undefined;
    if (input.parentTaskId) {
      const parentId = input.parentTaskId;
      setStatus('waiting_parent', `parent task ${parentId} to execute`);
      try {
        await getExternalWorkflowHandle(taskWorkflowId(parentId)).signal(registerDependentSignal, { taskId: input.taskId });
      } catch {
        // The parent already finished: read its outcome instead of waiting for its signals.
        const outcome = await step(QUICK, `read the outcome of finished parent ${parentId}`).getTaskOutcome(parentId);
        if (outcome.status === 'confirmed' && outcome.result) task.parent.confirmed = outcome.result;
        else requestRollback(outcome.status === 'failed' ? 'parent_failed' : 'parent_rolled_back');
      }
      await awaitParent(() => Boolean(task.parent.executed || task.parent.confirmed));
      if (!task.parent.confirmed && task.parent.executed) {
        const depth = 1 + task.parent.pendingAncestors;
        // Registered before the admission: a rollback that cancels the request still frees the slot.
        task.compensations.push({ name: 'end speculation (free the control slot)', run: endSpeculation });
        const request = { taskId: input.taskId, parentTaskId: parentId, agent: input.agent, parentAgent: task.parent.executed.agent, depth };
        const admit = () => step(QUICK, `admit: may this task speculate at depth ${depth}?`).admitSpeculation(request);
        // A cancelled admission may still be applied by the control workflow after this task freed its slot,
        // leaking it until clean-up: with admission-awaited the answer is awaited (milliseconds), and a
        // rollback requested meanwhile takes effect right after, its compensation freeing the slot last.
        const awaited = patched('admission-awaited');
        const decision = awaited ? await CancellationScope.nonCancellable(admit) : await admit();
        if (awaited && task.rollbackRequest) await forward.cancelRequested;
        task.config = decision.config;
        let speculating = false;
        if (decision.allowed) {
          state.depth = depth;
          speculating = await bondAndSpeculate(depth, decision.config);
          if (speculating) {
            state.speculation_status = 'speculative';
            state.timestamps.speculated = now();
            startConfirmationTimer(decision.config.speculation.confirmation_timeout_ms);
          } else {
            state.depth = 0;
          }
        } else {
          task.compensations.length = 0;
          state.speculation_status = decision.reason;
          log.info('speculation refused', { taskId: input.taskId, reason: decision.reason, detail: decision.detail });
        }
        metrics.taskStarted(input.type, state.speculation_status);
        if (!speculating) {
          setStatus('waiting_parent', `parent task ${parentId} to be confirmed (${state.speculation_status})`);
          await awaitParent(() => Boolean(task.parent.confirmed));
        }
      } else {
        state.speculation_status = 'non_speculative';
        metrics.taskStarted(input.type, state.speculation_status);
      }
      parentOutput = task.parent.confirmed ?? task.parent.executed;
      state.parent_commitment = parentOutput!.commitment;
    } else {
      state.speculation_status = 'non_speculative';
      metrics.taskStarted(input.type, state.speculation_status);
    }

    setStatus('executing');
    try {
      const execute = () =>
        step(EXECUTION, `execute: ${input.type} on ${parentOutput ? `parent ${input.parentTaskId}'s output` : 'no parent'}`).executeTask({
          taskId: input.taskId,
          type: input.type,
          payload: input.payload,
          parentOutput: parentOutput?.output ?? '0',
        });
      let executed: Awaited<ReturnType<typeof execute>> | undefined;
      for (let lostRounds = 1; !executed; lostRounds++) {
        try {
          executed = await execute();
        } catch (err) {
          // A task type's work is bounded below the start-to-close timeout, so that timeout means the
          // worker died: the system's fault, like a lost proof attempt, not the agent's. Attempts all lost
          // that way run the execution again instead of failing it and slashing the bond.
          if (!(executionWorkerLost(err) && patched('execution-worker-lost-not-own-fault'))) throw err;
          // But not forever: an execution that hangs (its worker stops heartbeating every time) ends as
          // execution_unavailable, bond released, after this many rounds of lost attempts.
          if (lostRounds >= MAX_LOST_EXECUTION_ROUNDS && patched('bounded-execution-rounds')) throw err;
        }
      }
      proofValue = executed.proofValue;
      state.result = { output: executed.output, salt: executed.salt, commitment: executed.commitment };
    } catch (err) {
      if (isCancellation(err)) throw err;
      if (!systemFaultsReleased) throw new OwnFault('execution_failed', rootMessage(err));
      const failure = classifyExecutionFailure(err);
      if (!failure.ownFault) {
        // No worker could run it (a task type or schema they lack): the system's fault, bond released.
        state.error = failure.message;
        requestRollback(failure.reason);
        await forward.cancelRequested;
      }
      throw new OwnFault(failure.reason, failure.message);
    }
    state.result_commitment = state.result.commitment;
    setStatus('executed');
    await pushStateToAll();

    const optimisticProofs = task.config.speculation.features.enable_optimistic_proofs;
    if (!provesBeforeParentConfirmed({ hasParent: Boolean(input.parentTaskId), parentConfirmed: Boolean(task.parent.confirmed), optimisticProofs })) {
      setStatus('awaiting_ancestors', `parent task ${input.parentTaskId} to be confirmed before proving`);
      await awaitParent(() => Boolean(task.parent.confirmed));
    }

    setStatus('proving', 'a Groth16 proof from the agenc-proofs queue');
    state.proof = { state: 'generating' };
    try {
      task.proofRecord = await proofs('prove: Groth16 proof of the output').generateProof({
        taskId: input.taskId,
        agent: input.agent,
        value: proofValue,
        parentOutput: parentOutput?.output ?? '0',
        parentSalt: parentOutput?.salt ?? '0',
        parentCommitment: parentOutput?.commitment ?? '0',
        output: state.result.output,
        salt: state.result.salt,
      });
      const verdict = await verifications('verify: the proof against the verification key').verifyProof({
        record: task.proofRecord,
        expected: {
          taskId: input.taskId,
          agent: input.agent,
          outputCommitment: state.result.commitment,
          parentCommitment: parentOutput?.commitment ?? '0',
        },
      });
      if (!verdict.valid) throw new Error(`proof did not verify: ${verdict.reason}`);
    } catch (err) {
      if (isCancellation(err)) throw err;
      if (systemFaultsReleased) {
        const failure = classifyProofFailure(err, task.config.speculation.confirmation_timeout_ms);
        state.proof = { state: 'failed', error: failure.message };
        if (!failure.ownFault) {
          // The system's fault (no proof worker, a SystemFault) or the machine's load (proof_timeout): bond released.
          state.error = failure.message;
          requestRollback(failure.reason);
          await forward.cancelRequested;
        }
        throw new OwnFault(failure.reason, failure.message);
      }
      const lost = proofActivityLost(err, task.config.speculation.confirmation_timeout_ms);
      state.proof = { state: 'failed', error: lost ?? rootMessage(err) };
      if (lost) {
        // Not the agent's fault: roll back with the bond released, like any other system failure.
        state.error = lost;
        requestRollback('proof_unavailable');
        await forward.cancelRequested;
      }
      throw new OwnFault(proofFailureReason(err), rootMessage(err));
    }
    state.proof = {
      state: 'verified',
      verification_key_hash: task.proofRecord.verification_key_hash,
      duration_ms: task.proofRecord.timing.duration_ms,
    };

    if (pipelinedCommits) {
      if (input.parentTaskId && !task.parent.confirmed && !task.parent.committed) {
        setStatus('awaiting_ancestors', `parent task ${input.parentTaskId}'s commitment to land on-chain`);
        await awaitParent(() => Boolean(task.parent.confirmed || task.parent.committed));
      }
    } else if (input.parentTaskId && !task.parent.confirmed) {
      setStatus('awaiting_ancestors', `parent task ${input.parentTaskId} to be confirmed`);
      await awaitParent(() => Boolean(task.parent.confirmed));
    }
  };

  /**
   * Runs in the forward scope. The bond lock is non-cancellable, so this can start after a rollback
   * has already cancelled that scope (the parent failed while the lock was being retried after a
   * worker crash): the timer's cancellation is then expected, and must not surface as an unhandled
   * rejection, which would fail every workflow task and leave the task stuck.
   */
  const startConfirmationTimer = (timeoutMs: number) => {
    void (async () => {
      try {
        // Once the parent's commitment has landed its outcome is settled: nothing is left to time out.
        const settled = () => Boolean(task.parent.confirmed) || (pipelinedCommits && Boolean(task.parent.committed));
        const confirmed = await condition(
          () => settled() || FINAL_STATUSES.includes(state.status) || Boolean(task.rollbackRequest) || (endReasonFrozen && Boolean(task.forwardEnded)),
          timeoutMs,
        );
        if (!confirmed) requestRollback('confirmation_timeout');
      } catch (err) {
        if (!isCancellation(err)) throw err;
      }
    })();
  };

  /**
   * Waits until every dependent has settled (rolled back, its bond released or slashed), however long
   * that takes: this task's compensations must not settle its bond while a dependent still holds an
   * unsettled speculation on it. Every check interval it says which dependents it waits for, and
   * counts as settled a dependent whose workflow closed without saying so (terminated by an operator),
   * which never will.
   */
  async function subtreeSettled(): Promise<void> {
    const unsettled = () => unsettledDependents(state.dependents, task.settledDependents);
    while (!(await condition(() => !unsettled().length, SUBTREE_CHECK_INTERVAL))) {
      const waitingFor = unsettled();
      const closed = await step(QUICK, `check: which of ${waitingFor.length} unsettled dependent(s) still run`).findClosedTasks(waitingFor);
      for (const d of closed) {
        log.warn('dependent closed without settling (terminated?); its compensations did not run', { taskId: input.taskId, dependent: d });
        task.settledDependents.add(d);
      }
      const still = unsettled();
      if (still.length) {
        log.warn('still waiting for dependents to settle before compensating', { taskId: input.taskId, dependents: still });
        setStatus('rolling_back', `dependent(s) ${still.join(', ')} to settle, then this task's compensations`);
      }
    }
  }

  /** Enters `committing` and forms this task's batch: its own entry, then the proven descendants waiting only for it. */
  async function batchToCommit(): Promise<CommitEntry[]> {
    setStatus('committing', 'the commitment transaction on Solana');
    // Preorder: any prefix keeps ancestors first.
    const below = batchSize() > 1 ? (task.handedUp?.slice(1) ?? (await gatherBelow())) : [];
    return commitBatchEntries(commitEntry(), below, batchSize());
  }

  /**
   * Commits once every ancestor's commitment has landed (it lands after theirs), tells the dependents as
   * soon as its own has landed, then waits for its finality and for the parent's confirmation.
   */
  async function commitOnAncestorsLanded(): Promise<void> {
    await CancellationScope.nonCancellable(async () => {
      if (!task.commitBatch) {
        const entries = await batchToCommit();
        const summary = entries.length > 1 ? `commit: ${entries.length} commitments on Solana, ancestors first` : 'commit: the output commitment on Solana';
        const { signatures } = await step(COMMIT, summary).sendCommitments({ entries });
        task.commitBatch = { owner: input.taskId, signatures };
        task.commitLanded = true;
        // Dependents may send theirs now (they land after this one) while this one becomes final.
        await pushStateToAll();
        waitFor('the commitment to be final on Solana');
        await step(COMMIT, 'finality: the commitment batch final on Solana').awaitFinality({ signatures });
      } else {
        // An ancestor's batch carried this commitment: it has landed, and is final once that ancestor is confirmed.
        task.commitLanded = true;
        await pushStateToAll();
      }
      if (input.parentTaskId && !task.parent.confirmed) {
        waitFor(`parent task ${input.parentTaskId} to be confirmed`);
        await condition(() => Boolean(task.parent.confirmed));
      }
      state.commit_signature = task.commitBatch!.signatures[input.taskId]!;
      state.committed_by = task.commitBatch!.owner;
      // Confirmed: the same steps that undo speculation now settle it (the bond is released in full).
      await runCompensations('confirmed');
    });
  }

  /** Commits once every ancestor is confirmed: what workflows started before pipelined commitments do. */
  async function commitOnAncestorsConfirmed(): Promise<void> {
    await CancellationScope.nonCancellable(async () => {
      if (!task.commitBatch) {
        const entries = await batchToCommit();
        const summary =
          entries.length > 1
            ? `commit: ${entries.length} commitments on Solana, ancestors first, one finality wait`
            : 'commit: the output commitment on Solana';
        const { signatures } = await step(COMMIT, summary).commitResults({ entries });
        task.commitBatch = { owner: input.taskId, signatures };
      }
      state.commit_signature = task.commitBatch.signatures[input.taskId]!;
      state.committed_by = task.commitBatch.owner;
      // Confirmed: the same steps that undo speculation now settle it (the bond is released in full).
      await runCompensations('confirmed');
    });
  }

  /**
   * A permanent failure no step expected (an activity's non-retryable error): the task still ends, rolled
   * back with its compensations run and its dependents told, instead of failing its workflow and leaving
   * them waiting. Not the agent's fault: a bond is released.
   */
  function systemError(where: string, err: unknown): void {
    log.error('unexpected permanent failure; rolling back as system_error', { taskId: input.taskId, where, error: rootMessage(err) });
    state.error = `${where} failed: ${rootMessage(err)}`;
    task.rollbackRequest ??= 'system_error';
  }

  upsertSearchAttributes([
    { key: SA.taskId, value: input.taskId },
    { key: SA.rootTaskId, value: input.rootTaskId },
    { key: SA.agent, value: input.agent },
    { key: SA.taskType, value: input.type },
    ...(input.parentTaskId ? [{ key: SA.parentTaskId, value: input.parentTaskId }] : []),
  ]);
  setStatus('pending');

  try {
    await forward.run(runForward);
  } catch (err) {
    if (err instanceof OwnFault) task.ownFault = err;
    else if (!(isCancellation(err) && task.rollbackRequest)) systemError('the forward run', err);
  }
  task.forwardEnded = true;

  if (!task.rollbackRequest && !task.ownFault) {
    // Past this point nothing rolls this task back, save a commitment that cannot land at all.
    try {
      await (pipelinedCommits ? commitOnAncestorsLanded() : commitOnAncestorsConfirmed());
    } catch (err) {
      systemError('the commitment', err);
    }
  }
  if (!task.rollbackRequest && !task.ownFault) {
    setStatus('confirmed');
    const carrier = state.committed_by === input.taskId ? '' : ` in task ${state.committed_by}'s batch`;
    setCurrentDetails(
      `**confirmed** — committed on Solana (${state.commit_signature})${carrier}; bond ${state.bond ? `${state.bond.amount} lamports released` : 'none'}`,
    );
    metrics.confirmed(state.speculation_status);
    await pushStateToAll();
  } else {
    const reason = endReason(task.rollbackRequest, task.ownFault?.reason)!;
    state.rollback_reason = reason;
    if (task.ownFault) state.error = task.ownFault.message;
    await CancellationScope.nonCancellable(async () => {
      // The subtree first: every dependent rolls back and settles before this task compensates.
      setStatus('rolling_back', `${state.dependents.length} dependent(s) to roll back, then this task's compensations`);
      await pushStateToAll();
      await subtreeSettled();
      await runCompensations(reason);
    });
    if (state.speculation_status === 'pending') state.speculation_status = 'non_speculative';
    setStatus(unconfirmedStatus(Boolean(task.ownFault), Boolean(task.rollbackRequest)));
    upsertSearchAttributes([{ key: SA.rollbackReason, value: reason }]);
    setCurrentDetails(
      `**${state.status}** — ${rollbackExplanation(reason, { parentTaskId: input.parentTaskId, rootTaskId: input.rootTaskId, error: state.error })}; bond ${state.bond ? `${state.bond.amount} lamports ${state.bond.state}` : 'none'}; ` +
        `${state.dependents.length} dependent(s) rolled back first`,
    );
    // A root that fails on its own is a failure, not a rollback; a speculative task's failure undoes speculation.
    const speculative = state.speculation_status === 'speculative';
    if (state.status === 'rolled_back' || speculative) metrics.rolledBack(reason, speculative);
  }

  if (input.parentTaskId) {
    await signalTask(input.parentTaskId, (h) => h.signal(dependentSettledSignal, { taskId: input.taskId, status: state.status }));
  }
  // Final: the admission slot (max_pending_operations) is free.
  await tellControl('taskClosed', (control) => control.signal(taskClosedSignal, { taskId: input.taskId, status: state.status }));
  await deliverToControl();
  await condition(allHandlersFinished);
  return state;
}
