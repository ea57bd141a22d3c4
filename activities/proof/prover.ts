/**
 * Proving and verifying one task's Groth16 proof, with one of the task circuits (artifacts.ts
 * TASK_CIRCUITS): circuits/task.circom for a task that consumed at most one parent, circuits/task-join.circom
 * for more. A record names its verification key, so its circuit: a verifier holding both keys checks each
 * proof with its own, including proofs made before the join circuit existed.
 */
import * as fs from 'node:fs';
import { TASK_CIRCUITS, type CircuitArtifacts, type TaskCircuitName } from './artifacts';
import { verificationKeyHash } from './canonical-json';
import {
  ProofArtifactMissingError,
  ProofCorruptedError,
  ProofError,
  ProofInputInvalidError,
  ProofInvalidError,
  ProofKeyMismatchError,
  ProofPublicSignalsMismatchError,
  ProofWitnessInvalidError,
} from './errors';
import { agentField, commitSync, computeOutput, parseField, toField } from './fields';
import { snarkjs, type Groth16Proof, type VerificationKey } from './snarkjs';
import { calculateWitness, clearWitnessCalculators } from './witness';
import type {
  ExpectedPublicInputs,
  GenerateProofInput,
  ParentOpening,
  ProofRecord,
  VerifyResult,
} from '../../shared/proof-records';
import { MAX_PARENT_SLOTS } from '../../shared/task-model';

/** The circuit and artifact paths proving needs. */
export type ProvingArtifacts = Pick<CircuitArtifacts, 'circuit' | 'wasmPath' | 'zkeyPath' | 'verificationKeyHash'>;
/** The circuit and artifact paths verifying with one key needs. */
export type VerifyingArtifacts = Pick<CircuitArtifacts, 'circuit' | 'verificationKeyPath' | 'verificationKeyHash'>;

// ---------------------------------------------------------------------------------------------
// In-memory copies of the artifacts (keyed by path, size and mtime): proving reads the wasm and the
// zkey from memory after the first call instead of from disk.

interface Cached<T> {
  stamp: string;
  value: T;
}
const fileCache = new Map<string, Cached<Uint8Array>>();
const vkCache = new Map<string, Cached<VerificationKey>>();

function stampOf(file: string, what: string): string {
  try {
    const st = fs.statSync(file);
    return `${st.size}:${st.mtimeMs}`;
  } catch (e) {
    throw new ProofArtifactMissingError(
      `${what} ${file} is missing; run \`npx tsx scripts/build-circuits.ts\` (or ensureArtifacts()) to rebuild the circuit artifacts`,
      file,
      { cause: e },
    );
  }
}

function readArtifact(file: string, what: string): Uint8Array {
  const stamp = stampOf(file, what);
  const hit = fileCache.get(file);
  if (hit && hit.stamp === stamp) return hit.value;
  const value = new Uint8Array(fs.readFileSync(file));
  fileCache.set(file, { stamp, value });
  return value;
}

/** The verification-key hash each proving key (zkey) yields, by path, checked once per file version. */
const zkeyVkHashes = new Map<string, { bytes: Uint8Array; hash: Promise<string> }>();

/**
 * The proving key, checked against the verification key these artifacts record: a zkey from another
 * build (or one damaged on disk) would make proofs that fail the verifier's pairing check, which reads
 * like a bad proof. Caught here, before proving, it is what it is: corrupt artifacts. Costs one
 * verification-key export per zkey file version, not per proof: about 10 ms, but up to a second for the
 * first in a process (the curve is built then), which is why the proof service runs it before a proof's
 * time starts.
 */
