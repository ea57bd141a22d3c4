//! Account layouts: every account this program owns starts with a one-byte tag; an all-zero account is
//! one the creator made (System CreateAccount / CreateAccountWithSeed with this program as owner) and
//! the program has not initialised yet. Fixed offsets, little-endian; `programs/custody/layout.json`
//! is not needed: activities/chain/custody/layout.ts mirrors these constants and a test reads both.

pub const TAG_CONFIG: u8 = 1;
pub const TAG_VAULT: u8 = 2;
pub const TAG_BOND: u8 = 3;
pub const TAG_RECORD: u8 = 4;

/// Slash reasons, each with its own percentage in the config.
pub const REASONS: usize = 4;

// Config: the protocol's rules, set by its authority.
pub const CONFIG_LEN: usize = 128;
pub const CONFIG_TREASURY_SHARE_BPS: usize = 2; // u16: the treasury's share of a slash when there are victims
pub const CONFIG_SLASH_BPS: usize = 4; // [u16; REASONS]: basis points of a bond slashed, per reason
pub const CONFIG_AUTHORITY: usize = 16; // [u8; 32]
pub const CONFIG_TREASURY: usize = 48; // [u8; 32]
pub const CONFIG_MIN_STAKE: usize = 80; // u64
pub const CONFIG_STAKE_PER_DEPTH: usize = 88; // u64
pub const CONFIG_MAX_STAKE: usize = 96; // u64
pub const CONFIG_BOND_EXPIRY: usize = 104; // i64 seconds: after this an unsettled bond is the agent's to release
pub const CONFIG_RECORD_RETENTION: usize = 112; // i64 seconds: a settled record can be closed this long after settlement

// Vault: one agent's stake under one config.
pub const VAULT_LEN: usize = 128;
pub const VAULT_DELEGATED: usize = 1; // u8: 1 = the agent lets the config's authority bond its stake by the rule
pub const VAULT_CONFIG: usize = 8;
pub const VAULT_AGENT: usize = 40;
pub const VAULT_RESERVE: usize = 72; // u64: rent kept in the vault, never withdrawable or bondable
pub const VAULT_ACCOUNTED: usize = 80; // u64: lamports the program left in the vault; more than this is a deposit not yet counted
pub const VAULT_DEPOSITED: usize = 88; // u64
pub const VAULT_WITHDRAWN: usize = 96; // u64
pub const VAULT_BONDED: usize = 104; // u64: lamports in live bonds
pub const VAULT_SLASHED: usize = 112; // u64: lamports slashed from this agent's bonds
pub const VAULT_COMPENSATED: usize = 120; // u64: lamports received as a victim of another task's slash

// Bond: one per task attempt, holding the bonded lamports (plus its own rent, the authority's).
pub const BOND_LEN: usize = 128;
pub const BOND_DEPTH: usize = 4; // u32
pub const BOND_CONFIG: usize = 8;
pub const BOND_VAULT: usize = 40;
pub const BOND_TASK: usize = 72; // [u8; 32] task hash
pub const BOND_AMOUNT: usize = 104; // u64
pub const BOND_LOCKED_AT: usize = 112; // i64
pub const BOND_ATTEMPT: usize = 120; // u32

// Commitment record: one per task, followed by its parents' record addresses.
pub const RECORD_HEADER_LEN: usize = 184;
pub const MAX_PARENTS: usize = 8;
pub const RECORD_STATUS: usize = 1; // u8
pub const RECORD_PARENTS: usize = 2; // u8: how many parent addresses follow the header
pub const RECORD_CONFIG: usize = 8;
pub const RECORD_TASK: usize = 40;
pub const RECORD_AGENT: usize = 72;
pub const RECORD_COMMITMENT: usize = 104;
pub const RECORD_VKEY_HASH: usize = 136;
pub const RECORD_COMMITTED_AT: usize = 168; // i64
pub const RECORD_SETTLED_AT: usize = 176; // i64
pub const STATUS_PENDING: u8 = 1;
pub const STATUS_CONFIRMED: u8 = 2;
pub const STATUS_FAILED: u8 = 3;

pub fn record_len(parents: usize) -> usize {
    RECORD_HEADER_LEN + 32 * parents
}

pub fn read_u16(d: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([d[at], d[at + 1]])
}
pub fn write_u16(d: &mut [u8], at: usize, v: u16) {
    d[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
pub fn read_u32(d: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
}
pub fn write_u32(d: &mut [u8], at: usize, v: u32) {
    d[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
pub fn read_u64(d: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[at..at + 8]);
    u64::from_le_bytes(b)
}
pub fn write_u64(d: &mut [u8], at: usize, v: u64) {
    d[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
pub fn read_i64(d: &[u8], at: usize) -> i64 {
    read_u64(d, at) as i64
}
pub fn write_i64(d: &mut [u8], at: usize, v: i64) {
    write_u64(d, at, v as u64)
}
pub fn key_at(d: &[u8], at: usize) -> &[u8; 32] {
    let s: &[u8] = &d[at..at + 32];
    // SAFETY: the slice is exactly 32 bytes.
    unsafe { &*(s.as_ptr() as *const [u8; 32]) }
}
pub fn write_key(d: &mut [u8], at: usize, key: &[u8; 32]) {
    d[at..at + 32].copy_from_slice(key);
}
