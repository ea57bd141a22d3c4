pragma circom 2.1.0;

// AgenC Speculate: one Groth16 proof per task (DESIGN.md section 4).
//
// Public inputs (in this order): taskId, agent, outputCommitment, parentCommitment.
// Private inputs: value, parentOutput, parentSalt, taskOutput, salt
// (the task's `output`; `output` itself is a reserved word in circom).
//
// Proves, for the `compute` task type:
//   1. taskOutput == value * value + parentOutput      (the computation itself, in-circuit)
//   2. outputCommitment == Poseidon(taskOutput, salt)
//   3. root  (parentCommitment == 0): parentOutput == 0
//      child (parentCommitment != 0): parentCommitment == Poseidon(parentOutput, parentSalt)
//   4. taskId and agent are bound to the proof (square constraints), so a proof for
//      one task/agent does not verify with another's public inputs.
//
// The TypeScript mirror of (1) is computeOutput() in activities/proof/fields.ts; keep both equal.

include "../node_modules/circomlib/circuits/poseidon.circom";
include "../node_modules/circomlib/circuits/comparators.circom";

template Task() {
    // public
    signal input taskId;
    signal input agent;
    signal input outputCommitment;
    signal input parentCommitment;

    // private
    signal input value;
    signal input parentOutput;
    signal input parentSalt;
    signal input taskOutput; // `output` is a circom keyword
    signal input salt;

    // 1. the compute function
    signal valueSquared;
    valueSquared <== value * value;
    taskOutput === valueSquared + parentOutput;

    // 2. commitment to this task's output
    component outHash = Poseidon(2);
    outHash.inputs[0] <== taskOutput;
    outHash.inputs[1] <== salt;
    outputCommitment === outHash.out;

    // 3. the parent result this task built on
    component isRoot = IsZero();
    isRoot.in <== parentCommitment;

    component parentHash = Poseidon(2);
    parentHash.inputs[0] <== parentOutput;
    parentHash.inputs[1] <== parentSalt;

    // not a root: parentCommitment must open to (parentOutput, parentSalt)
    signal parentMismatch;
    parentMismatch <== (1 - isRoot.out) * (parentHash.out - parentCommitment);
    parentMismatch === 0;

    // a root consumed no parent output
    signal rootParentOutput;
    rootParentOutput <== isRoot.out * parentOutput;
    rootParentOutput === 0;

    // 4. bind the identity inputs
    signal taskIdSquared;
    taskIdSquared <== taskId * taskId;
    signal agentSquared;
    agentSquared <== agent * agent;
}

component main {public [taskId, agent, outputCommitment, parentCommitment]} = Task();