export async function readProvingKey(artifacts: ProvingArtifacts): Promise<Uint8Array> {
  const file = artifacts.zkeyPath;
  const zkey = readArtifact(file, 'proving key (zkey)');
  let known = zkeyVkHashes.get(file);
  if (!known || known.bytes !== zkey) {
    const entry = {
      bytes: zkey,
      hash: snarkjs.zKey.exportVerificationKey({ type: 'mem', data: zkey }).then((vk) => verificationKeyHash(vk)),
    };
    zkeyVkHashes.set(file, entry);
    entry.hash.catch(() => {
      if (zkeyVkHashes.get(file) === entry) zkeyVkHashes.delete(file);
    });
    known = entry;
  }
  let derived: string;
  try {
    derived = await known.hash;
  } catch (e) {
    throw new ProofArtifactMissingError(
      `proving key (zkey) ${file} is corrupt: no verification key can be read from it (${e instanceof Error ? e.message : String(e)}); rebuild the circuit artifacts`,
      file,
      { cause: e },
    );
  }
  if (derived !== artifacts.verificationKeyHash) {
    throw new ProofArtifactMissingError(
      `proving key (zkey) ${file} belongs to verification key ${derived}, not to ${artifacts.verificationKeyHash} that these artifacts record; ` +
        'the zkey comes from another build or was altered: rebuild the artifacts (or share one artifacts directory between proof workers)',
      file,
    );
  }
  return zkey;
}

/** Loads (and caches) a verification key, checking it against the expected hash. */
export function loadVerificationKey(artifacts: VerifyingArtifacts): VerificationKey {
  const file = artifacts.verificationKeyPath;
  const stamp = stampOf(file, 'verification key');
  let hit = vkCache.get(file);
  if (!hit || hit.stamp !== stamp) {
    let vk: VerificationKey;
    try {
      vk = JSON.parse(fs.readFileSync(file, 'utf8')) as VerificationKey;
    } catch (e) {
      throw new ProofArtifactMissingError(
        `verification key ${file} is unreadable (${(e as Error).message}); rebuild the circuit artifacts`,
        file,
        {
          cause: e,
        },
      );
    }
    hit = { stamp, value: vk };
    vkCache.set(file, hit);
  }
  const actual = verificationKeyHash(hit.value);
  if (actual !== artifacts.verificationKeyHash) {
    throw new ProofArtifactMissingError(
      `verification key ${file} hashes to ${actual}, not the expected ${artifacts.verificationKeyHash}; the artifacts were altered or mixed up: rebuild them`,
      file,
    );
  }
  return hit.value;
}

/** Drops the in-memory artifact copies (tests; after a rebuild the size/mtime check does this anyway). */
export function clearArtifactMemoryCache(): void {
  fileCache.clear();
  vkCache.clear();
  zkeyVkHashes.clear();
  clearWitnessCalculators();
}

// ---------------------------------------------------------------------------------------------

/** One parent slot as the circuits see it: commitment 0 is an empty slot (nothing consumed from it). */
interface ParentSlot {
  commitment: bigint;
  output: bigint;
  salt: bigint;
}

const EMPTY_SLOT: ParentSlot = { commitment: 0n, output: 0n, salt: 0n };

interface ParsedInput {
  taskIdField: bigint;
  agentField: bigint;
  value: bigint;
  /**
   * The slots the input fills: the consumed parents in order, or, for an input from before task graphs, its
   * one slot as given (empty for a root, where the circuit still checks that parentOutput is 0).
   */
  slots: ParentSlot[];
  output: bigint;
  salt: bigint;
}

function parseSlots(input: GenerateProofInput): ParentSlot[] {
  if (input.parents === undefined) {
    if (input.parentOutput === undefined && input.parentSalt === undefined && input.parentCommitment === undefined)
      throw new ProofInputInvalidError(
        'the input names no parents: give `parents` ([] for a root) or parentOutput, parentSalt and parentCommitment',
      );
    return [
      {
        commitment: parseField('parentCommitment', input.parentCommitment as string),
        output: parseField('parentOutput', input.parentOutput as string),
        salt: parseField('parentSalt', input.parentSalt as string),
      },
    ];
  }
  if (!Array.isArray(input.parents))
    throw new ProofInputInvalidError('parents must be an array of { output, salt, commitment } decimal strings');
  if (input.parents.length > MAX_PARENT_SLOTS)
    throw new ProofInputInvalidError(
      `a task consumes at most ${MAX_PARENT_SLOTS} parents (the join circuit's slots), got ${input.parents.length}`,
    );
  return input.parents.map((given, i) => {
    const p = (given ?? {}) as Partial<ParentOpening>;
    const slot = {
      commitment: parseField(`parents[${i}].commitment`, p.commitment as string),
      output: parseField(`parents[${i}].output`, p.output as string),
      salt: parseField(`parents[${i}].salt`, p.salt as string),
    };
    if (slot.commitment === 0n)
      throw new ProofInputInvalidError(
        `parents[${i}].commitment is 0, which the circuit reads as an empty slot: list only the parents the task consumed, each with the commitment of its proof record`,
      );
    return slot;
  });
}

