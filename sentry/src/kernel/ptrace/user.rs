//! The tracee's registers as ptrace shows them: `struct user` offsets
//! (PEEKUSER/POKEUSER), and the register sets of GETREGSET/SETREGSET
//! (NT_PRSTATUS, NT_PRFPREG, NT_X86_XSTATE).

use crate::errno::{Errno, SysResult};
use crate::kernel::sigframe::USER_FLAGS;
use crate::platform::{FpRegs, Regs, USER_MAX};

/// Registers in `struct user_regs_struct`, 8 bytes each.
pub const REG_COUNT: usize = 27;
const REGS_SIZE: usize = REG_COUNT * 8;
/// offsetof(struct user, u_debugreg): debug registers read as 0.
const DEBUGREG_OFFSET: u64 = 848;
/// sizeof(struct user) on x86-64.
const USER_SIZE: u64 = 912;

/// Indices of the registers a tracer may not move freely.
const CS: usize = 17;
const EFLAGS: usize = 18;
const SS: usize = 20;
const FS_BASE: usize = 21;
const GS_BASE: usize = 22;

/// ELF note types of the register sets.
pub const NT_PRSTATUS: u64 = 1;
pub const NT_PRFPREG: u64 = 2;
pub const NT_X86_XSTATE: u64 = 0x202;
/// The XSAVE area the Sentry shows: the legacy 512 bytes and the header.
/// The platforms keep x87 and SSE state (FXSAVE), so XCR0 reads 3.
const XSTATE_SIZE: usize = 576;
const XSTATE_FEATURES: u64 = 3;
/// Where ptrace's XSAVE layout keeps XCR0 (in the legacy area's
/// software-reserved bytes), and where the XSAVE header's XSTATE_BV is.
const XCR0_OFFSET: usize = 464;
const XSTATE_BV_OFFSET: usize = 512;

fn to_words(r: &Regs) -> [u64; REG_COUNT] {
    // SAFETY: user_regs_struct is repr(C), 27 u64 fields, no padding.
    unsafe { std::mem::transmute_copy(r) }
}

fn from_words(w: &[u64; REG_COUNT]) -> Regs {
    // SAFETY: as in to_words; every bit pattern is a valid Regs.
    unsafe { std::mem::transmute_copy(w) }
}

pub fn regs_bytes(r: &Regs) -> Vec<u8> {
    to_words(r).iter().flat_map(|w| w.to_le_bytes()).collect()
}

pub fn regs_from_bytes(b: &[u8], old: &Regs) -> SysResult<Regs> {
    let mut w = to_words(old);
    for (i, c) in b.chunks_exact(8).take(REG_COUNT).enumerate() {
        let mut v = [0u8; 8];
        v.copy_from_slice(c);
        w[i] = u64::from_le_bytes(v);
    }
    sanitize(&from_words(&w), old)
}

/// The registers a tracer asked for, limited as Linux's putreg limits
/// them: segment selectors stay (the Sentry runs only 64-bit user code),
/// only user-changeable flags move, and the segment bases stay in user
/// space (EIO otherwise).
pub fn sanitize(new: &Regs, old: &Regs) -> SysResult<Regs> {
    let mut w = to_words(new);
    let o = to_words(old);
    if w[FS_BASE] >= USER_MAX || w[GS_BASE] >= USER_MAX {
        return Err(Errno(libc::EIO));
    }
    w[CS] = o[CS];
    w[SS] = o[SS];
    w[GS_BASE + 1..].copy_from_slice(&o[GS_BASE + 1..]);
    w[EFLAGS] = (o[EFLAGS] & !USER_FLAGS) | (w[EFLAGS] & USER_FLAGS);
    Ok(from_words(&w))
}

/// PTRACE_PEEKUSER at `offset`.
pub fn peek(r: &Regs, offset: u64) -> SysResult<u64> {
    if !offset.is_multiple_of(8) || offset >= USER_SIZE {
        return Err(Errno(libc::EIO));
    }
    if (offset as usize) < REGS_SIZE {
        return Ok(to_words(r)[offset as usize / 8]);
    }
    // The rest (u_fpvalid, the i387 copy, sizes, u_debugreg…) reads as 0:
    // no debug registers are armed.
    Ok(0)
}

