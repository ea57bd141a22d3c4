/** Task queue names: the worker listens on them, workflows route activities to them. */
export const TASK_QUEUE = 'agenc-tasks';
/** Proof generation is CPU-bound and scaled on its own. */
export const PROOF_QUEUE = 'agenc-proofs';
export const ALL_QUEUES = [TASK_QUEUE, PROOF_QUEUE] as const;
