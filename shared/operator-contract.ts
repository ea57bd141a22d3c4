/** Operator requests the CLI sends through the `operatorAction` workflow. */
import type {
  CloseRecordsResult,
  IntegrityResult,
  PoolReport,
  SettleBondResult,
  SlashingHistory,
  StakeInitInput,
  StakeInitResult,
  StakeStatusResult,
  StakeWithdrawInput,
  StakeWithdrawResult,
} from './stake-records';

export type OperatorRequest =
  | { kind: 'stakeInit'; input: StakeInitInput }
  | { kind: 'stakeStatus'; input: { agent?: string } }
  | { kind: 'stakeWithdraw'; input: StakeWithdrawInput }
  | { kind: 'checkIntegrity' }
  | { kind: 'checkPool'; input: { program?: string } }
  | { kind: 'releaseBond'; input: ReleaseBondRequest }
  | { kind: 'closeRecords'; input: { limit?: number } }
  | { kind: 'slashingHistory'; input: { sinceMs?: number; agent?: string } };

/** An operator releases the bond of a task whose workflow closed without settling it (terminated). */
export interface ReleaseBondRequest {
  taskId: string;
  reason: string;
  /** The bond's agent, when the task's workflow is gone from Temporal and cannot say. */
  agent?: string;
}

export interface StakeStatusWithCooldown extends StakeStatusResult {
  /** Agent → ISO time until which it may not speculate after a slash. */
  cooldown_until: Record<string, string>;
}

export interface IntegrityReport extends IntegrityResult {
  live_bonds: number;
}

export interface OperatorActivities {
  operatorStakeInit(input: StakeInitInput): Promise<StakeInitResult>;
  operatorStakeStatus(input: { agent?: string }): Promise<StakeStatusWithCooldown>;
  operatorStakeWithdraw(input: StakeWithdrawInput): Promise<StakeWithdrawResult>;
  operatorCheckIntegrity(): Promise<IntegrityReport>;
  operatorCheckPool(input: { program?: string }): Promise<PoolReport>;
  operatorReleaseBond(input: ReleaseBondRequest): Promise<SettleBondResult>;
  /** Closes the commitment records of up to `limit` closed task workflows, once past the retention. */
  operatorCloseRecords(input: { limit?: number }): Promise<CloseRecordsResult>;
  operatorSlashingHistory(input: { sinceMs?: number; agent?: string }): Promise<SlashingHistory>;
}
