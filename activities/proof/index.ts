/**
 * Groth16 proofs of task results: the circuits are circuits/task.circom (at most one parent) and
 * circuits/task-join.circom (up to MAX_PARENT_SLOTS parents); each proof binds task, agent key, output and
 * every consumed parent output.
 */
export { createProofActivities, toApplicationFailure, type ProofActivityOptions } from './proof-activities';
export {
  circuitCacheKey,
  ensureArtifacts,
  ensureTaskCircuits,
  loadArtifactsFromDir,
  requiredPtauPower,
  DEFAULT_ARTIFACTS_ROOT,
  DEFAULT_CIRCUIT_PATH,
  TASK_CIRCUITS,
  type ArtifactOptions,
  type CircuitArtifacts,
  type TaskCircuitArtifacts,
  type TaskCircuitName,
} from './artifacts';
export { canonicalJson, verificationKeyHash } from './canonical-json';
export * from './errors';
export {
  agentField,
  commit,
  commitSync,
  computeOutput,
  parseField,
  publicKeyField,
  randomSalt,
  toField,
  toFieldElement,
  FIELD_MODULUS,
  ROOT_PARENT_COMMITMENT,
} from './fields';
export { PROOF_GENERATION_HISTOGRAM, proofDurationObserver, type ObservesSeconds } from './metrics';
export { poseidonHash } from './poseidon';
export {
  assertTaskProofValid,
  clearArtifactMemoryCache,
  diagnoseWitness,
  loadVerificationKey,
  proveTask,
  provingCircuitFor,
  verifyTaskProof,
  type ProvingArtifacts,
  type VerifyingArtifacts,
} from './prover';
export { createProofService, type ProofService, type ProofServiceOptions } from './service';
export { releaseProverResources } from './snarkjs';
export type {
  ExpectedPublicInputs,
  GenerateProofInput,
  Groth16Proof,
  ParentOpening,
  ProofRecord,
  VerifyFailureCode,
  VerifyProofInput,
  VerifyResult,
} from '../../shared/proof-records';
