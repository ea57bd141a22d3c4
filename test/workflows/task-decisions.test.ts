/** The task workflow's decisions as pure functions (workflows/task-decisions.ts), without a workflow. */
import fc from 'fast-check';
import { ActivityFailure, ApplicationFailure, TimeoutFailure } from '@temporalio/common';
import { OWN_FAULT_REASONS, ROLLBACK_REASONS, TASK_STATUSES, type TaskStatus } from '../../shared/task-model';
import {
  bondSettlement,
  checkpointRetry,
  proofPriority,
  RETRIED_REASONS,
  bondSettlementBeforeSystemFaults,
  classifyExecutionFailure,
  classifyProofFailure,
  commitBatchEntries,
  endReason,
  executionWorkerLost,
  failureType,
  mayJoinParentBatch,
  newsForDependents,
  parentFailureEffect,
  passesOnProgress,
  proofActivityLost,
  proofFailureReason,
  provesBeforeParentConfirmed,
  rollbackExplanation,
  rollbackTakesEffect,
  rootMessage,
  systemFaultIn,
  unconfirmedAncestors,
  unconfirmedStatus,
  unsettledDependents,
} from '../../workflows/task-decisions';

test('dependents hear a failure before anything else, then a rollback, then confirmation or execution', () => {
  const news = (status: TaskStatus, over: Partial<Parameters<typeof newsForDependents>[0]> = {}) =>
    newsForDependents({ status, hasResult: true, ownFault: false, rollbackRequested: false, ...over });
  expect(news('proving', { ownFault: true })).toEqual({ kind: 'rolled_back', reason: 'parent_failed' });
  expect(news('failed')).toEqual({ kind: 'rolled_back', reason: 'parent_failed' });
  expect(news('proving', { rollbackRequested: true })).toEqual({ kind: 'rolled_back', reason: 'parent_rolled_back' });
  expect(news('rolled_back')).toEqual({ kind: 'rolled_back', reason: 'parent_rolled_back' });
  expect(news('confirmed')).toEqual({ kind: 'confirmed' });
  expect(news('awaiting_ancestors')).toEqual({ kind: 'executed' });
  expect(news('executing', { hasResult: false })).toEqual({ kind: 'nothing_yet' });
});

test("a task's unconfirmed ancestors are its parent and the parent's own, until the parent is confirmed", () => {
  expect(unconfirmedAncestors({ hasParent: false, parentConfirmed: false, parentPending: 0 })).toBe(0);
  expect(unconfirmedAncestors({ hasParent: true, parentConfirmed: false, parentPending: 0 })).toBe(1);
  expect(unconfirmedAncestors({ hasParent: true, parentConfirmed: false, parentPending: 3 })).toBe(4);
  expect(unconfirmedAncestors({ hasParent: true, parentConfirmed: true, parentPending: 3 })).toBe(0);
});

test("a parent's failure rolls a dependent back through every edge under cascade, only through consumed results under selective", () => {
  const table = (['data', 'order', 'confirmed'] as const).map((kind) => [
    kind,
    parentFailureEffect(kind, 'cascade'),
    parentFailureEffect(kind, 'selective'),
    parentFailureEffect(kind, undefined),
  ]);
  expect(table).toEqual([
    ['data', 'roll_back', 'roll_back', 'roll_back'],
    ['order', 'roll_back', 'go_on', 'undecided'],
    ['confirmed', 'roll_back', 'roll_back', 'roll_back'],
  ]);
});

test('progress is passed on to dependents once the task has a result, and never once it is final', () => {
  for (const status of TASK_STATUSES) {
    const final = ['confirmed', 'failed', 'rolled_back'].includes(status);
    expect([status, passesOnProgress({ status, hasResult: true })]).toEqual([status, !final]);
    expect(passesOnProgress({ status, hasResult: false })).toBe(false);
  }
});

