//! Platforms: how the workload's threads run and trap into the Sentry.
//!
//! A platform's whole job is to give the Sentry an address space it can
//! mirror its memory decisions into (map, unmap and protect ranges of the
//! memory file) and a context that runs a thread's registers until the next
//! trap. Everything else (exec, signals, fork, files) is the Sentry's.

pub mod kvm;
pub mod ptrace;
pub mod seccomp;

use std::sync::Arc;

/// The general-purpose registers of an application thread.
pub type Regs = libc::user_regs_struct;
/// The x87/SSE state of an application thread (FXSAVE layout).
pub type FpRegs = libc::user_fpregs_struct;

/// Memory protection of a mapping, as the PROT_* bits.
pub type Prot = i32;

/// Why a context stopped running application code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trap {
    /// The application executed `syscall`; the number is in `orig_rax`.
    Syscall,
    /// A synchronous fault the Sentry turns into a signal.
    Fault(Fault),
    /// Another Sentry thread asked this one to look at its signals.
    Interrupted,
}

/// A synchronous fault of the application (page fault, bad instruction…).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// The signal Linux would deliver (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP).
    pub signo: i32,
    /// The si_code Linux would report.
    pub code: i32,
    /// The faulting address (si_addr).
    pub addr: u64,
}

/// The fault of a 32-bit system call (`int 0x80`, or `sysenter`/`syscall`
/// reaching the compat entry) that stopped at its entry with `regs` as the
/// host reported them: rip past the 2-byte instruction, the number in
/// `orig_rax`. The Sentry implements only the 64-bit ABI, so it behaves as
/// Linux booted with `ia32_emulation=0` (or without IA32_EMULATION): the
/// instruction raises a general protection fault, SIGSEGV with si_code
/// SI_KERNEL and no address, with rip at the instruction and rax intact.
/// (The kvm platform gets the same from the guest's IDT, whose vector 0x80
/// user mode may not raise.) Never a 64-bit call of the same number.
pub fn legacy_syscall_fault(regs: &mut Regs) -> Trap {
    const SI_KERNEL: i32 = 0x80;
    regs.rip = regs.rip.wrapping_sub(2);
    regs.rax = regs.orig_rax;
    Trap::Fault(Fault {
        signo: libc::SIGSEGV,
        code: SI_KERNEL,
        addr: 0,
    })
}

/// In a stub freshly forked from the Sentry: unregisters the restartable
/// sequences area glibc registered for the forking thread. Once the
/// Sentry's memory is gone from the stub the kernel would fault updating
/// it. Raw system calls only (async-signal-safe).
///
/// # Safety
/// Call only in a freshly forked child, before it drops the Sentry's memory.
pub unsafe fn unregister_inherited_rseq() {
    extern "C" {
        /// glibc's registration of the current thread (offset from the
        /// thread pointer, and size; 0 when not registered).
        static __rseq_offset: isize;
        static __rseq_size: u32;
    }
    // SAFETY: the caller is a forked child; glibc's two symbols are plain
    // data, and rseq with RSEQ_FLAG_UNREGISTER only reads the area's address.
    unsafe {
        if __rseq_size == 0 {
            return;
        }
        let tp: u64;
        std::arch::asm!("mov {}, fs:0", out(reg) tp, options(nostack, readonly));
        let area = tp.wrapping_add(__rseq_offset as u64);
        const RSEQ_SIG: u32 = 0x5305_3053;
        for len in [32u32, __rseq_size] {
            if libc::syscall(libc::SYS_rseq, area, len, 1, RSEQ_SIG) == 0 {
                break;
            }
        }
    }
}

/// seccomp's and ptrace's name of the x86-64 system call ABI.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("cannot create a stub process: {0}")]
    Spawn(std::io::Error),
    #[error("ptrace {op} on stub {pid}: {err}")]
    Ptrace {
        op: &'static str,
        pid: i32,
        err: nix::errno::Errno,
    },
    #[error("stub {pid} died unexpectedly ({how})")]
    StubDied { pid: i32, how: String },
    #[error("the stub refused {op}: errno {errno}")]
    Refused { op: &'static str, errno: i32 },
    #[error("{0}")]
    Other(String),
    #[error("virtual machine: {0}")]
    Vm(String),
}