/// PTRACE_POKEUSER at `offset`: a register, or a debug register, which
/// only takes 0 (no hardware breakpoints in the Sentry).
pub fn poke(r: &mut Regs, offset: u64, value: u64) -> SysResult<()> {
    if !offset.is_multiple_of(8) || offset >= USER_SIZE {
        return Err(Errno(libc::EIO));
    }
    if (offset as usize) < REGS_SIZE {
        let mut w = to_words(r);
        w[offset as usize / 8] = value;
        *r = sanitize(&from_words(&w), r)?;
        return Ok(());
    }
    if offset >= DEBUGREG_OFFSET && value == 0 {
        return Ok(());
    }
    Err(Errno(libc::EIO))
}

pub fn fp_bytes(fp: &FpRegs) -> Vec<u8> {
    // SAFETY: user_fpregs_struct is repr(C) plain data of 512 bytes.
    let a: [u8; 512] = unsafe { std::mem::transmute_copy(fp) };
    a.to_vec()
}

/// The FXSAVE image in `b` (at least 512 bytes), MXCSR limited to its
/// defined bits (a reserved bit would fault the platform's FXRSTOR).
pub fn fp_from_bytes(b: &[u8]) -> SysResult<FpRegs> {
    let mut a = [0u8; 512];
    a.copy_from_slice(b.get(..512).ok_or(Errno(libc::EINVAL))?);
    // SAFETY: any 512 bytes are a valid user_fpregs_struct.
    let mut fp: FpRegs = unsafe { std::mem::transmute_copy(&a) };
    fp.mxcsr &= 0xffff;
    Ok(fp)
}

/// NT_X86_XSTATE as the Sentry keeps it: the FXSAVE area, XCR0 in its
/// software bytes, and an XSAVE header saying x87 and SSE are in use.
pub fn xstate_bytes(fp: &FpRegs) -> Vec<u8> {
    let mut b = fp_bytes(fp);
    b.resize(XSTATE_SIZE, 0);
    b[XCR0_OFFSET..XCR0_OFFSET + 8].copy_from_slice(&XSTATE_FEATURES.to_le_bytes());
    b[XSTATE_BV_OFFSET..XSTATE_BV_OFFSET + 8].copy_from_slice(&XSTATE_FEATURES.to_le_bytes());
    b
}

/// The size of a register set, or EINVAL for one the Sentry does not have.
pub fn regset_size(note: u64) -> SysResult<usize> {
    match note {
        NT_PRSTATUS => Ok(REGS_SIZE),
        NT_PRFPREG => Ok(512),
        NT_X86_XSTATE => Ok(XSTATE_SIZE),
        _ => Err(Errno(libc::EINVAL)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regs() -> Regs {
        let mut w = [0u64; REG_COUNT];
        for (i, v) in w.iter_mut().enumerate() {
            *v = i as u64 + 1;
        }
        w[CS] = 0x33;
        w[SS] = 0x2b;
        w[EFLAGS] = 0x202;
        w[FS_BASE] = 0x7000;
        w[GS_BASE] = 0;
        from_words(&w)
    }

    #[test]
    fn peek_reads_registers_by_offset() {
        let r = regs();
        assert_eq!(peek(&r, 16 * 8).unwrap(), r.rip);
        assert_eq!(peek(&r, 15 * 8).unwrap(), r.orig_rax);
        assert_eq!(peek(&r, DEBUGREG_OFFSET + 8).unwrap(), 0);
        assert_eq!(peek(&r, 3).unwrap_err(), Errno(libc::EIO));
        assert_eq!(peek(&r, USER_SIZE).unwrap_err(), Errno(libc::EIO));
    }

    #[test]
    fn poke_keeps_segments_and_system_flags() {
        let mut r = regs();
        poke(&mut r, CS as u64 * 8, 0x23).unwrap();
        assert_eq!(r.cs, 0x33);
        poke(&mut r, EFLAGS as u64 * 8, 0xffff_ffff).unwrap();
        assert_eq!(r.eflags, 0x202 | USER_FLAGS);
        assert_eq!(
            poke(&mut r, FS_BASE as u64 * 8, USER_MAX).unwrap_err(),
            Errno(libc::EIO)
        );
        poke(&mut r, 10 * 8, 42).unwrap();
        assert_eq!(r.rax, 42);
        assert!(poke(&mut r, DEBUGREG_OFFSET, 1).is_err());
        poke(&mut r, DEBUGREG_OFFSET, 0).unwrap();
    }

    #[test]
    fn regs_round_trip_through_bytes() {
        let r = regs();
        let b = regs_bytes(&r);
        assert_eq!(b.len(), REGS_SIZE);
        let back = regs_from_bytes(&b, &r).unwrap();
        assert_eq!(to_words(&back), to_words(&r));
    }
}