function parseInput(input: GenerateProofInput): ParsedInput {
  if (typeof input.taskId !== 'string' || input.taskId === '')
    throw new ProofInputInvalidError('taskId must be a non-empty string');
  if (typeof input.agent !== 'string' || input.agent === '')
    throw new ProofInputInvalidError('agent must be a non-empty string');
  if (input.agentPublicKey !== undefined && typeof input.agentPublicKey !== 'string')
    throw new ProofInputInvalidError('agentPublicKey must be a base58 string');
  return {
    taskIdField: toField(input.taskId),
    agentField: agentField(input.agent, input.agentPublicKey),
    value: parseField('value', input.value),
    slots: parseSlots(input),
    output: parseField('output', input.output),
    salt: parseField('salt', input.salt),
  };
}

/** The commitments of the parents a proof binds, in order: its filled slots. */
function consumedCommitments(slots: readonly ParentSlot[]): string[] {
  return slots.filter((s) => s.commitment !== 0n).map((s) => s.commitment.toString());
}

/**
 * The circuit a task's proof is made with: task.circom when it consumed at most one parent, task-join.circom
 * for two or more. A join proof costs 3.2 times a one-parent proof (README, "The join circuit"), so the join
 * circuit is used only where one slot is not enough. Throws ProofInputInvalidError for malformed parents.
 */
export function provingCircuitFor(input: GenerateProofInput): TaskCircuitName {
  return parseSlots(input).length > TASK_CIRCUITS.task.parentSlots ? 'task-join' : 'task';
}

/** Why a witness does not satisfy the circuit, in words (the circuit itself is the judge; this explains). */
export function diagnoseWitness(input: GenerateProofInput): string[] {
  const p = parseInput(input);
  const reasons: string[] = [];
  const expected = computeOutput(
    p.value,
    p.slots.map((s) => s.output),
  );
  if (p.output !== expected) {
    const formula =
      p.slots.length === 0
        ? 'value^2 (no parent)'
        : p.slots.length === 1
          ? 'value^2 + parentOutput'
          : 'value^2 + the sum of the parentOutputs';
    reasons.push(`output ${p.output} is not ${formula} = ${expected}`);
  }
  p.slots.forEach((s, i) => {
    if (s.commitment === 0n) {
      if (s.output !== 0n)
        reasons.push(
          `parent slot ${i} is empty (parentCommitment 0) but has parentOutput ${s.output}: an empty slot (every slot of a root task is one) must have parentOutput 0`,
        );
      return;
    }
    const opened = commitSync(s.output, s.salt);
    if (opened !== s.commitment)
      reasons.push(
        `parent slot ${i}: parentCommitment ${s.commitment} is not Poseidon(parentOutput, parentSalt) = ${opened}`,
      );
  });
  return reasons;
}

/** The circuit's inputs: the slots padded with empty ones to the circuit's count, under its signal names. */
function circuitInput(circuit: TaskCircuitName, p: ParsedInput, outputCommitment: bigint): Record<string, unknown> {
  const slots = [
    ...p.slots,
    ...Array.from({ length: TASK_CIRCUITS[circuit].parentSlots - p.slots.length }, () => EMPTY_SLOT),
  ];
  const common = {
    taskId: p.taskIdField,
    agent: p.agentField,
    outputCommitment,
    value: p.value,
    taskOutput: p.output,
    salt: p.salt,
  };
  if (circuit === 'task') {
    const [slot] = slots as [ParentSlot];
    return { ...common, parentCommitment: slot.commitment, parentOutput: slot.output, parentSalt: slot.salt };
  }
  return {
    ...common,
    parentCommitments: slots.map((s) => s.commitment),
    parentOutputs: slots.map((s) => s.output),
    parentSalts: slots.map((s) => s.salt),
  };
}

function isoNow(): string {
  return new Date().toISOString();
}

