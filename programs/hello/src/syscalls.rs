//! The runtime's syscalls (resolved by name at load time), and the C memory functions LLVM emits
//! calls to, defined over the runtime's own mem syscalls.

extern "C" {
    fn sol_log_(message: *const u8, len: u64);
    fn sol_log_64_(a: u64, b: u64, c: u64, d: u64, e: u64);
    fn sol_memcpy_(dst: *mut u8, src: *const u8, n: u64);
    fn sol_memmove_(dst: *mut u8, src: *const u8, n: u64);
    fn sol_memset_(dst: *mut u8, value: u8, n: u64);
    fn sol_memcmp_(a: *const u8, b: *const u8, n: u64, result: *mut i32);
    /// Ends the program with an error ("ProgramFailedToComplete").
    pub fn abort() -> !;
}

pub fn log(message: &str) {
    unsafe { sol_log_(message.as_ptr(), message.len() as u64) }
}

pub fn log_u64(value: u64) {
    unsafe { sol_log_64_(0, 0, 0, 0, value) }
}

#[no_mangle]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    sol_memcpy_(dst, src, n as u64);
    dst
}

#[no_mangle]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    sol_memmove_(dst, src, n as u64);
    dst
}

#[no_mangle]
pub unsafe extern "C" fn memset(dst: *mut u8, value: i32, n: usize) -> *mut u8 {
    sol_memset_(dst, value as u8, n as u64);
    dst
}

#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut result = 0i32;
    sol_memcmp_(a, b, n as u64, &mut result);
    result
}

#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    memcmp(a, b, n)
}