test('only a task with an unconfirmed parent and optimistic proofs off waits for the parent before proving', () => {
  fc.assert(
    fc.property(fc.boolean(), fc.boolean(), fc.boolean(), (hasParent, parentConfirmed, optimisticProofs) => {
      const waits = hasParent && !parentConfirmed && !optimisticProofs;
      expect(provesBeforeParentConfirmed({ hasParent, parentConfirmed, optimisticProofs })).toBe(!waits);
    }),
  );
});

test('the dependents still to settle keep their registration order', () => {
  expect(unsettledDependents(['a', 'b', 'c', 'd'], new Set(['c', 'a']))).toEqual(['b', 'd']);
  expect(unsettledDependents(['a'], new Set(['a', 'x']))).toEqual([]);
  expect(unsettledDependents([], new Set())).toEqual([]);
});

test('a rollback takes effect once, and never once the task is committing or final', () => {
  for (const status of TASK_STATUSES) {
    const open = !['committing', 'confirmed', 'failed', 'rolled_back'].includes(status);
    expect([status, rollbackTakesEffect(status, false)]).toEqual([status, open]);
    expect(rollbackTakesEffect(status, true)).toBe(false);
  }
});

test("only a proven task waiting for its ancestors, with nothing asking it to roll back, joins a parent's batch", () => {
  const ready = {
    status: 'awaiting_ancestors' as TaskStatus,
    proofState: 'verified',
    rollbackRequested: false,
    ownFault: false,
    batchSize: 20,
  };
  expect(mayJoinParentBatch(ready)).toBe(true);
  expect(mayJoinParentBatch({ ...ready, status: 'proving' })).toBe(false);
  expect(mayJoinParentBatch({ ...ready, proofState: 'generating' })).toBe(false);
  expect(mayJoinParentBatch({ ...ready, rollbackRequested: true })).toBe(false);
  expect(mayJoinParentBatch({ ...ready, ownFault: true })).toBe(false);
  expect(mayJoinParentBatch({ ...ready, batchSize: 1 })).toBe(false);
});

test('a commitment batch is this task, then a prefix of its descendants in preorder, never more than batch_size', () => {
  fc.assert(
    fc.property(fc.array(fc.integer(), { maxLength: 40 }), fc.integer({ min: 1, max: 50 }), (below, size) => {
      const batch = commitBatchEntries(-1, below, size);
      expect(batch[0]).toBe(-1);
      expect(batch.length).toBe(size === 1 ? 1 : Math.min(size, below.length + 1));
      expect(batch.slice(1)).toEqual(below.slice(0, batch.length - 1));
    }),
  );
});

test("bonds: slashed on the task's own fault only; how a task that did not confirm ends", () => {
  for (const reason of ROLLBACK_REASONS)
    expect([reason, bondSettlement(reason)]).toEqual([
      reason,
      OWN_FAULT_REASONS.includes(reason) ? 'slash' : 'release',
    ]);
  expect(bondSettlement(undefined)).toBe('release');
  expect(endReason(undefined, undefined)).toBeUndefined();
  expect(endReason(undefined, 'proof_failed')).toBe('proof_failed');
  // A rollback that took effect outranks the task's own fault: its bond is released, not slashed.
  expect(endReason('parent_failed', 'execution_failed')).toBe('parent_failed');
  expect(bondSettlement(endReason('forced', 'proof_failed'))).toBe('release');
  expect(unconfirmedStatus(true, false)).toBe('failed');
  expect(unconfirmedStatus(true, true)).toBe('rolled_back');
  expect(unconfirmedStatus(false, true)).toBe('rolled_back');
});