/**
 * Generates the task's Groth16 proof with `artifacts`' circuit (provingCircuitFor(input) says which one a
 * task calls for; the join circuit proves any task, task.circom one with at most one parent). The output
 * commitment is Poseidon(output, salt), computed here.
 * Throws ProofWitnessInvalidError when the inputs do not satisfy the circuit (the witness generator
 * refuses them), ProofInputInvalidError for malformed numbers (the agent's doing, both);
 * ProofArtifactMissingError when the wasm or zkey is missing or unreadable, when the zkey does not
 * belong to the recorded verification key, or when the wasm is not the task circuit's (the system's);
 * a RangeError when the task consumed more parents than the circuit has slots (the caller's choice).
 */
export async function proveTask(input: GenerateProofInput, artifacts: ProvingArtifacts): Promise<ProofRecord> {
  const startedAt = isoNow();
  const t0 = performance.now();
  const p = parseInput(input);
  const circuitFile = `circuits/${artifacts.circuit}.circom`;
  const slotCount = TASK_CIRCUITS[artifacts.circuit].parentSlots;
  if (p.slots.length > slotCount) {
    throw new RangeError(
      `task ${input.taskId} consumed ${p.slots.length} parents but ${circuitFile} has ${slotCount} parent slot(s): prove it with the circuit provingCircuitFor() names`,
    );
  }
  const outputCommitment = commitSync(p.output, p.salt);
  const wasm = readArtifact(artifacts.wasmPath, 'circuit wasm');
  const zkey = await readProvingKey(artifacts);

  let witness: Uint8Array;
  try {
    witness = await calculateWitness(artifacts.wasmPath, wasm, circuitInput(artifacts.circuit, p, outputCommitment));
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (e instanceof Error && (e.name === 'CompileError' || e.name === 'LinkError')) {
      throw new ProofArtifactMissingError(
        `circuit wasm ${artifacts.wasmPath} is corrupt (${msg}); delete the build directory and rebuild`,
        artifacts.wasmPath,
        { cause: e },
      );
    }
    const said = msg.replace(/\s+/g, ' ').trim();
    if (/assert failed/i.test(msg)) {
      // The agent answers for inputs that break the compute function or a parent opening, which
      // diagnoseWitness checks as the circuit does. A circuit that rejects inputs satisfying both is not
      // the task circuit: its wasm is corrupt or compiled from another circuit.
      const why = diagnoseWitness(input);
      if (!why.length) {
        throw new ProofArtifactMissingError(
          `circuit wasm ${artifacts.wasmPath} rejects the inputs of task ${input.taskId}, which satisfy the task circuit ` +
            `${circuitFile} (output = value^2 + the parent outputs, every parent slot empty or opened); circuit said: "${said}". ` +
            'The wasm is corrupt or compiled from another circuit: rebuild the artifacts',
          artifacts.wasmPath,
          { cause: e },
        );
      }
      throw new ProofWitnessInvalidError(
        `the inputs of task ${input.taskId} do not satisfy the task circuit (${why.join('; ')}); ` +
          `circuit said: "${said}". Recompute output with computeOutput() and take each parent's commitment and salt from its proof record`,
        { cause: e },
      );
    }
    if (/not all inputs|too many values|signal not found|not enough values/i.test(msg)) {
      // The inputs' names and shapes are the prover's, the same for every task: a wasm that does not take them is another circuit's.
      throw new ProofArtifactMissingError(
        `circuit wasm ${artifacts.wasmPath} does not take the inputs of ${circuitFile} (circuit said: "${said}"); it was compiled from another circuit: rebuild the artifacts`,
        artifacts.wasmPath,
        { cause: e },
      );
    }
    throw e;
  }

  let proof: Groth16Proof;
  let publicSignals: string[];
  try {
    ({ proof, publicSignals } = await snarkjs.groth16.prove(
      { type: 'mem', data: zkey },
      { type: 'mem', data: witness },
    ));
  } catch (e) {
    throw new ProofArtifactMissingError(
      `proving with ${artifacts.zkeyPath} failed (${e instanceof Error ? e.message : String(e)}); the zkey is corrupt or does not belong to this circuit: rebuild the artifacts`,
      artifacts.zkeyPath,
      { cause: e },
    );
  }
  const finishedAt = isoNow();
  const parents = consumedCommitments(p.slots);
  return {
    proof_type: 'groth16',
    proof,
    public_signals: publicSignals,
    verification_key_hash: artifacts.verificationKeyHash,
    commitments: { output: outputCommitment.toString(), parent: parents[0] ?? '0', parents },
    task_id: input.taskId,
    agent: input.agent,
    ...(input.agentPublicKey !== undefined ? { agent_public_key: input.agentPublicKey } : {}),
    timing: {
      started_at: startedAt,
      finished_at: finishedAt,
      duration_ms: Math.round((performance.now() - t0) * 1000) / 1000,
    },
  };
}

