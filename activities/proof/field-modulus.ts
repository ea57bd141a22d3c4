/** The BN254 (alt_bn128) scalar field order: every circuit signal is an element of this field. */
export const FIELD_MODULUS = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;
