pragma circom 2.1.0;

// AgenC Speculate: the join circuit, one Groth16 proof for a task that consumed several parents'
// outputs (a task graph). circuits/task.circom is the one-parent circuit; both stay built, and a proof
// record names the verification key (and so the circuit) it was made with.
//
// Public inputs (in this order): taskId, agent, outputCommitment, parentCommitments[0..SLOTS-1].
// Private inputs: value, parentOutputs[SLOTS], parentSalts[SLOTS], taskOutput, salt.
// SLOTS is MAX_PARENT_SLOTS in shared/task-model.ts (8); change both together.
//
// Proves, for the `compute` task type:
//   1. taskOutput == value * value + sum(parentOutputs)      (the computation itself, in-circuit)
//   2. outputCommitment == Poseidon(taskOutput, salt)
//   3. for every slot i, either
//        empty  (parentCommitments[i] == 0): parentOutputs[i] == 0
//        filled (parentCommitments[i] != 0): parentCommitments[i] == Poseidon(parentOutputs[i], parentSalts[i])
//      A root task has every slot empty. The consumed parents fill the first slots in order; the
//      verifier requires exactly that (activities/proof/prover.ts), so the circuit need not.
//   4. taskId and agent are bound to the proof (square constraints), as in task.circom.
//
// Cost, measured on one 2-core machine (README, "The join circuit"): 2,195 constraints against
// task.circom's 487 (powers of tau 2^12 instead of 2^9); a proof takes 350 ms against 110 ms (medians
// of 15, whatever the number of filled slots), 3.2x. So a task that consumed at most one parent is
// still proven with task.circom (activities/proof/prover.ts provingCircuitFor), and only a task that
// consumed two or more with this one.
//
// The TypeScript mirror of (1) is computeOutput() in activities/proof/fields.ts; keep both equal.

include "../node_modules/circomlib/circuits/poseidon.circom";
include "../node_modules/circomlib/circuits/comparators.circom";

// One parent slot: empty, or the opening of its commitment.
template ParentSlot() {
    signal input commitment;
    signal input parentOutput;
    signal input parentSalt;

    component isEmpty = IsZero();
    isEmpty.in <== commitment;

    component opening = Poseidon(2);
    opening.inputs[0] <== parentOutput;
    opening.inputs[1] <== parentSalt;

    // filled: the commitment opens to (parentOutput, parentSalt)
    signal mismatch;
    mismatch <== (1 - isEmpty.out) * (opening.out - commitment);
    mismatch === 0;

    // empty: nothing consumed from it
    signal emptyOutput;
    emptyOutput <== isEmpty.out * parentOutput;
    emptyOutput === 0;
}

template TaskJoin(SLOTS) {
    // public
    signal input taskId;
    signal input agent;
    signal input outputCommitment;
    signal input parentCommitments[SLOTS];

    // private
    signal input value;
    signal input parentOutputs[SLOTS];
    signal input parentSalts[SLOTS];
    signal input taskOutput; // `output` is a circom keyword
    signal input salt;

    // 1. the compute function over every consumed parent
    var parentSum = 0;
    for (var i = 0; i < SLOTS; i++) {
        parentSum += parentOutputs[i];
    }
    signal valueSquared;
    valueSquared <== value * value;
    taskOutput === valueSquared + parentSum;

    // 2. commitment to this task's output
    component outHash = Poseidon(2);
    outHash.inputs[0] <== taskOutput;
    outHash.inputs[1] <== salt;
    outputCommitment === outHash.out;

    // 3. every slot empty or opened
    component slots[SLOTS];
    for (var i = 0; i < SLOTS; i++) {
        slots[i] = ParentSlot();
        slots[i].commitment <== parentCommitments[i];
        slots[i].parentOutput <== parentOutputs[i];
        slots[i].parentSalt <== parentSalts[i];
    }

    // 4. bind the identity inputs
    signal taskIdSquared;
    taskIdSquared <== taskId * taskId;
    signal agentSquared;
    agentSquared <== agent * agent;
}

component main {public [taskId, agent, outputCommitment, parentCommitments]} = TaskJoin(8);