test('which reasons slash: only what the agent controls (its execution error, a proof its inputs cannot satisfy)', () => {
  const table: Array<[(typeof ROLLBACK_REASONS)[number], 'slash' | 'release']> = [
    ['execution_failed', 'slash'],
    ['proof_failed', 'slash'],
    // A circuit of fixed size that does not prove in time is the machine's load, not the agent's.
    ['proof_timeout', 'release'],
    ['proof_unavailable', 'release'],
    ['execution_unavailable', 'release'],
    ['parent_failed', 'release'],
    ['parent_rolled_back', 'release'],
    ['confirmation_timeout', 'release'],
    ['forced', 'release'],
    ['system_error', 'release'],
    // A submission not signed by the agent it names is refused before any bond, and is not that agent's doing.
    ['submission_refused', 'release'],
    // A deadline passing is the parents' and the system's pace as much as the agent's.
    ['claim_expired', 'release'],
  ];
  // Every reason is in the table: a new one must say whether it slashes.
  expect(table.map(([reason]) => reason).sort()).toEqual([...ROLLBACK_REASONS].sort());
  for (const [reason, settlement] of table) expect([reason, bondSettlement(reason)]).toEqual([reason, settlement]);
  expect([...OWN_FAULT_REASONS].sort()).toEqual(['execution_failed', 'proof_failed']);
  // Runs that recorded their settlement under the old rule replay with it (the workflow's patch decides which).
  expect(bondSettlementBeforeSystemFaults('proof_timeout')).toBe('slash');
  for (const reason of ROLLBACK_REASONS.filter((r) => r !== 'proof_timeout')) {
    expect([reason, bondSettlementBeforeSystemFaults(reason)]).toEqual([reason, bondSettlement(reason)]);
  }
});

test('a failed proof or execution is classified by its cause chain: a SystemFault anywhere in it releases the bond', () => {
  const activity = (activityType: string, cause: Error) =>
    new ActivityFailure('activity task failed', activityType, '9', undefined, undefined, cause);
  const system = (fault: string, detail: string, cause?: Error) =>
    ApplicationFailure.create({
      type: 'SystemFault',
      message: `${fault} on proof worker 42@host-a (the system's fault, not the agent's): ${detail}`,
      cause,
    });
  const keyMismatch = system(
    'ProofKeyMismatch',
    'proof for task t1 was made with verification key aaa, but this verifier uses bbb',
    ApplicationFailure.create({
      type: 'ProofKeyMismatchError',
      message: 'proof for task t1 was made with verification key aaa, but this verifier uses bbb',
    }),
  );
  const artifactMissing = system('ProofArtifactMissing', 'circuit artifact /data/circuits/k/task.zkey is missing');
  const timedOut = (type: 'SCHEDULE_TO_START' | 'HEARTBEAT') =>
    activity('generateProof', new TimeoutFailure('activity timed out', undefined, type));

  const proofCases: Array<[string, unknown, string, boolean]> = [
    ['verifier with another key (ProofKeyMismatch)', activity('verifyProof', keyMismatch), 'proof_unavailable', false],
    ['artifact missing on the proof worker', activity('generateProof', artifactMissing), 'proof_unavailable', false],
    [
      'a SystemFault below another ApplicationFailure',
      activity('generateProof', ApplicationFailure.create({ type: 'Wrapped', message: 'w', cause: artifactMissing })),
      'proof_unavailable',
      false,
    ],
    ['no proof worker took it', timedOut('SCHEDULE_TO_START'), 'proof_unavailable', false],
    ['its proof worker stopped answering', timedOut('HEARTBEAT'), 'proof_unavailable', false],
    [
      'proving ran out of time (fixed-size circuit)',
      activity(
        'generateProof',
        ApplicationFailure.nonRetryable('did not finish within 1 ms (proof timeout)', 'ProofTimeout'),
      ),
      'proof_timeout',
      false,
    ],
    [
      "the agent's inputs do not satisfy the circuit",
      activity('generateProof', ApplicationFailure.nonRetryable('output 5 is not value^2', 'ProofWitnessInvalid')),
      'proof_failed',
      true,
    ],
    ['a proof that did not verify', new Error('proof did not verify: pairing check failed'), 'proof_failed', true],
  ];
  for (const [what, err, reason, ownFault] of proofCases) {
    const v = classifyProofFailure(err, 30_000);
    expect([what, v.reason, v.ownFault, bondSettlement(v.reason)]).toEqual([
      what,
      reason,
      ownFault,
      ownFault ? 'slash' : 'release',
    ]);
  }
  // The message keeps the detail: which keys, which worker (the SystemFault's message, not only the innermost one).
  expect(classifyProofFailure(activity('verifyProof', keyMismatch), 30_000).message).toMatch(
    /ProofKeyMismatch on proof worker 42@host-a.*key aaa.*uses bbb/,
  );
  expect(classifyProofFailure(activity('generateProof', artifactMissing), 30_000).message).toMatch(
    /task\.zkey is missing/,
  );
  expect(classifyProofFailure(timedOut('SCHEDULE_TO_START'), 5000).message).toMatch(
    /no proof worker took it within 5000 ms/,
  );
  // The rule before SystemFault, kept for replays: a key mismatch was the agent's proof_failed.
  expect(proofFailureReason(activity('verifyProof', keyMismatch))).toBe('proof_failed');

  const unknownType = ApplicationFailure.create({
    type: 'SystemFault',
    message:
      'UnknownTaskType on task worker 7@host-b (the system\'s fault, not the agent\'s): task t2: task type "resize" is unknown to this worker (it knows: compute)',
  });
  const executionCases: Array<[string, unknown, string, boolean]> = [
    ['a task type this worker lacks', activity('executeTask', unknownType), 'execution_unavailable', false],
    [
      'attempts lost to their worker',
      activity('executeTask', new TimeoutFailure('activity timed out', undefined, 'START_TO_CLOSE')),
      'execution_unavailable',
      false,
    ],
    [
      "the task type's own error",
      activity(
        'executeTask',
        ApplicationFailure.retryable('task t2: the payload asked this task to fail', 'ExecutionFailed'),
      ),
      'execution_failed',
      true,
    ],
  ];
  for (const [what, err, reason, ownFault] of executionCases) {
    const v = classifyExecutionFailure(err);
    expect([what, v.reason, v.ownFault, bondSettlement(v.reason)]).toEqual([
      what,
      reason,
      ownFault,
      ownFault ? 'slash' : 'release',
    ]);
  }
  expect(classifyExecutionFailure(activity('executeTask', unknownType)).message).toMatch(
    /task type "resize" is unknown to this worker \(it knows: compute\)/,
  );
  expect(systemFaultIn(new Error('plain'))).toBeUndefined();
});

