//! The signal frame: what Linux x86-64 pushes on the user stack before a
//! handler runs (struct rt_sigframe), and rt_sigreturn, which undoes it.
//!
//! Layout from the frame's base: the return address (sa_restorer), the
//! ucontext (flags, link, stack_t, sigcontext, signal mask), the siginfo,
//! then, 64-byte aligned above it, the FXSAVE image of the FPU state.

use super::signal::{SigAction, SigInfo, SA_ONSTACK, SA_SIGINFO};
use super::task::Task;
use crate::errno::{Errno, SysResult};
use crate::platform::FpRegs;

/// The flags user code may change (CF PF AF ZF SF TF DF OF AC): what
/// sigreturn and a tracer's register writes may set.
pub const USER_FLAGS: u64 = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x40000;

const UC_OFF: u64 = 8;
const UC_STACK_OFF: u64 = UC_OFF + 16;
const MCONTEXT_OFF: u64 = UC_OFF + 40;
const SIGMASK_OFF: u64 = MCONTEXT_OFF + 256;
const INFO_OFF: u64 = SIGMASK_OFF + 8;
const FRAME_SIZE: u64 = INFO_OFF + 128;
const FP_SIZE: u64 = 512;

/// The sigcontext registers in Linux's order.
fn mcontext(t: &Task, fp_addr: u64, old_mask: u64) -> [u64; 32] {
    let r = &t.regs;
    let mut m = [0u64; 32];
    let vals = [
        r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, r.rdi, r.rsi, r.rbp, r.rbx, r.rdx,
        r.rax, r.rcx, r.rsp, r.rip, r.eflags,
    ];
    m[..18].copy_from_slice(&vals);
    // cs, gs, fs, ss packed as four u16.
    m[18] = (r.cs & 0xffff) | ((r.ss & 0xffff) << 48);
    m[19] = 0; // err
    m[20] = 0; // trapno
    m[21] = old_mask;
    m[22] = 0; // cr2
    m[23] = fp_addr;
    m
}

/// Builds the frame for `info` and points the registers at the handler.
pub fn setup(t: &mut Task, info: &SigInfo, action: &SigAction, old_mask: u64) -> SysResult<()> {
    let (ss_sp, ss_flags, ss_size) = t.altstack;
    // Whether an address lies on the alternate stack, as Linux's
    // on_sig_stack reads it: the thread is on it when its stack pointer is.
    let on_stack = |a: u64| {
        ss_flags & libc::SS_DISABLE == 0 && ss_size > 0 && a > ss_sp && a - ss_sp <= ss_size
    };
    let on_alt = on_stack(t.regs.rsp);
    let entering = action.flags & SA_ONSTACK != 0
        && ss_flags & libc::SS_DISABLE == 0
        && !on_alt
        && ss_size > 0;
    let mut sp = t.regs.rsp;
    if entering {
        sp = ss_sp.checked_add(ss_size).ok_or(Errno(libc::EFAULT))?;
    } else {
        sp = sp.checked_sub(128).ok_or(Errno(libc::EFAULT))?; // the red zone
    }
    let fp = t.ctx.fp_regs().map_err(|_| Errno(libc::EFAULT))?;
    let fp_addr = (sp.checked_sub(FP_SIZE).ok_or(Errno(libc::EFAULT))?) & !63;
    let frame = (fp_addr.checked_sub(FRAME_SIZE).ok_or(Errno(libc::EFAULT))? & !15)
        .checked_sub(8)
        .ok_or(Errno(libc::EFAULT))?;
    // A frame that would leave the alternate stack (a handler that nested
    // or recursed down to its bottom) is not built: the caller kills the
    // thread group with SIGSEGV, as Linux's get_sigframe refuses it, rather
    // than writing below the stack or starting again from its top.
    if (on_alt || entering) && !on_stack(frame) {
        return Err(Errno(libc::EFAULT));
    }

    // SAFETY: FpRegs is plain data of FP_SIZE bytes.
    let fp_bytes: [u8; 512] = unsafe { std::mem::transmute_copy(&fp) };
    t.mm.write(fp_addr, &fp_bytes)?;
    let mut buf = vec![0u8; FRAME_SIZE as usize];
    buf[0..8].copy_from_slice(&action.restorer.to_le_bytes());
    // uc_flags = 0, uc_link = 0; then stack_t.
    let st = UC_STACK_OFF as usize;
    buf[st..st + 8].copy_from_slice(&ss_sp.to_le_bytes());
    let saved_flags = if on_alt { libc::SS_ONSTACK } else { ss_flags };
    buf[st + 8..st + 12].copy_from_slice(&saved_flags.to_le_bytes());
    buf[st + 16..st + 24].copy_from_slice(&ss_size.to_le_bytes());
    for (i, w) in mcontext(t, fp_addr, old_mask).iter().enumerate() {
        let o = MCONTEXT_OFF as usize + i * 8;
        buf[o..o + 8].copy_from_slice(&w.to_le_bytes());
    }
    let so = SIGMASK_OFF as usize;
    buf[so..so + 8].copy_from_slice(&old_mask.to_le_bytes());
    let io = INFO_OFF as usize;
    buf[io..io + 128].copy_from_slice(&info.as_bytes());
    t.mm.write(frame, &buf)?;

    t.regs.rsp = frame;
    t.regs.rip = action.handler;
    t.regs.rdi = info.signo as u64;
    if action.flags & SA_SIGINFO != 0 {
        t.regs.rsi = frame + INFO_OFF;
        t.regs.rdx = frame + UC_OFF;
    } else {
        t.regs.rsi = 0;
        t.regs.rdx = 0;
    }
    t.regs.rax = 0;
    // Clear the direction and trap flags as the kernel does.
    t.regs.eflags &= !(0x400 | 0x100);
    Ok(())
}