/// Interrupts a context from another thread: the running `run` returns
/// [`Trap::Interrupted`] soon (possibly spuriously later as well).
pub trait Interrupter: Send + Sync {
    fn interrupt(&self);
    /// The CPU time the thread has spent running application code, in ns,
    /// on a platform that runs it on the Sentry's own thread and measures
    /// it there (kvm: time inside KVM_RUN); None where the host charges it
    /// to a stub process the Sentry samples instead.
    fn app_cpu_ns(&self) -> Option<u64> {
        None
    }
    /// Something needs [`Interrupter::app_cpu_ns`] from now on (a timer on
    /// user time was armed): a platform that measures it only on demand
    /// starts now.
    fn measure_app_cpu(&self) {}
}

/// One application address space plus the one thread that runs in it.
///
/// The ptrace platform requires every call to come from the Sentry thread
/// that created the context (the tracer).
pub trait Context: Send {
    /// Maps `len` bytes of the memory file at `offset` to `addr`, shared.
    fn map(&mut self, addr: u64, len: u64, prot: Prot, offset: u64) -> Result<(), PlatformError>;
    /// Removes whatever is mapped in `[addr, addr+len)`.
    fn unmap(&mut self, addr: u64, len: u64) -> Result<(), PlatformError>;
    /// Changes the protection of `[addr, addr+len)`.
    fn protect(&mut self, addr: u64, len: u64, prot: Prot) -> Result<(), PlatformError>;
    /// Removes every application mapping (exec).
    fn unmap_all(&mut self) -> Result<(), PlatformError>;
    /// Runs the application with `regs` until the next trap; `regs` holds
    /// the registers at the trap when this returns.
    fn run(&mut self, regs: &mut Regs) -> Result<Trap, PlatformError>;
    /// Reads the floating-point state (for signal frames).
    fn fp_regs(&mut self) -> Result<FpRegs, PlatformError>;
    /// Replaces the floating-point state (sigreturn).
    fn set_fp_regs(&mut self, fp: &FpRegs) -> Result<(), PlatformError>;
    /// Something other threads can use to interrupt `run`.
    fn interrupter(&self) -> Arc<dyn Interrupter>;
    /// The host pid that runs this context (for `ps`).
    fn host_pid(&self) -> i32;
    /// Starts a new thread in this address space (clone with CLONE_THREAD);
    /// the new thread's own Sentry thread attaches to it with the seed.
    fn spawn_thread(&mut self) -> Result<Box<dyn ThreadSeed>, PlatformError>;
}

/// A platform thread created by [`Context::spawn_thread`], waiting to be
/// attached by the Sentry thread that will run it.
pub trait ThreadSeed: Send {
    fn attach(self: Box<Self>) -> Result<Box<dyn Context>, PlatformError>;
}

/// A way to run application threads.
pub trait Platform: Send + Sync {
    /// Creates an empty address space with one thread, on the calling thread.
    fn new_context(&self) -> Result<Box<dyn Context>, PlatformError>;
    fn name(&self) -> &'static str;
    /// The ioctl requests the platform makes once the Sentry is jailed
    /// (the jail's seccomp filter refuses every other).
    fn jailed_ioctls(&self) -> Vec<u64> {
        Vec::new()
    }
    /// Counters worth a log line when the sandbox ends (the kvm platform's
    /// exits), if the platform keeps any.
    fn stats(&self) -> Option<String> {
        let c = self.counters();
        (!c.is_empty()).then(|| {
            c.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
    }
    /// The platform's counters by name (kvm: the guest's exits by kind),
    /// for `sandbox events --stats`; empty where it keeps none.
    fn counters(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
    /// The application's TSC minus the host's, for the vDSO's clock lines;
    /// None when the two cannot be related (the vDSO then makes system
    /// calls). Host processes (ptrace, seccomp) read the host's own TSC.
    fn tsc_offset(&self) -> Option<u64> {
        Some(0)
    }
}

/// Lowest address the application may map.
pub const USER_MIN: u64 = 0x1_0000;
/// One past the highest address the application may map: what lies above
/// it (up to the top of the user address space) belongs to the platform:
/// the ptrace stub's code page; the seccomp stub's code, command pages and
/// per-thread areas.
pub const USER_MAX: u64 = 0x7fff_0000_0000;