// ---------------------------------------------------------------------------------------------

const DECIMAL = /^(0|[1-9][0-9]*)$/;
const isDecimalArray = (v: unknown, n: number): v is string[] =>
  Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'string' && DECIMAL.test(x));

/** [taskId, agent, outputCommitment] then one signal per parent slot, in every task circuit. */
const IDENTITY_SIGNALS = 3;
const SIGNAL_COUNTS = [...new Set(Object.values(TASK_CIRCUITS).map((c) => IDENTITY_SIGNALS + c.parentSlots))];

/** What any task circuit's record must look like; the layout of the circuit its key names is checked after the key. */
function checkShape(record: ProofRecord): string | undefined {
  if (!record || typeof record !== 'object') return 'the proof record is not an object';
  if (record.proof_type !== 'groth16') return `proof_type is ${JSON.stringify(record.proof_type)}, expected "groth16"`;
  const pr = record.proof as Partial<Groth16Proof> | undefined;
  if (!pr || typeof pr !== 'object') return 'proof is missing';
  if (!isDecimalArray(pr.pi_a, 3)) return 'proof.pi_a is not 3 decimal strings';
  if (!isDecimalArray(pr.pi_c, 3)) return 'proof.pi_c is not 3 decimal strings';
  if (!Array.isArray(pr.pi_b) || pr.pi_b.length !== 3 || !pr.pi_b.every((row) => isDecimalArray(row, 2)))
    return 'proof.pi_b is not 3 pairs of decimal strings';
  const signals: unknown = record.public_signals;
  if (!Array.isArray(signals) || !SIGNAL_COUNTS.some((n) => isDecimalArray(signals, n)))
    return `public_signals is not ${SIGNAL_COUNTS.join(' or ')} decimal strings`;
  const slots = record.public_signals.slice(IDENTITY_SIGNALS);
  const c = record.commitments as Partial<ProofRecord['commitments']> | undefined;
  if (!c || c.output !== record.public_signals[IDENTITY_SIGNALS - 1] || c.parent !== slots[0])
    return 'commitments in the record disagree with its public signals';
  if (c.parents === undefined) {
    // a record made before task graphs: one parent slot, named by `parent`
    return slots.length === 1 ? undefined : 'commitments.parents is missing';
  }
  const parents = c.parents;
  if (
    !isDecimalArray(parents, parents.length) ||
    parents.length > slots.length ||
    parents.includes('0') ||
    slots.some((s, i) => s !== (parents[i] ?? '0'))
  )
    return 'commitments.parents in the record disagree with its public signals';
  return undefined;
}

/** The parents a verifier expects, in order: parentCommitments, else the one parentCommitment ("0": none). */
function expectedParents(expected: ExpectedPublicInputs): string[] {
  if (expected.parentCommitments !== undefined) return expected.parentCommitments;
  const one = expected.parentCommitment ?? '0';
  return one === '0' ? [] : [one];
}

/**
 * Verifies a proof record against the verification key its record names (one of `keys`: the verifier's
 * circuits) and the values the verifier expects. Checks, in order: record shape, verification key hash,
 * the public-signal layout of that key's circuit, the public signals, the Groth16 pairing.
 * Never throws for a bad proof: returns { valid: false, reason, code } (code = the error type name).
 * Throws ProofArtifactMissingError when the verifier's own key file is missing or altered (that is
 * not a verdict on the proof).
 */
export async function verifyTaskProof(
  record: ProofRecord,
  keys: VerifyingArtifacts | readonly VerifyingArtifacts[],
  expected: ExpectedPublicInputs,
): Promise<VerifyResult> {
  try {
    await assertTaskProofValid(record, keys, expected);
    return { valid: true };
  } catch (e) {
    if (e instanceof ProofError && !(e instanceof ProofArtifactMissingError)) {
      return { valid: false, reason: e.message, code: e.type as Exclude<VerifyResult, { valid: true }>['code'] };
    }
    throw e;
  }
}