/// rt_sigreturn: restores the registers, FPU state and mask from the frame
/// whose return address the handler just popped.
pub fn sigreturn(t: &mut Task) -> SysResult<u64> {
    let frame = t.regs.rsp.wrapping_sub(8);
    let mut buf = vec![0u8; FRAME_SIZE as usize];
    t.mm.read(frame, &mut buf)?;
    let word = |o: u64| -> u64 {
        let o = o as usize;
        let mut a = [0u8; 8];
        a.copy_from_slice(&buf[o..o + 8]);
        u64::from_le_bytes(a)
    };
    let m = |i: u64| word(MCONTEXT_OFF + i * 8);
    let r = &mut t.regs;
    r.r8 = m(0);
    r.r9 = m(1);
    r.r10 = m(2);
    r.r11 = m(3);
    r.r12 = m(4);
    r.r13 = m(5);
    r.r14 = m(6);
    r.r15 = m(7);
    r.rdi = m(8);
    r.rsi = m(9);
    r.rbp = m(10);
    r.rbx = m(11);
    r.rdx = m(12);
    r.rax = m(13);
    r.rcx = m(14);
    r.rsp = m(15);
    r.rip = m(16);
    r.eflags = (r.eflags & !USER_FLAGS) | (m(17) & USER_FLAGS);
    r.orig_rax = u64::MAX;
    let fp_addr = m(23);
    if fp_addr != 0 {
        let mut fp_bytes = [0u8; 512];
        t.mm.read(fp_addr, &mut fp_bytes)?;
        // SAFETY: FpRegs is plain data of exactly 512 bytes.
        let mut fp: FpRegs = unsafe { std::mem::transmute_copy(&fp_bytes) };
        // Reserved MXCSR bits would make the host reject the state.
        fp.mxcsr &= 0xffff;
        let _ = t.ctx.set_fp_regs(&fp);
    }
    let mask = word(SIGMASK_OFF);
    t.set_mask(mask);
    Err(Errno::EJUSTRETURN)
}
