//! Why an instruction was refused: the program's custom error codes (the transaction fails with
//! "custom program error: 0x<code>"). activities/chain/custody/errors.ts names them for the TypeScript side.

pub const INVALID_INSTRUCTION: u64 = 1;
pub const MISSING_SIGNATURE: u64 = 2;
pub const WRONG_AUTHORITY: u64 = 3;
pub const WRONG_OWNER: u64 = 4;
pub const ALREADY_INITIALIZED: u64 = 5;
pub const NOT_INITIALIZED: u64 = 6;
pub const WRONG_ACCOUNT_SIZE: u64 = 7;
pub const WRONG_ADDRESS: u64 = 8;
pub const CONFIG_MISMATCH: u64 = 9;
pub const INSUFFICIENT_STAKE: u64 = 10;
pub const BOND_NOT_LOCKED: u64 = 11;
pub const WRONG_TREASURY: u64 = 12;
pub const PERCENTAGE_OUT_OF_RANGE: u64 = 13;
pub const PARENT_MISSING: u64 = 14;
pub const NOT_EXPIRED: u64 = 15;
pub const RECORD_NOT_PENDING: u64 = 16;
pub const OVERFLOW: u64 = 17;
pub const INVALID_STAKE_RULE: u64 = 18;
pub const WRONG_VAULT: u64 = 19;
pub const NOT_DELEGATED: u64 = 20;
pub const PARENT_FAILED: u64 = 21;
pub const RETENTION_NOT_ELAPSED: u64 = 22;
pub const UNSUPPORTED_RENT: u64 = 23;
pub const WRONG_AGENT: u64 = 24;
pub const NOT_WRITABLE: u64 = 25;
pub const TOO_MANY_ACCOUNTS: u64 = 26;
pub const INVALID_REASON: u64 = 27;
pub const RECORD_NOT_SETTLED: u64 = 28;
