/** Task queue names: the worker listens on them, workflows route activities to them. */
export const TASK_QUEUE = 'agenc-tasks';
/** Proof generation is CPU-bound and scaled on its own. */
export const PROOF_QUEUE = 'agenc-proofs';
/**
 * Proof verification (tens of milliseconds) is served by every proof worker on a queue of its own: a
 * proof worker takes only as many proofs as it can prove at once, so a verification queued behind a
 * proof backlog would wait for the whole backlog.
 */
export const PROOF_VERIFICATION_QUEUE = 'agenc-proof-verification';
export const ALL_QUEUES = [TASK_QUEUE, PROOF_QUEUE] as const;
