/** Groth16 proofs of task results: the circuit is circuits/task.circom; each proof binds task, agent key, output and parent output. */
export { createProofActivities, toApplicationFailure, type ProofActivityOptions } from './proof-activities';
export {
  circuitCacheKey,
  ensureArtifacts,
  loadArtifactsFromDir,
  requiredPtauPower,
  DEFAULT_ARTIFACTS_ROOT,
  DEFAULT_CIRCUIT_PATH,
  type ArtifactOptions,
  type CircuitArtifacts,
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
  ProofRecord,
  VerifyFailureCode,
  VerifyProofInput,
  VerifyResult,
} from '../../shared/proof-records';