/** As verifyTaskProof, but throws the typed error (ProofCorruptedError, ProofKeyMismatchError, ...). */
export async function assertTaskProofValid(
  record: ProofRecord,
  keys: VerifyingArtifacts | readonly VerifyingArtifacts[],
  expected: ExpectedPublicInputs,
): Promise<void> {
  const shape = checkShape(record);
  if (shape) throw new ProofCorruptedError(`corrupted proof record for task ${expected.taskId}: ${shape}`);

  const known: readonly VerifyingArtifacts[] = 'verificationKeyHash' in keys ? [keys] : keys;
  const key = known.find((k) => k.verificationKeyHash === record.verification_key_hash);
  if (!key) {
    throw new ProofKeyMismatchError(
      `proof for task ${expected.taskId} was made with verification key ${record.verification_key_hash}, but this verifier uses ${known.map((k) => k.verificationKeyHash).join(' or ')}; ` +
        'the prover and the verifier run different circuit builds: share one artifacts directory (or re-prove with the current key)',
    );
  }
  const circuitFile = `circuits/${key.circuit}.circom`;
  const slotCount = TASK_CIRCUITS[key.circuit].parentSlots;
  if (record.public_signals.length !== IDENTITY_SIGNALS + slotCount) {
    throw new ProofCorruptedError(
      `corrupted proof record for task ${expected.taskId}: it has ${record.public_signals.length} public signals, but its key ${key.verificationKeyHash} is of ${circuitFile}, which has ${IDENTITY_SIGNALS + slotCount}`,
    );
  }

  const agentKey = expected.agentPublicKey === undefined ? '' : ` (key ${expected.agentPublicKey})`;
  let agent: bigint;
  try {
    agent = agentField(expected.agent, expected.agentPublicKey);
  } catch (e) {
    throw new ProofPublicSignalsMismatchError(
      `proof for task ${expected.taskId} cannot be checked against agent ${expected.agent}: its expected ${(e as Error).message}`,
    );
  }
  const parents = expectedParents(expected);
  const want = [
    toField(expected.taskId).toString(),
    agent.toString(),
    expected.outputCommitment,
    ...Array.from({ length: slotCount }, (_, i) => parents[i] ?? '0'),
  ];
  const names = [
    'taskId',
    'agent',
    'outputCommitment',
    ...(slotCount === 1 ? ['parentCommitment'] : want.slice(IDENTITY_SIGNALS).map((_, i) => `parentCommitments[${i}]`)),
  ];
  const wrong = want.flatMap((w, i) =>
    record.public_signals[i] === w ? [] : [`${names[i]}: proof says ${record.public_signals[i]}, expected ${w}`],
  );
  if (parents.length > slotCount)
    wrong.push(`${parents.length} parents expected, but ${circuitFile} binds at most ${slotCount}`);
  if (wrong.length)
    throw new ProofPublicSignalsMismatchError(
      `proof does not belong to task ${expected.taskId} / agent ${expected.agent}${agentKey}: ${wrong.join('; ')}`,
    );

  const vk = loadVerificationKey(key);
  const complaints: string[] = [];
  const logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: (m: string) => complaints.push(m),
    error: (m: string) => complaints.push(m),
  };
  let ok: boolean;
  try {
    ok = await snarkjs.groth16.verify(vk, record.public_signals, record.proof, logger);
  } catch (e) {
    throw new ProofCorruptedError(
      `corrupted proof for task ${expected.taskId}: the verifier could not read it (${e instanceof Error ? e.message : String(e)})`,
      { cause: e },
    );
  }
  if (!ok) {
    if (complaints.some((c) => /not valid/i.test(c))) {
      throw new ProofCorruptedError(
        `corrupted proof for task ${expected.taskId}: ${complaints.join('; ')} (proof points are not valid curve points)`,
      );
    }
    throw new ProofInvalidError(
      `proof for task ${expected.taskId} fails the Groth16 pairing check against key ${key.verificationKeyHash}: it was altered or made with another key; re-prove the task`,
    );
  }
}
