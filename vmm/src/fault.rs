//! What Linux does with a CPU exception raised in user mode: which signal
//! it sends, with which si_code and si_addr (arch/x86/kernel/traps.c and
//! fault.c), so a workload sees the same siginfo on every platform.

/// A signal for the application, as Linux would deliver it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal {
    pub signo: i32,
    pub code: i32,
    pub addr: u64,
}

/// si_code values (include/uapi/asm-generic/siginfo.h).
pub const SI_KERNEL: i32 = 0x80;
pub const SEGV_MAPERR: i32 = 1;
pub const SEGV_ACCERR: i32 = 2;
pub const ILL_ILLOPN: i32 = 2;
pub const FPE_INTDIV: i32 = 1;
pub const FPE_FLTDIV: i32 = 3;
pub const FPE_FLTOVF: i32 = 4;
pub const FPE_FLTUND: i32 = 5;
pub const FPE_FLTRES: i32 = 6;
pub const FPE_FLTINV: i32 = 7;
pub const TRAP_TRACE: i32 = 2;
pub const BUS_ADRALN: i32 = 1;

/// Page-fault error code bits.
pub const PF_PRESENT: u64 = 1;
pub const PF_WRITE: u64 = 2;
pub const PF_USER: u64 = 4;
pub const PF_INSTR: u64 = 16;

/// How a user-mode page fault at `addr` turns into SIGSEGV: a fault on an
/// address with no mapping is SEGV_MAPERR, one that a mapping exists for
/// but whose protection forbids the access is SEGV_ACCERR.
pub fn page_fault(addr: u64, mapped: bool) -> Signal {
    Signal {
        signo: libc::SIGSEGV,
        code: if mapped { SEGV_ACCERR } else { SEGV_MAPERR },
        addr,
    }
}

/// The signal for exception `vector` (other than #PF) raised by user code
/// at `rip`. `mxcsr` and `fsw` are the SSE and x87 status, read only for
/// the floating-point vectors. None for vectors that cannot come from user
/// mode in this guest (NMI, double fault, machine check, ...).
pub fn exception(vector: u8, rip: u64, fp_status: impl Fn() -> (u32, u16)) -> Option<Signal> {
    let sig = |signo, code, addr| Some(Signal { signo, code, addr });
    match vector {
        0 => sig(libc::SIGFPE, FPE_INTDIV, rip),
        1 => sig(libc::SIGTRAP, TRAP_TRACE, rip),
        // int3 and into: the kernel's do_trap, no address.
        3 => sig(libc::SIGTRAP, SI_KERNEL, 0),
        4 | 5 => sig(libc::SIGSEGV, SI_KERNEL, 0),
        6 => sig(libc::SIGILL, ILL_ILLOPN, rip),
        10 | 13 => sig(libc::SIGSEGV, SI_KERNEL, 0),
        11 | 12 => sig(libc::SIGBUS, SI_KERNEL, 0),
        16 => {
            let (_, fsw) = fp_status();
            sig(libc::SIGFPE, fpe_code(fsw as u32), rip)
        }
        17 => sig(libc::SIGBUS, BUS_ADRALN, 0),
        19 => {
            let (mxcsr, _) = fp_status();
            // The raised flags that are not masked.
            let raised = mxcsr & !(mxcsr >> 7) & 0x3f;
            sig(libc::SIGFPE, fpe_code(raised), rip)
        }
        _ => None,
    }
}

/// Linux's fpu__exception_code order of precedence.
fn fpe_code(err: u32) -> i32 {
    if err & 0x001 != 0 {
        FPE_FLTINV
    } else if err & 0x004 != 0 {
        FPE_FLTDIV
    } else if err & 0x008 != 0 {
        FPE_FLTOVF
    } else if err & 0x012 != 0 {
        FPE_FLTUND
    } else if err & 0x020 != 0 {
        FPE_FLTRES
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_signals() {
        let none = || (0, 0);
        assert_eq!(
            exception(13, 0x1000, none).map(|s| (s.signo, s.code, s.addr)),
            Some((libc::SIGSEGV, SI_KERNEL, 0))
        );
        assert_eq!(
            exception(6, 0x1000, none).map(|s| s.signo),
            Some(libc::SIGILL)
        );
        assert_eq!(
            exception(0, 0x1000, none).map(|s| (s.code, s.addr)),
            Some((FPE_INTDIV, 0x1000))
        );
        // Divide by zero unmasked in MXCSR (ZM clear, ZE set).
        let zm_clear = || (0x1f80 & !0x200 | 0x4, 0);
        assert_eq!(exception(19, 1, zm_clear).map(|s| s.code), Some(FPE_FLTDIV));
        assert_eq!(exception(8, 1, none), None);
        assert_eq!(page_fault(5, true).code, SEGV_ACCERR);
        assert_eq!(page_fault(5, false).code, SEGV_MAPERR);
    }
}
