//! AgenC custody: the rules of speculation stake, kept by the chain rather than by our workers.
//!
//! Accounts (layouts in state.rs), all owned by this program:
//!   config  the protocol's authority, treasury and rules (stake rule, slash percentage per reason,
//!           the treasury's share of a slash, bond expiry, record retention);
//!   vault   one agent's stake; only the agent withdraws, and only what no bond holds;
//!   bond    one per task attempt, at the address derived from (authority, task, attempt), holding
//!           the lamports the stake rule names for its depth; settled exactly once (release, slash, or
//!           the agent's own release after expiry), then closed;
//!   record  one per task, at the address derived from (authority, task): its output commitment,
//!           verification-key hash and parents' records, which must exist before it can.
//!
//! No cross-program calls: the creator of an account (System CreateAccount[WithSeed] with this program
//! as owner, in the same transaction) pays its rent, and the program moves lamports only between
//! accounts it owns and the destinations its rules name.
#![cfg_attr(target_os = "none", no_std)]
#![allow(clippy::missing_safety_doc)]

pub mod error;
pub mod input;
pub mod state;
pub mod sys;

use error::*;
use input::{Account, Input};
use state::*;

pub const IX_INIT_CONFIG: u8 = 0;
pub const IX_UPDATE_CONFIG: u8 = 1;
pub const IX_DEPOSIT: u8 = 2;
pub const IX_WITHDRAW: u8 = 3;
pub const IX_BOND: u8 = 4;
pub const IX_RELEASE: u8 = 5;
pub const IX_SLASH: u8 = 6;
pub const IX_COMMIT: u8 = 7;
pub const IX_SETTLE_RECORD: u8 = 8;
pub const IX_CLOSE_RECORD: u8 = 9;
pub const IX_EXPIRE_RELEASE: u8 = 10;

const BPS: u64 = 10_000;
const MAX_VICTIMS: usize = 16;

/// Early return of a non-zero error code.
macro_rules! check {
    ($e:expr) => {{
        let code: u64 = $e;
        if code != 0 {
            return code;
        }
    }};
}

macro_rules! require {
    ($cond:expr, $code:expr) => {
        if !$cond {
            return $code;
        }
    };
}

#[no_mangle]
pub unsafe extern "C" fn entrypoint(input: *mut u8) -> u64 {
    // Filled by parse (only the first `count` accounts are read); not zeroed first, which would be a
    // 200-byte memset this target cannot lower.
    let mut parsed = core::mem::MaybeUninit::<Input>::uninit();
    if !input::parse(input, parsed.as_mut_ptr()) {
        sys::log("agenc-custody: too many accounts");
        return TOO_MANY_ACCOUNTS;
    }
    let code = process(parsed.assume_init_ref());
    if code != 0 {
        sys::log("agenc-custody: refused");
        sys::log_numbers(code, 0, 0, 0, 0);
    }
    code
}

fn process(ix: &Input) -> u64 {
    let Some(&tag) = ix.data.first() else { return INVALID_INSTRUCTION };
    match tag {
        IX_INIT_CONFIG => init_config(ix, true),
        IX_UPDATE_CONFIG => init_config(ix, false),
        IX_DEPOSIT => deposit(ix),
        IX_WITHDRAW => withdraw(ix),
        IX_BOND => bond(ix),
        IX_RELEASE => release(ix),
        IX_SLASH => slash(ix),
        IX_COMMIT => commit(ix),
        IX_SETTLE_RECORD => settle_record(ix),
        IX_CLOSE_RECORD => close_record(ix),
        IX_EXPIRE_RELEASE => expire_release(ix),
        _ => INVALID_INSTRUCTION,
    }
}

// --- checks shared by the instructions ---------------------------------------------------------

fn account(ix: &Input, i: usize, out: &mut Account) -> u64 {
    require!(i < ix.count, INVALID_INSTRUCTION);
    *out = ix.accounts[i];
    0
}

