/** Task queue names: the worker listens on them, workflows route activities to them. */
export const TASK_QUEUE = 'agenc-tasks';
/**
 * `speculation-control` alone, served by every agenc-tasks worker process with a Worker of its own: the
 * singleton every admission waits on never competes for workflow-task slots with thousands of task
 * workflows (whose admission, a local activity, holds their slot while it waits for it).
 */
export const CONTROL_QUEUE = 'agenc-control';
/** Proof generation is CPU-bound and scaled on its own. */
export const PROOF_QUEUE = 'agenc-proofs';
/**
 * Proof verification (tens of milliseconds) is served by every proof worker on a queue of its own: a
 * proof worker takes only as many proofs as it can prove at once, so a verification queued behind a
 * proof backlog would wait for the whole backlog.
 */
export const PROOF_VERIFICATION_QUEUE = 'agenc-proof-verification';
/**
 * The queues a worker process is started on (`--queues`, WorkerProcessOptions.queues), not every queue:
 * a worker on PROOF_QUEUE serves PROOF_VERIFICATION_QUEUE as well, which is never chosen on its own.
 */
export const SELECTABLE_QUEUES: readonly string[] = [TASK_QUEUE, PROOF_QUEUE];
