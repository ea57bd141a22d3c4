/** The chain module: stake bonds on Solana (embedded SVM or a cluster); the README's "How it works" says which is used when. */
export type { AccountSnapshot, ChainPort, MemoRecord, SendResult } from './port';
export { MEMO_PROGRAM_ID } from './port';
export { BankrunChain, type BankrunChainOptions } from './bankrun-chain';
export { DEFAULT_ACCOUNTS_FILE } from './chain-files';
export { RpcChain, type RpcChainOptions } from './rpc-chain';
export { KeyStore, DEFAULT_KEYS_DIR, AGENT_NAME_PATTERN, validateAgentName } from './keys';
export { bondAddress, commitAddress, stakeAddress, validateTaskId } from './addresses';
export { custodyOf, deployCustody, ensureConfig } from './custody/deployment';
export { Custody } from './custody/instructions';
export { bondAmount, type BondStakeRule } from './bond-amount';
export { ChainTransactionError, type ChainFailureType } from './errors';
export { openStakeDeps, splitSlash, type OpenStakeDepsOptions, type StakeDeps } from './context';
export {
  createStakeActivities,
  type LockBondInput,
  type ReleaseBondInput,
  type SlashBondInput,
  type StakeActivities,
} from './stake-activities';
export { createStakeOperator, type StakeOperator } from './stake-operator';