/// The instruction's first N accounts, in order.
fn take<const N: usize>(ix: &Input, out: &mut [Account; N]) -> u64 {
    let mut i = 0;
    while i < N {
        check!(account(ix, i, &mut out[i]));
        i += 1;
    }
    0
}

/// An account of this program's with `tag` (0: not yet initialised, and all zero) and `len` bytes (0: any).
fn owned(ix: &Input, a: &Account, tag: u8, len: usize) -> u64 {
    require!(a.owner() == ix.program_id, WRONG_OWNER);
    if len != 0 {
        require!(a.data_len() == len, WRONG_ACCOUNT_SIZE);
    }
    require!(a.data_len() > 0, WRONG_ACCOUNT_SIZE);
    let found = a.data()[0];
    if tag == 0 {
        require!(found == 0, ALREADY_INITIALIZED);
    } else if found != tag {
        return if found == 0 { NOT_INITIALIZED } else { WRONG_OWNER };
    }
    0
}

fn writable(a: &Account) -> u64 {
    require!(a.is_writable(), NOT_WRITABLE);
    0
}

/// The config, and that `signer` is its authority and signed.
fn config_and_authority(ix: &Input, config: &Account, signer: &Account) -> u64 {
    check!(owned(ix, config, TAG_CONFIG, CONFIG_LEN));
    require!(signer.is_signer(), MISSING_SIGNATURE);
    require!(signer.key() == key_at(config.data(), CONFIG_AUTHORITY), WRONG_AUTHORITY);
    0
}

/// The vault belongs to `config`.
fn vault_of(ix: &Input, vault: &Account, config: &Account) -> u64 {
    check!(owned(ix, vault, TAG_VAULT, VAULT_LEN));
    require!(key_at(vault.data(), VAULT_CONFIG) == config.key(), CONFIG_MISMATCH);
    0
}

/// Lamports from an account this program owns to `to`.
fn move_lamports(from: &Account, to: &Account, amount: u64) -> u64 {
    let Some(left) = from.lamports().checked_sub(amount) else { return OVERFLOW };
    let Some(added) = to.lamports().checked_add(amount) else { return OVERFLOW };
    from.set_lamports(left);
    to.set_lamports(added);
    0
}

/// Closes an account this program owns: its lamports to `to`, its data zeroed (the runtime removes it).
fn close(account: &Account, to: &Account) -> u64 {
    check!(move_lamports(account, to, account.lamports()));
    sys::zero(account.data());
    0
}

/// a × b / d: OVERFLOW when a × b does not fit in 64 bits. The product is checked in 32-bit halves:
/// LLVM turns the usual checks into a 128-bit multiply, which this target cannot call.
fn mul_div(a: u64, b: u64, d: u64, out: &mut u64) -> u64 {
    require!(d != 0, OVERFLOW);
    let (ah, al, bh, bl) = (a >> 32, a & 0xffff_ffff, b >> 32, b & 0xffff_ffff);
    require!(ah == 0 || bh == 0, OVERFLOW);
    let cross = ah * bl + al * bh; // one term is 0, the other < 2^64
    require!(cross >> 32 == 0, OVERFLOW);
    let Some(product) = (al * bl).checked_add(cross << 32) else { return OVERFLOW };
    *out = product / d;
    0
}

fn add_to(d: &mut [u8], at: usize, amount: u64) -> u64 {
    let Some(v) = read_u64(d, at).checked_add(amount) else { return OVERFLOW };
    write_u64(d, at, v);
    0
}