test('every rollback reason has words for the Web UI', () => {
  for (const reason of ROLLBACK_REASONS) {
    const words = rollbackExplanation(reason, { parentTaskId: 'p1', rootTaskId: 'r1', error: 'boom' });
    expect(words.length).toBeGreaterThan(10);
  }
  expect(rollbackExplanation('parent_rolled_back', { parentTaskId: 'p1', rootTaskId: 'r1', error: null })).toBe(
    'parent task p1 rolled back (tree root r1)',
  );
});

test('failures are classified through their cause chain: the type, the root message, a proof worker lost', () => {
  const app = ApplicationFailure.nonRetryable('stake too low', 'StakeInsufficientFunds');
  const wrapped = new ActivityFailure('activity failed', 'lockBond', '1', undefined, undefined, app);
  expect(failureType(wrapped)).toBe('StakeInsufficientFunds');
  expect(rootMessage(wrapped)).toBe('stake too low');
  expect(proofActivityLost(wrapped, 30_000)).toBeUndefined();
  expect(proofFailureReason(wrapped)).toBe('proof_failed');
  const proofTimeout = ApplicationFailure.nonRetryable('proving took too long', 'ProofTimeout');
  expect(
    proofFailureReason(
      new ActivityFailure('activity failed', 'generateProof', '4', undefined, undefined, proofTimeout),
    ),
  ).toBe('proof_timeout');
  expect(proofFailureReason(new Error('proof did not verify: bad pairing'))).toBe('proof_failed');

  const queued = new ActivityFailure(
    'activity timed out',
    'generateProof',
    '2',
    undefined,
    undefined,
    new TimeoutFailure('timeout', undefined, 'SCHEDULE_TO_START'),
  );
  expect(proofActivityLost(queued, 30_000)).toBe(
    'no proof worker took it within 30000 ms (confirmation_timeout_ms) in the agenc-proofs backlog; add proof workers',
  );
  const hung = new ActivityFailure(
    'activity timed out',
    'generateProof',
    '3',
    undefined,
    undefined,
    new TimeoutFailure('timeout', undefined, 'HEARTBEAT'),
  );
  expect(proofActivityLost(hung, 30_000)).toBe(
    'its proof worker stopped answering (HEARTBEAT timeout) on every attempt; check the agenc-proofs workers',
  );
});

