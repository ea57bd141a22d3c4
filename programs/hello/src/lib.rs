//! `hello`: the test program of the project's own SBPFv1 build (programs/build). No std, no
//! solana-program crate: the input is parsed by hand and the runtime is reached through syscalls.
//!
//! Instruction data (first byte):
//! - `0`: log a greeting (one of a static table, picked by the second byte) and succeed.
//! - `1`: log a refusal and fail with custom error 1.
//! - `2`: move the u64 (little-endian) in bytes 1..9 from account 0 to account 1, both writable
//!   and owned by this program; errors 3 (accounts) or 4 (funds).
//! - `3`: panic (the panic handler logs, then aborts).
//! - anything else (or no data): custom error 2.
#![no_std]
#![allow(clippy::missing_safety_doc)]

mod syscalls;

use syscalls::{abort, log, log_u64};

/// Messages picked at run time: a table of pointers into `.rodata`, so the link step must relocate
/// data pointers (R_BPF_64_ABS64 in `.data.rel.ro`), not only `lddw` immediates.
static GREETINGS: [&str; 3] = ["hello: gm from agenc", "hello: second greeting", "hello: third greeting"];

const ERR_REFUSED: u64 = 1;
const ERR_INVALID_INSTRUCTION: u64 = 2;
const ERR_ACCOUNTS: u64 = 3;
const ERR_FUNDS: u64 = 4;

/// Bytes between one account's data and the next field: the runtime leaves room to grow the data.
const MAX_PERMITTED_DATA_INCREASE: usize = 10 * 1024;

/// One non-duplicate account of the serialized input (the aligned layout of the upgradeable loader).
struct Account {
    /// Start of the account's record (the dup marker byte).
    at: *mut u8,
}

impl Account {
    unsafe fn is_writable(&self) -> bool {
        *self.at.add(2) != 0
    }
    unsafe fn owner(&self) -> *const u8 {
        self.at.add(40)
    }
    unsafe fn lamports(&self) -> *mut u64 {
        self.at.add(72) as *mut u64
    }
}

/// The parsed input: up to two accounts, the instruction data and the program id.
struct Input {
    accounts: [Option<Account>; 2],
    data: *const u8,
    data_len: usize,
    program_id: *const u8,
}

#[inline(never)]
unsafe fn parse(input: *mut u8) -> Input {
    let count = *(input as *const u64) as usize;
    let mut at = input.add(8);
    let mut accounts: [Option<Account>; 2] = [None, None];
    for i in 0..count {
        if *at == 0xff {
            let data_len = *(at.add(80) as *const u64) as usize;
            if i < 2 {
                accounts[i] = Some(Account { at });
            }
            let end = at as usize + 88 + data_len + MAX_PERMITTED_DATA_INCREASE;
            // Padded to 8 bytes, then the rent epoch (u64).
            at = ((end + 7) & !7) as *mut u8;
            at = at.add(8);
        } else {
            // A duplicate: its index and 7 bytes of padding.
            at = at.add(8);
        }
    }
    let data_len = *(at as *const u64) as usize;
    let data = at.add(8);
    Input { accounts, data, data_len, program_id: data.add(data_len) }
}

/// Logs one entry of the greeting table; never inlined, so the build has a pc-relative call.
#[inline(never)]
fn greet(index: usize) {
    match GREETINGS.get(index) {
        Some(message) => log(message),
        None => log("hello: no such greeting"),
    }
}

unsafe fn transfer(input: &Input) -> u64 {
    if input.data_len < 9 {
        return ERR_INVALID_INSTRUCTION;
    }
    let amount = u64::from_le_bytes(core::ptr::read_unaligned(input.data.add(1) as *const [u8; 8]));
    let (Some(from), Some(to)) = (&input.accounts[0], &input.accounts[1]) else {
        return ERR_ACCOUNTS;
    };
    let id = core::slice::from_raw_parts(input.program_id, 32);
    for account in [from, to] {
        if !account.is_writable() || core::slice::from_raw_parts(account.owner(), 32) != id {
            return ERR_ACCOUNTS;
        }
    }
    let balance = *from.lamports();
    if balance < amount {
        return ERR_FUNDS;
    }
    *from.lamports() = balance - amount;
    *to.lamports() += amount;
    log("hello: moved lamports");
    log_u64(amount);
    0
}

/// The program's entrypoint: the loader finds it by the exported symbol and the ELF entry.
#[no_mangle]
pub unsafe extern "C" fn entrypoint(input: *mut u8) -> u64 {
    let input = parse(input);
    if input.data_len == 0 {
        return ERR_INVALID_INSTRUCTION;
    }
    match *input.data {
        0 => {
            log("hello: entrypoint reached");
            greet(if input.data_len > 1 { *input.data.add(1) as usize } else { 0 });
            0
        }
        1 => {
            log("hello: refusing instruction 1");
            ERR_REFUSED
        }
        2 => transfer(&input),
        3 => panic!("hello: asked to panic"),
        _ => ERR_INVALID_INSTRUCTION,
    }
}

/// The panic handler of the on-chain build: `bpf` here (bpfel-unknown-none), `sbf` / `solana` under
/// `cargo build-sbf` (the crate is for those targets only).
#[cfg(any(target_arch = "bpf", target_arch = "sbf", target_os = "solana"))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    log("hello: panicked");
    unsafe { abort() }
}