fn sub_from(d: &mut [u8], at: usize, amount: u64) -> u64 {
    let Some(v) = read_u64(d, at).checked_sub(amount) else { return OVERFLOW };
    write_u64(d, at, v);
    0
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The address System CreateAccountWithSeed gives (base, prefix + first 31 hex digits of `hash`, this program).
fn seeded_address(ix: &Input, base: &[u8; 32], prefix: u8, hash: &[u8; 32], out: &mut [u8; 32]) {
    let mut seed = [0u8; 32];
    seed[0] = prefix;
    let mut i = 0;
    while i < 31 {
        let byte = hash[i / 2];
        seed[1 + i] = HEX[(if i % 2 == 0 { byte >> 4 } else { byte & 15 }) as usize];
        i += 1;
    }
    sys::sha256(&[base, &seed, ix.program_id], out);
}

fn u64_arg(data: &[u8], at: usize, out: &mut u64) -> u64 {
    require!(data.len() >= at + 8, INVALID_INSTRUCTION);
    *out = read_u64(data, at);
    0
}

// --- instructions ------------------------------------------------------------------------------

/// InitConfig [config(w), authority(s), treasury] / UpdateConfig [config(w), authority(s)]:
/// data = tag, treasury_share_bps u16, slash_bps [u16; 4], min u64, per_depth u64, max u64, bond_expiry i64, retention i64.
fn init_config(ix: &Input, init: bool) -> u64 {
    let mut a = [Account::null(); 2];
    check!(take(ix, &mut a));
    let [config, authority] = a;
    check!(writable(&config));
    let d = ix.data;
    require!(d.len() == 51, INVALID_INSTRUCTION);
    let share = read_u16(d, 1);
    require!(share as u64 <= BPS, PERCENTAGE_OUT_OF_RANGE);
    let mut r = 0;
    while r < REASONS {
        require!(read_u16(d, 3 + 2 * r) as u64 <= BPS, PERCENTAGE_OUT_OF_RANGE);
        r += 1;
    }
    let (min, per, max) = (read_u64(d, 11), read_u64(d, 19), read_u64(d, 27));
    let (expiry, retention) = (read_i64(d, 35), read_i64(d, 43));
    require!(min <= max && min > 0, INVALID_STAKE_RULE);
    require!(expiry > 0 && retention >= 0, INVALID_STAKE_RULE);
    if init {
        let mut treasury = Account::null();
        check!(account(ix, 2, &mut treasury));
        check!(owned(ix, &config, 0, CONFIG_LEN));
        require!(authority.is_signer(), MISSING_SIGNATURE);
        let c = config.data();
        c[0] = TAG_CONFIG;
        write_key(c, CONFIG_AUTHORITY, authority.key());
        write_key(c, CONFIG_TREASURY, treasury.key());
    } else {
        check!(config_and_authority(ix, &config, &authority));
    }
    let c = config.data();
    write_u16(c, CONFIG_TREASURY_SHARE_BPS, share);
    c[CONFIG_SLASH_BPS..CONFIG_SLASH_BPS + 2 * REASONS].copy_from_slice(&d[3..3 + 2 * REASONS]);
    write_u64(c, CONFIG_MIN_STAKE, min);
    write_u64(c, CONFIG_STAKE_PER_DEPTH, per);
    write_u64(c, CONFIG_MAX_STAKE, max);
    write_i64(c, CONFIG_BOND_EXPIRY, expiry);
    write_i64(c, CONFIG_RECORD_RETENTION, retention);
    0
}

/// Deposit [config, agent(s), vault(w)]: data = tag, delegate u8. The first deposit initialises the vault
/// (created in the same transaction, program-owned, VAULT_LEN bytes); every deposit counts the lamports
/// sent to it since the program last wrote it. `delegate` 1 is the agent's standing delegation: the
/// config's authority may bond this stake, by the config's rule only.
fn deposit(ix: &Input) -> u64 {
    let mut a = [Account::null(); 3];
    check!(take(ix, &mut a));
    let [config, agent, vault] = a;
    check!(owned(ix, &config, TAG_CONFIG, CONFIG_LEN));
    check!(writable(&vault));
    require!(agent.is_signer(), MISSING_SIGNATURE);
    require!(ix.data.len() == 2 && ix.data[1] <= 1, INVALID_INSTRUCTION);
    require!(vault.owner() == ix.program_id, WRONG_OWNER);
    require!(vault.data_len() == VAULT_LEN, WRONG_ACCOUNT_SIZE);
    let v = vault.data();
    if v[0] == 0 {
        let Some(reserve) = sys::rent_exempt_minimum(VAULT_LEN as u64) else { return UNSUPPORTED_RENT };
        require!(vault.lamports() >= reserve, INSUFFICIENT_STAKE);
        v[0] = TAG_VAULT;
        write_key(v, VAULT_CONFIG, config.key());
        write_key(v, VAULT_AGENT, agent.key());
        write_u64(v, VAULT_RESERVE, reserve);
        write_u64(v, VAULT_ACCOUNTED, reserve);
    } else {
        check!(vault_of(ix, &vault, &config));
        require!(key_at(v, VAULT_AGENT) == agent.key(), WRONG_AGENT);
    }
    v[VAULT_DELEGATED] = ix.data[1];
    let Some(new) = vault.lamports().checked_sub(read_u64(v, VAULT_ACCOUNTED)) else { return OVERFLOW };
    check!(add_to(v, VAULT_DEPOSITED, new));
    write_u64(v, VAULT_ACCOUNTED, vault.lamports());
    0
}

/// Withdraw [config, agent(s), vault(w), destination(w)]: data = tag, amount u64. Only the vault's agent,
/// only what is in the vault above its rent reserve: bonded lamports are in their bonds, not here.
fn withdraw(ix: &Input) -> u64 {
    let mut a = [Account::null(); 4];
    check!(take(ix, &mut a));
    let [config, agent, vault, to] = a;
    check!(vault_of(ix, &vault, &config));
    check!(writable(&vault));
    check!(writable(&to));
    require!(agent.is_signer(), MISSING_SIGNATURE);
    let v = vault.data();
    require!(key_at(v, VAULT_AGENT) == agent.key(), WRONG_AGENT);
    let mut amount = 0;
    check!(u64_arg(ix.data, 1, &mut amount));
    let available = vault.lamports().saturating_sub(read_u64(v, VAULT_RESERVE));
    require!(amount <= available, INSUFFICIENT_STAKE);
    check!(move_lamports(&vault, &to, amount));
    check!(add_to(v, VAULT_WITHDRAWN, amount));
    write_u64(v, VAULT_ACCOUNTED, vault.lamports());
    0
}

/// The stake rule: min(max, min + depth × per_depth).
fn bond_amount(c: &[u8], depth: u64) -> u64 {
    let (min, per, max) = (read_u64(c, CONFIG_MIN_STAKE), read_u64(c, CONFIG_STAKE_PER_DEPTH), read_u64(c, CONFIG_MAX_STAKE));
    if depth != 0 && per > (max - min) / depth {
        return max;
    }
    let linear = min + depth * per;
    if linear < max {
        linear
    } else {
        max
    }
}

/// Bond [config, authority(s), vault(w), bond(w)]: data = tag, task_hash [32], attempt u32, depth u32.
/// Moves the rule's amount for `depth` from the vault into the bond (created in the same transaction at
/// its derived address, so a task attempt has one bond). Needs the agent's standing delegation.
fn bond(ix: &Input) -> u64 {
    let mut a = [Account::null(); 4];
    check!(take(ix, &mut a));
    let [config, authority, vault, bond] = a;
    check!(config_and_authority(ix, &config, &authority));
    check!(vault_of(ix, &vault, &config));
    check!(writable(&vault));
    check!(writable(&bond));
    check!(owned(ix, &bond, 0, BOND_LEN));
    let d = ix.data;
    require!(d.len() == 41, INVALID_INSTRUCTION);
    let task = key_at(d, 1);
    let attempt = read_u32(d, 33);
    let depth = read_u32(d, 37);
    let mut attempt_hash = [0u8; 32];
    sys::sha256(&[task, &attempt.to_le_bytes()], &mut attempt_hash);
    let mut expected = [0u8; 32];
    seeded_address(ix, authority.key(), b'b', &attempt_hash, &mut expected);
    require!(&expected == bond.key(), WRONG_ADDRESS);
    let v = vault.data();
    require!(v[VAULT_DELEGATED] == 1, NOT_DELEGATED);
    let amount = bond_amount(config.data(), depth as u64);
    let available = vault.lamports().saturating_sub(read_u64(v, VAULT_RESERVE));
    require!(amount <= available, INSUFFICIENT_STAKE);
    check!(move_lamports(&vault, &bond, amount));
    check!(add_to(v, VAULT_BONDED, amount));
    write_u64(v, VAULT_ACCOUNTED, vault.lamports());
    let b = bond.data();
    b[0] = TAG_BOND;
    write_u32(b, BOND_DEPTH, depth);
    write_key(b, BOND_CONFIG, config.key());
    write_key(b, BOND_VAULT, vault.key());
    write_key(b, BOND_TASK, task);
    write_u64(b, BOND_AMOUNT, amount);
    write_i64(b, BOND_LOCKED_AT, sys::unix_timestamp());
    write_u32(b, BOND_ATTEMPT, attempt);
    0
}

/// The accounts every settlement names: config, signer, vault, bond, rent receiver (the config's
/// authority, which paid the bond's rent). Checks the bond is live and the vault's.
fn settlement_accounts(ix: &Input, accounts: &mut [Account; 5]) -> u64 {
    check!(take(ix, accounts));
    let [config, _, vault, bond, rent_to] = accounts;
    check!(owned(ix, config, TAG_CONFIG, CONFIG_LEN));
    check!(vault_of(ix, vault, config));
    check!(writable(vault));
    check!(writable(bond));
    check!(writable(rent_to));
    // A settled bond is closed: the account is gone (System-owned, empty) or made again but never locked.
    require!(bond.owner() == ix.program_id && bond.data_len() == BOND_LEN, BOND_NOT_LOCKED);
    require!(bond.data()[0] == TAG_BOND, BOND_NOT_LOCKED);
    require!(key_at(bond.data(), BOND_CONFIG) == config.key(), CONFIG_MISMATCH);
    require!(key_at(bond.data(), BOND_VAULT) == vault.key(), WRONG_VAULT);
    require!(rent_to.key() == key_at(config.data(), CONFIG_AUTHORITY), WRONG_AUTHORITY);
    0
}

/// The bond's amount back to the vault, its rent to the authority, the bond closed.
fn return_bond(vault: &Account, bond: &Account, rent_to: &Account, returned: u64) -> u64 {
    let amount = read_u64(bond.data(), BOND_AMOUNT);
    check!(move_lamports(bond, vault, returned));
    check!(close(bond, rent_to));
    let v = vault.data();
    check!(sub_from(v, VAULT_BONDED, amount));
    write_u64(v, VAULT_ACCOUNTED, vault.lamports());
    0
}

/// Release [config, authority(s), vault(w), bond(w), rent_receiver(w)]: the whole bond back to the vault.
fn release(ix: &Input) -> u64 {
    let mut a = [Account::null(); 5];
    check!(settlement_accounts(ix, &mut a));
    check!(config_and_authority(ix, &a[0], &a[1]));
    let amount = read_u64(a[3].data(), BOND_AMOUNT);
    return_bond(&a[2], &a[3], &a[4], amount)
}

/// ExpireRelease [config, agent(s), vault(w), bond(w), rent_receiver(w)]: the agent takes back a bond the
/// authority has not settled within the config's bond expiry, so no operator can hold its stake forever.
fn expire_release(ix: &Input) -> u64 {
    let mut a = [Account::null(); 5];
    check!(settlement_accounts(ix, &mut a));
    require!(a[1].is_signer(), MISSING_SIGNATURE);
    require!(key_at(a[2].data(), VAULT_AGENT) == a[1].key(), WRONG_AGENT);
    let b = a[3].data();
    let expiry = read_i64(a[0].data(), CONFIG_BOND_EXPIRY);
    let Some(expires) = read_i64(b, BOND_LOCKED_AT).checked_add(expiry) else { return OVERFLOW };
    require!(sys::unix_timestamp() >= expires, NOT_EXPIRED);
    let amount = read_u64(b, BOND_AMOUNT);
    return_bond(&a[2], &a[3], &a[4], amount)
}

/// Slash [config, authority(s), vault(w), bond(w), rent_receiver(w), treasury(w), victim vaults(w)...]:
/// data = tag, reason u8, then one u64 weight per victim (their rolled-back bonds). The config's
/// percentage for `reason` of the bond is slashed, the rest goes back to the vault. The slashed part goes
/// to the treasury when there are no victims; otherwise the treasury gets its configured share and the
/// victims the rest, by weight (what rounding leaves goes to the treasury).
fn slash(ix: &Input) -> u64 {
    let mut a = [Account::null(); 5];
    check!(settlement_accounts(ix, &mut a));
    let [config, authority, vault, bond, rent_to] = &a;
    check!(config_and_authority(ix, config, authority));
    let mut treasury = Account::null();
    check!(account(ix, 5, &mut treasury));
    check!(writable(&treasury));
    let c = config.data();
    require!(treasury.key() == key_at(c, CONFIG_TREASURY), WRONG_TREASURY);
    let d = ix.data;
    require!(d.len() >= 2 && (d.len() - 2) % 8 == 0, INVALID_INSTRUCTION);
    let reason = d[1] as usize;
    require!(reason < REASONS, INVALID_REASON);
    let victims = (d.len() - 2) / 8;
    require!(victims <= MAX_VICTIMS && ix.count == 6 + victims, INVALID_INSTRUCTION);

    let amount = read_u64(bond.data(), BOND_AMOUNT);
    let mut slashed = 0;
    check!(mul_div(amount, read_u16(c, CONFIG_SLASH_BPS + 2 * reason) as u64, BPS, &mut slashed));
    let mut to_victims = 0;
    let mut total_weight = 0u64;
    let mut i = 0;
    while i < victims {
        let Some(w) = total_weight.checked_add(read_u64(d, 2 + 8 * i)) else { return OVERFLOW };
        total_weight = w;
        i += 1;
    }
    if victims > 0 && total_weight > 0 {
        let mut treasury_part = 0;
        check!(mul_div(slashed, read_u16(c, CONFIG_TREASURY_SHARE_BPS) as u64, BPS, &mut treasury_part));
        to_victims = slashed - treasury_part;
    }
    let mut paid = 0;
    i = 0;
    while i < victims {
        let victim = ix.accounts[6 + i];
        check!(vault_of(ix, &victim, config));
        check!(writable(&victim));
        require!(!victim.same(vault), WRONG_VAULT);
        let mut share = 0;
        check!(mul_div(to_victims, read_u64(d, 2 + 8 * i), total_weight.max(1), &mut share));
        check!(move_lamports(bond, &victim, share));
        let vd = victim.data();
        check!(add_to(vd, VAULT_COMPENSATED, share));
        write_u64(vd, VAULT_ACCOUNTED, victim.lamports());
        paid += share;
        i += 1;
    }
    check!(move_lamports(bond, &treasury, slashed - paid));
    check!(add_to(vault.data(), VAULT_SLASHED, slashed));
    return_bond(vault, bond, rent_to, amount - slashed)
}

/// Commit [config, authority(s), record(w), parent records...]: data = tag, task_hash, agent, commitment,
/// vkey_hash (32 bytes each). The record is created in the same transaction at the task's derived
/// address with room for its parents; every parent's record must exist (pending or confirmed), so
/// commitments reach the chain in ancestor order.
fn commit(ix: &Input) -> u64 {
    let mut a = [Account::null(); 3];
    check!(take(ix, &mut a));
    let [config, authority, record] = a;
    check!(config_and_authority(ix, &config, &authority));
    check!(writable(&record));
    let d = ix.data;
    require!(d.len() == 129, INVALID_INSTRUCTION);
    let parents = ix.count - 3;
    require!(parents <= MAX_PARENTS, INVALID_INSTRUCTION);
    check!(owned(ix, &record, 0, record_len(parents)));
    let task = key_at(d, 1);
    let mut expected = [0u8; 32];
    seeded_address(ix, authority.key(), b'c', task, &mut expected);
    require!(&expected == record.key(), WRONG_ADDRESS);
    let r = record.data();
    let mut i = 0;
    while i < parents {
        let parent = ix.accounts[3 + i];
        require!(parent.owner() == ix.program_id && parent.data_len() >= RECORD_HEADER_LEN, PARENT_MISSING);
        let p = parent.data();
        require!(p[0] == TAG_RECORD && key_at(p, RECORD_CONFIG) == config.key(), PARENT_MISSING);
        require!(p[RECORD_STATUS] != STATUS_FAILED, PARENT_FAILED);
        write_key(r, RECORD_HEADER_LEN + 32 * i, parent.key());
        i += 1;
    }
    r[0] = TAG_RECORD;
    r[RECORD_STATUS] = STATUS_PENDING;
    r[RECORD_PARENTS] = parents as u8;
    write_key(r, RECORD_CONFIG, config.key());
    r[RECORD_TASK..RECORD_TASK + 128].copy_from_slice(&d[1..129]);
    write_i64(r, RECORD_COMMITTED_AT, sys::unix_timestamp());
    0
}

/// SettleRecord [config, authority(s), record(w)]: data = tag, status (2 confirmed, 3 failed). Once.
fn settle_record(ix: &Input) -> u64 {
    let mut a = [Account::null(); 3];
    check!(take(ix, &mut a));
    let [config, authority, record] = a;
    check!(config_and_authority(ix, &config, &authority));
    check!(writable(&record));
    check!(owned(ix, &record, TAG_RECORD, 0));
    require!(ix.data.len() == 2, INVALID_INSTRUCTION);
    let status = ix.data[1];
    require!(status == STATUS_CONFIRMED || status == STATUS_FAILED, INVALID_INSTRUCTION);
    let r = record.data();
    require!(key_at(r, RECORD_CONFIG) == config.key(), CONFIG_MISMATCH);
    require!(r[RECORD_STATUS] == STATUS_PENDING, RECORD_NOT_PENDING);
    r[RECORD_STATUS] = status;
    write_i64(r, RECORD_SETTLED_AT, sys::unix_timestamp());
    0
}

/// CloseRecord [config, authority(s), record(w), rent_receiver(w)]: a settled record, once the config's
/// retention has passed since its settlement, is closed and its rent returned to the authority.
fn close_record(ix: &Input) -> u64 {
    let mut a = [Account::null(); 4];
    check!(take(ix, &mut a));
    let [config, authority, record, rent_to] = a;
    check!(config_and_authority(ix, &config, &authority));
    check!(writable(&record));
    check!(writable(&rent_to));
    check!(owned(ix, &record, TAG_RECORD, 0));
    let r = record.data();
    require!(key_at(r, RECORD_CONFIG) == config.key(), CONFIG_MISMATCH);
    require!(r[RECORD_STATUS] != STATUS_PENDING, RECORD_NOT_SETTLED);
    let Some(closable) = read_i64(r, RECORD_SETTLED_AT).checked_add(read_i64(config.data(), CONFIG_RECORD_RETENTION)) else {
        return OVERFLOW;
    };
    require!(sys::unix_timestamp() >= closable, RETENTION_NOT_ELAPSED);
    require!(rent_to.key() == key_at(config.data(), CONFIG_AUTHORITY), WRONG_AUTHORITY);
    close(&record, &rent_to)
}
