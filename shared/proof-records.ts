/**
 * The proof records as workflows, activities and the CLI exchange them: defined here, below all of
 * them, so the activity contract takes its types from shared/ and not from activities/.
 */

export interface Groth16Proof {
  pi_a: string[];
  pi_b: string[][];
  pi_c: string[];
  protocol: string;
  curve: string;
}

/**
 * What a proof is generated from. Strings because the numbers are bigints crossing JSON (Temporal
 * payloads): every field except taskId, agent and agentPublicKey is a decimal field element (< BN254 p).
 * taskId and agent are the system's identifiers; the circuit sees toField(taskId) and, for the agent,
 * publicKeyField(agentPublicKey): the proof binds the agent's key. A run started before submissions were
 * signed has no agentPublicKey, and its proof binds toField(agent) (activities/proof/fields.ts agentField).
 *
 * The parents: `parents` lists every parent output the task consumed, in order (at most MAX_PARENT_SLOTS,
 * none for a root). Runs started before task graphs send the one-parent fields instead
 * (parentOutput/parentSalt/parentCommitment, a root when parentCommitment is "0"); they are ignored when
 * `parents` is present.
 */
export interface GenerateProofInput {
  taskId: string;
  agent: string;
  /** The agent's verified public key (base58). */
  agentPublicKey?: string;
  /** The task's payload value. */
  value: string;
  /** The consumed parents' outputs, their commitments' salts and the commitments, in order. */
  parents?: ParentOpening[];
  /** Output of the one parent ("0" for a root); runs started before task graphs. */
  parentOutput?: string;
  /** Salt of the one parent's output commitment ("0" for a root); runs started before task graphs. */
  parentSalt?: string;
  /** Poseidon(parentOutput, parentSalt), or "0" for a root; runs started before task graphs. */
  parentCommitment?: string;
  /** This task's output: computeOutput(value, the parents' outputs). */
  output: string;
  /** Salt of this task's output commitment (randomSalt()). */
  salt: string;
  /**
   * The live `speculation.proof.timeout_ms` the workflow scheduled this proof under: the proof worker bounds
   * the proof by it, so the two never disagree after a live change. Absent from older runs: the worker's own.
   */
  timeoutMs?: number;
}

/** One consumed parent as its proof record and execution left it: commitment = Poseidon(output, salt). */
export interface ParentOpening {
  output: string;
  salt: string;
  commitment: string;
}

export interface ProofRecord {
  proof_type: 'groth16';
  proof: Groth16Proof;
  /**
   * [toField(taskId), agentField(agent, agentPublicKey), outputCommitment, ...parent slots], decimal: one
   * parent slot for circuits/task.circom (4 signals), MAX_PARENT_SLOTS for circuits/task-join.circom (11).
   * A slot holds a consumed parent's commitment, in order, or "0" (empty).
   */
  public_signals: string[];
  /** sha256 of the canonical JSON of the verification key this proof is for: it names the circuit too. */
  verification_key_hash: string;
  /**
   * `parents`: the consumed parents' commitments, in order (absent in records made before task graphs,
   * whose one parent is `parent`); `parent`: the first of them, or "0" for a root.
   */
  commitments: { output: string; parent: string; parents?: string[] };
  task_id: string;
  agent: string;
  /** The agent's public key the proof binds (base58); absent in proofs made before agents had keys. */
  agent_public_key?: string;
  timing: { started_at: string; finished_at: string; duration_ms: number };
}

/** What a verifier expects a task's proof to say. taskId/agent/agentPublicKey as in GenerateProofInput; commitments decimal. */
export interface ExpectedPublicInputs {
  taskId: string;
  agent: string;
  /** The task's verified agent key (its state's `agent_public_key`); without it the proof must bind the name. */
  agentPublicKey?: string;
  outputCommitment: string;
  /**
   * The consumed parents' commitments, in order; the proof must bind exactly these (its other slots
   * empty). Absent: `parentCommitment` is the one parent ("0": none), as runs started before task
   * graphs send it; both absent: none.
   */
  parentCommitments?: string[];
  parentCommitment?: string;
}

export type VerifyFailureCode = 'ProofCorrupted' | 'ProofKeyMismatch' | 'ProofPublicSignalsMismatch' | 'ProofInvalid';

export type VerifyResult = { valid: true } | { valid: false; reason: string; code: VerifyFailureCode };

/** What `verifyProof` checks: the record against what the task's proof must say. */
export interface VerifyProofInput {
  record: ProofRecord;
  expected: ExpectedPublicInputs;
}

/** One proven result as it goes on-chain. */
export interface CommitEntry {
  taskId: string;
  agent: string;
  commitment: string;
  parentCommitment: string;
  verificationKeyHash: string;
  /** The parents whose commitment records the custody program requires before this one; absent in workflows started before. */
  parentTaskIds?: string[];
}
