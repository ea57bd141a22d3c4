//! The loader's serialized input (the aligned layout of BPFLoaderUpgradeable), read in place: account
//! handles point into the input region, so writing lamports or data through them is what the runtime
//! sees when the instruction returns. Kept as offsets, not copies: the BPF stack frame is 512 bytes.

pub const MAX_ACCOUNTS: usize = 24;
/// Space the runtime leaves after each account's data for it to grow (MAX_PERMITTED_DATA_INCREASE).
const REALLOC_PADDING: usize = 10 * 1024;

#[derive(Clone, Copy)]
pub struct Account {
    /// The account's header in the input: dup marker, is_signer, is_writable, executable, 4 bytes, key, owner, lamports, data_len, data.
    header: *mut u8,
}

impl Account {
    pub fn is_signer(&self) -> bool {
        unsafe { *self.header.add(1) != 0 }
    }
    pub fn is_writable(&self) -> bool {
        unsafe { *self.header.add(2) != 0 }
    }
    pub fn key(&self) -> &[u8; 32] {
        unsafe { &*(self.header.add(8) as *const [u8; 32]) }
    }
    pub fn owner(&self) -> &[u8; 32] {
        unsafe { &*(self.header.add(40) as *const [u8; 32]) }
    }
    pub fn lamports(&self) -> u64 {
        unsafe { core::ptr::read_unaligned(self.header.add(72) as *const u64) }
    }
    pub fn set_lamports(&self, lamports: u64) {
        unsafe { core::ptr::write_unaligned(self.header.add(72) as *mut u64, lamports) }
    }
    pub fn data_len(&self) -> usize {
        unsafe { core::ptr::read_unaligned(self.header.add(80) as *const u64) as usize }
    }
    pub fn data(&self) -> &mut [u8] {
        unsafe { core::slice::from_raw_parts_mut(self.header.add(88), self.data_len()) }
    }
    pub fn same(&self, other: &Account) -> bool {
        self.key() == other.key()
    }
}

pub struct Input {
    pub accounts: [Account; MAX_ACCOUNTS],
    pub count: usize,
    pub data: &'static [u8],
    pub program_id: &'static [u8; 32],
}

/// Reads the input into `out`; false when it holds more accounts than MAX_ACCOUNTS.
/// SAFETY: `input` is the loader's input region; `out` may be uninitialised (it is written, field by field,
/// before any of it is read; only the first `count` accounts are).
pub unsafe fn parse(input: *mut u8, out: *mut Input) -> bool {
    let accounts = core::ptr::addr_of_mut!((*out).accounts) as *mut Account;
    {
        let mut offset = 0usize;
        let count = core::ptr::read_unaligned(input as *const u64) as usize;
        offset += 8;
        if count > MAX_ACCOUNTS {
            return false;
        }
        let mut i = 0;
        while i < count {
            let dup = *input.add(offset);
            if dup != 0xff {
                // A duplicate: the same account as an earlier position.
                accounts.add(i).write(accounts.add(dup as usize).read());
                offset += 8;
            } else {
                let header = input.add(offset);
                accounts.add(i).write(Account { header });
                let data_len = core::ptr::read_unaligned(header.add(80) as *const u64) as usize;
                offset += 88 + data_len + REALLOC_PADDING;
                offset = (offset + 7) & !7;
                offset += 8; // rent_epoch
            }
            i += 1;
        }
        core::ptr::addr_of_mut!((*out).count).write(count);
        let data_len = core::ptr::read_unaligned(input.add(offset) as *const u64) as usize;
        offset += 8;
        core::ptr::addr_of_mut!((*out).data).write(core::slice::from_raw_parts(input.add(offset), data_len));
        offset += data_len;
        core::ptr::addr_of_mut!((*out).program_id).write(&*(input.add(offset) as *const [u8; 32]));
        true
    }
}

impl Account {
    /// A placeholder before an account is read from the input.
    pub const fn null() -> Account {
        Account { header: core::ptr::null_mut() }
    }
}
