//! The runtime's syscalls, declared by hand (no solana-program crate builds on the Debian route), the
//! memory functions LLVM emits calls to, and the panic handler.

#[repr(C)]
pub struct SolBytes {
    pub addr: *const u8,
    pub len: u64,
}

extern "C" {
    fn sol_log_(message: *const u8, len: u64);
    fn sol_log_64_(a: u64, b: u64, c: u64, d: u64, e: u64);
    fn sol_sha256(vals: *const SolBytes, count: u64, result: *mut u8) -> u64;
    fn sol_get_clock_sysvar(out: *mut u8) -> u64;
    fn sol_get_rent_sysvar(out: *mut u8) -> u64;
    fn sol_memcpy_(dst: *mut u8, src: *const u8, n: u64);
    fn sol_memmove_(dst: *mut u8, src: *const u8, n: u64);
    fn sol_memset_(dst: *mut u8, c: u8, n: u64);
    fn sol_memcmp_(a: *const u8, b: *const u8, n: u64, result: *mut i32);
    fn abort() -> !;
}

pub fn log(message: &str) {
    unsafe { sol_log_(message.as_ptr(), message.len() as u64) }
}

pub fn log_numbers(a: u64, b: u64, c: u64, d: u64, e: u64) {
    unsafe { sol_log_64_(a, b, c, d, e) }
}

/// sha256 over the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]], out: &mut [u8; 32]) {
    let mut vals = [SolBytes { addr: core::ptr::null(), len: 0 }, SolBytes { addr: core::ptr::null(), len: 0 }, SolBytes {
        addr: core::ptr::null(),
        len: 0,
    }];
    let n = if parts.len() < 3 { parts.len() } else { 3 };
    let mut i = 0;
    while i < n {
        vals[i] = SolBytes { addr: parts[i].as_ptr(), len: parts[i].len() as u64 };
        i += 1;
    }
    unsafe {
        sol_sha256(vals.as_ptr(), n as u64, out.as_mut_ptr());
    }
}

/// Zeroes `bytes` through the runtime (a loop would become a memset call this target cannot lower).
pub fn zero(bytes: &mut [u8]) {
    unsafe { sol_memset_(bytes.as_mut_ptr(), 0, bytes.len() as u64) }
}

/// The cluster's clock: unix_timestamp (seconds) of the current slot.
pub fn unix_timestamp() -> i64 {
    // Clock { slot, epoch_start_timestamp, epoch, leader_schedule_epoch, unix_timestamp }
    let mut clock = [0u8; 40];
    unsafe {
        sol_get_clock_sysvar(clock.as_mut_ptr());
    }
    i64::from_le_bytes([clock[32], clock[33], clock[34], clock[35], clock[36], clock[37], clock[38], clock[39]])
}

/// Lamports an account of `data_len` bytes must hold to be rent-exempt, or None when the cluster's
/// exemption threshold is not the 2 years every cluster uses (floating point is not available here).
pub fn rent_exempt_minimum(data_len: u64) -> Option<u64> {
    // Rent { lamports_per_byte_year: u64, exemption_threshold: f64, burn_percent: u8 }
    let mut rent = [0u8; 24];
    unsafe {
        sol_get_rent_sysvar(rent.as_mut_ptr());
    }
    let per_byte_year = u64::from_le_bytes([rent[0], rent[1], rent[2], rent[3], rent[4], rent[5], rent[6], rent[7]]);
    let threshold_bits = u64::from_le_bytes([rent[8], rent[9], rent[10], rent[11], rent[12], rent[13], rent[14], rent[15]]);
    const TWO_YEARS: u64 = 0x4000_0000_0000_0000; // 2.0f64
    if threshold_bits != TWO_YEARS {
        return None;
    }
    // 128 bytes of account metadata are charged as well (ACCOUNT_STORAGE_OVERHEAD).
    Some((128 + data_len) * per_byte_year * 2)
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    log("agenc-custody: panicked");
    unsafe { abort() }
}

// LLVM lowers copies and comparisons to these; on the Debian route there is no compiler-builtins to
// provide them, so they go to the runtime's own (cheaper than a byte loop in BPF).
#[cfg(target_os = "none")]
#[no_mangle]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    sol_memcpy_(dst, src, n as u64);
    dst
}

#[cfg(target_os = "none")]
#[no_mangle]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    sol_memmove_(dst, src, n as u64);
    dst
}

#[cfg(target_os = "none")]
#[no_mangle]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    sol_memset_(dst, c as u8, n as u64);
    dst
}

#[cfg(target_os = "none")]
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut result = 0i32;
    sol_memcmp_(a, b, n as u64, &mut result as *mut i32);
    result
}

#[cfg(target_os = "none")]
#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    memcmp(a, b, n)
}
