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
 * payloads): every field except taskId and agent is a decimal field element (< BN254 p).
 * taskId and agent are the system's identifiers; the circuit sees toField(taskId), toField(agent).
 */
export interface GenerateProofInput {
  taskId: string;
  agent: string;
  /** The task's payload value. */
  value: string;
  /** Output of the parent task ("0" for a root). */
  parentOutput: string;
  /** Salt of the parent's output commitment ("0" for a root). */
  parentSalt: string;
  /** Poseidon(parentOutput, parentSalt), or "0" for a root. */
  parentCommitment: string;
  /** This task's output: computeOutput(value, parentOutput). */
  output: string;
  /** Salt of this task's output commitment (randomSalt()). */
  salt: string;
}

export interface ProofRecord {
  proof_type: 'groth16';
  proof: Groth16Proof;
  /** [toField(taskId), toField(agent), outputCommitment, parentCommitment], decimal. */
  public_signals: string[];
  /** sha256 of the canonical JSON of the verification key this proof is for. */
  verification_key_hash: string;
  commitments: { output: string; parent: string };
  task_id: string;
  agent: string;
  timing: { started_at: string; finished_at: string; duration_ms: number };
}

/** What a verifier expects a task's proof to say. taskId/agent as in GenerateProofInput; commitments decimal. */
export interface ExpectedPublicInputs {
  taskId: string;
  agent: string;
  outputCommitment: string;
  parentCommitment: string;
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
}