test('an execution is lost to its worker when its attempts time out at start-to-close or on a missed heartbeat, never on an error of its own', () => {
  const timedOut = (type: 'START_TO_CLOSE' | 'HEARTBEAT' | 'SCHEDULE_TO_CLOSE') =>
    new ActivityFailure(
      'activity timed out',
      'executeTask',
      '5',
      undefined,
      undefined,
      new TimeoutFailure('timeout', undefined, type),
    );
  expect(executionWorkerLost(timedOut('START_TO_CLOSE'))).toBe(true);
  expect(executionWorkerLost(timedOut('HEARTBEAT'))).toBe(true);
  expect(executionWorkerLost(timedOut('SCHEDULE_TO_CLOSE'))).toBe(false);
  const ownError = ApplicationFailure.retryable('task t: division by zero', 'ExecutionFailed');
  expect(
    executionWorkerLost(new ActivityFailure('activity failed', 'executeTask', '6', undefined, undefined, ownError)),
  ).toBe(false);
});

test('checkpoint: which attempts are followed by another, after what wait', () => {
  const base = { policy: 'checkpoint' as const, maxRetries: 2, backoffMs: 1000 };
  const table: Array<[Parameters<typeof checkpointRetry>[0], ReturnType<typeof checkpointRetry>]> = [
    [
      { ...base, reason: 'execution_failed', attempt: 1 },
      { retry: true, delayMs: 1000 },
    ],
    [
      { ...base, reason: 'proof_unavailable', attempt: 2 },
      { retry: true, delayMs: 2000 },
    ],
    [{ ...base, reason: 'confirmation_timeout', attempt: 3 }, { retry: false }], // 1 + max_retries attempts in all
    // A parent's failure: the parent's next attempt restarts it. An operator's rollback, a refused submission
    // and a passed deadline do not pass with time.
    [{ ...base, reason: 'parent_failed', attempt: 1 }, { retry: false }],
    [{ ...base, reason: 'parent_rolled_back', attempt: 1 }, { retry: false }],
    [{ ...base, reason: 'forced', attempt: 1 }, { retry: false }],
    [{ ...base, reason: 'submission_refused', attempt: 1 }, { retry: false }],
    [{ ...base, reason: 'claim_expired', attempt: 1 }, { retry: false }],
    [{ ...base, policy: 'cascade', reason: 'execution_failed', attempt: 1 }, { retry: false }],
    [{ ...base, policy: 'selective', reason: 'execution_failed', attempt: 1 }, { retry: false }],
    [{ ...base, maxRetries: 0, reason: 'execution_failed', attempt: 1 }, { retry: false }],
  ];
  for (const [given, expected] of table) expect([given, checkpointRetry(given)]).toEqual([given, expected]);
  expect([...RETRIED_REASONS].sort()).toEqual(
    ROLLBACK_REASONS.filter(
      (r) => !['parent_failed', 'parent_rolled_back', 'forced', 'submission_refused', 'claim_expired'].includes(r),
    ).sort(),
  );
});

test('proof priority: closer to confirmation, sooner proven (Temporal priority keys 1–5)', () => {
  expect([0, 1, 2, 3, 4, 5, 20].map(proofPriority)).toEqual([1, 2, 3, 4, 5, 5, 5]);
});
