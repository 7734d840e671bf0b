//! A stub process: the host process whose address space and single thread
//! run one application process under `PTRACE_SYSEMU`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use nix::sys::ptrace;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};

use super::inject::{self, KICK_SIGNAL};
use super::STUB_PAGE;
use crate::platform::{
    Context, Fault, FpRegs, Interrupter, PlatformError, Prot, Regs, ThreadSeed, Trap,
    AUDIT_ARCH_X86_64, USER_MAX,
};

const PAGE: u64 = 4096;
/// Top of the x86-64 user address space (TASK_SIZE).
const TASK_SIZE: u64 = 0x7fff_ffff_f000;

std::arch::global_asm!(
    ".pushsection .text.sandbox_gadget, \"ax\"",
    ".globl sandbox_syscall_gadget",
    "sandbox_syscall_gadget:",
    "syscall",
    "int3",
    ".popsection",
);

extern "C" {
    /// `syscall; int3` in the Sentry's own text: stubs are forked from the
    /// Sentry, so it exists at the same address in a new stub until the stub
    /// has a gadget page of its own.
    fn sandbox_syscall_gadget();
}

/// The code of the stub page, padded with `int3`:
/// - offset 0, the syscall gadget: `syscall; int3`;
/// - offset 16, the clone gadget: `syscall; test rax, rax; jz 1f; int3;
///   1: jmp 1b` — the caller traps back to the Sentry, the new thread spins
///   in place until its own Sentry thread attaches to it.
const STUB_CODE: [u8; 32] = [
    0x0f, 0x05, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc,
    0xcc, //
    0x0f, 0x05, 0x48, 0x85, 0xc0, 0x74, 0x01, 0xcc, 0xeb, 0xfe, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc,
];
/// Where the clone gadget starts in the stub page.
const CLONE_GADGET: u64 = 16;
/// The clone flags of a new stub thread (a thread of the same process).
const THREAD_FLAGS: u64 = (libc::CLONE_VM
    | libc::CLONE_FS
    | libc::CLONE_FILES
    | libc::CLONE_SIGHAND
    | libc::CLONE_THREAD
    | libc::CLONE_SYSVSEM) as u64;

/// The seccomp filter every stub runs under: the few calls the Sentry injects
/// (and the stop that hands the new stub to its tracer). The application's
/// own system calls never reach it: PTRACE_SYSEMU skips them before seccomp.
fn stub_filter() -> Result<BpfProgram, PlatformError> {
    let allowed = [
        libc::SYS_mmap,
        libc::SYS_munmap,
        libc::SYS_mprotect,
        libc::SYS_close_range,
        libc::SYS_getpid,
        libc::SYS_kill,
        libc::SYS_exit,
        libc::SYS_exit_group,
    ];
    let mut rules: BTreeMap<i64, Vec<seccompiler::SeccompRule>> =
        allowed.iter().map(|&nr| (nr, vec![])).collect();
    let thread_only = seccompiler::SeccompCondition::new(
        0,
        seccompiler::SeccompCmpArgLen::Qword,
        seccompiler::SeccompCmpOp::Eq,
        THREAD_FLAGS,
    )
    .and_then(|c| seccompiler::SeccompRule::new(vec![c]))
    .map_err(|e| PlatformError::Other(format!("stub seccomp filter: {e}")))?;
    rules.insert(libc::SYS_clone, vec![thread_only]);
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::KillProcess,
        SeccompAction::Allow,
        TargetArch::x86_64,
    )
    .map_err(|e| PlatformError::Other(format!("stub seccomp filter: {e}")))?;
    BpfProgram::try_from(filter)
        .map_err(|e| PlatformError::Other(format!("stub seccomp filter: {e}")))
}

/// What another thread needs to interrupt a running stub thread.
struct Kicker {
    tgid: Pid,
    tid: Pid,
    /// False once the stub is being reaped, so a late kick never reaches a
    /// recycled pid.
    alive: Mutex<bool>,
}

impl Interrupter for Kicker {
    fn interrupt(&self) {
        let alive = self.alive.lock().unwrap_or_else(|p| p.into_inner());
        if *alive {
            // SAFETY: tgkill with plain integers; the pair names our own stub
            // thread, which cannot have been reaped while `alive` holds.
            unsafe {
                libc::syscall(
                    libc::SYS_tgkill,
                    self.tgid.as_raw(),
                    self.tid.as_raw(),
                    KICK_SIGNAL as i32,
                )
            };
        }
    }
}

/// One traced stub thread: the first thread of a stub process (the
/// leader, which owns the process) or a thread added for an application
/// thread.
pub struct StubContext {
    /// The stub process.
    tgid: Pid,
    /// This thread of it.
    tid: Pid,
    /// Whether this is the stub process's first thread: its context is
    /// dropped last, and dropping it kills the whole stub.
    leader: bool,
    /// The memory file's descriptor number, the same in the stub.
    memfd: i32,
    gadget: u64,
    kicked: bool,
    kicker: Arc<Kicker>,
}

/// Runs in the forked child: async-signal-safe raw system calls only.
///
/// # Safety
/// Must be called only in a freshly forked child; it never returns.
unsafe fn stub_child(filter: &libc::sock_fprog) -> ! {
    // SAFETY (whole body): plain system calls on constant or stack arguments.
    libc::syscall(libc::SYS_prctl, libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    let empty: libc::sigset_t = std::mem::zeroed();
    libc::syscall(
        libc::SYS_rt_sigprocmask,
        libc::SIG_SETMASK,
        &empty as *const _,
        0usize,
        8usize,
    );
    crate::platform::unregister_inherited_rseq();
    libc::syscall(libc::SYS_ptrace, libc::PTRACE_TRACEME, 0, 0, 0);
    libc::syscall(libc::SYS_prctl, libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if libc::syscall(
        libc::SYS_seccomp,
        libc::SECCOMP_SET_MODE_FILTER,
        0,
        filter as *const _,
    ) != 0
    {
        libc::syscall(libc::SYS_exit_group, 125);
    }
    let me = libc::syscall(libc::SYS_getpid);
    libc::syscall(libc::SYS_kill, me, libc::SIGSTOP);
    // The tracer rewrites our registers before we ever get here.
    libc::syscall(libc::SYS_exit_group, 126);
    libc::_exit(126)
}

impl StubContext {
    /// Forks a new stub from the calling Sentry thread (which becomes its
    /// tracer), strips its address space down to the gadget page and closes
    /// every descriptor but the memory file.
    pub fn spawn(memfd: i32) -> Result<StubContext, PlatformError> {
        let program = stub_filter()?;
        let fprog = libc::sock_fprog {
            len: program.len() as u16,
            filter: program.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: the child runs only raw system calls (stub_child) and never
        // returns into Rust code that could touch state copied mid-update.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(PlatformError::Spawn(std::io::Error::last_os_error()));
        }
        if pid == 0 {
            // SAFETY: we are the freshly forked child.
            unsafe { stub_child(&fprog) }
        }
        let pid = Pid::from_raw(pid);
        let mut stub = StubContext {
            tgid: pid,
            tid: pid,
            leader: true,
            memfd,
            gadget: sandbox_syscall_gadget as *const () as u64,
            kicked: false,
            kicker: Arc::new(Kicker {
                tgid: pid,
                tid: pid,
                alive: Mutex::new(true),
            }),
        };
        match inject::wait_stop(pid)? {
            WaitStatus::Stopped(_, Signal::SIGSTOP) => {}
            other => {
                return Err(PlatformError::Other(format!(
                    "new stub {pid} stopped unexpectedly: {other:?}"
                )))
            }
        }
        let opts = ptrace::Options::PTRACE_O_TRACESYSGOOD | ptrace::Options::PTRACE_O_EXITKILL;
        ptrace::setoptions(pid, opts).map_err(|err| PlatformError::Ptrace {
            op: "SETOPTIONS",
            pid: pid.as_raw(),
            err,
        })?;
        stub.install_gadget_page()?;
        stub.strip(memfd)?;
        Ok(stub)
    }

    fn call(&mut self, op: &'static str, nr: i64, args: &[u64]) -> Result<u64, PlatformError> {
        let (ret, kicked) = inject::syscall(self.tid, self.gadget, nr, args)?;
        self.kicked |= kicked;
        if (-4095..0).contains(&ret) {
            return Err(PlatformError::Refused {
                op,
                errno: (-ret) as i32,
            });
        }
        Ok(ret as u64)
    }

    fn poke(&self, addr: u64, word: i64) -> Result<(), PlatformError> {
        ptrace::write(self.tid, addr as ptrace::AddressType, word).map_err(|err| {
            PlatformError::Ptrace {
                op: "POKEDATA",
                pid: self.tid.as_raw(),
                err,
            }
        })
    }

    fn install_gadget_page(&mut self) -> Result<(), PlatformError> {
        let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED) as u64;
        let rw = (libc::PROT_READ | libc::PROT_WRITE) as u64;
        self.call(
            "mmap stub page",
            libc::SYS_mmap,
            &[STUB_PAGE, PAGE, rw, flags, u64::MAX, 0],
        )?;
        for (i, chunk) in STUB_CODE.chunks_exact(8).enumerate() {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            self.poke(STUB_PAGE + 8 * i as u64, i64::from_le_bytes(w))?;
        }
        let rx = (libc::PROT_READ | libc::PROT_EXEC) as u64;
        self.call(
            "mprotect stub page",
            libc::SYS_mprotect,
            &[STUB_PAGE, PAGE, rx],
        )?;
        self.gadget = STUB_PAGE;
        Ok(())
    }

    /// Unmaps everything the fork copied from the Sentry and closes every
    /// descriptor but the memory file.
    fn strip(&mut self, memfd: i32) -> Result<(), PlatformError> {
        self.unmap_all()?;
        let memfd = memfd as u64;
        if memfd > 0 {
            self.call("close_range", libc::SYS_close_range, &[0, memfd - 1, 0])?;
        }
        self.call(
            "close_range",
            libc::SYS_close_range,
            &[memfd + 1, u32::MAX as u64, 0],
        )?;
        Ok(())
    }

    /// Whether the system call the stub stopped at is a 64-bit one.
    /// `syscall` leaves the return address in rcx and the flags in r11, so
    /// registers that show both are taken as one without asking the kernel
    /// (a program that sets them up by hand before `int 0x80` gets its
    /// call read as the 64-bit call it could have made with `syscall`).
    /// Anything else, `int 0x80` included, is settled by the kernel's
    /// record of the call's ABI.
    fn is_syscall_abi(&self, regs: &Regs) -> Result<bool, PlatformError> {
        if regs.rcx == regs.rip && regs.r11 == regs.eflags {
            return Ok(true);
        }
        Ok(self.syscall_arch()? == AUDIT_ARCH_X86_64)
    }

    /// The ABI of the system call the stub stopped at, from the kernel's
    /// record (`int 0x80` stops like `syscall`).
    fn syscall_arch(&self) -> Result<u32, PlatformError> {
        // The record's first 8 bytes: op (u8), padding, arch (u32 at 4).
        let mut head = [0u8; 8];
        // SAFETY: PTRACE_GET_SYSCALL_INFO writes at most `addr` (8) bytes
        // into the buffer `data` points at.
        let r = unsafe {
            libc::ptrace(
                libc::PTRACE_GET_SYSCALL_INFO,
                self.tid.as_raw(),
                head.len(),
                head.as_mut_ptr(),
            )
        };
        if r < 0 {
            return Err(PlatformError::Ptrace {
                op: "GET_SYSCALL_INFO",
                pid: self.tid.as_raw(),
                err: nix::errno::Errno::last(),
            });
        }
        Ok(u32::from_ne_bytes([head[4], head[5], head[6], head[7]]))
    }

    fn fault_from_siginfo(&self, signo: i32) -> Result<Fault, PlatformError> {
        let info = ptrace::getsiginfo(self.tid).map_err(|err| PlatformError::Ptrace {
            op: "GETSIGINFO",
            pid: self.tid.as_raw(),
            err,
        })?;
        // SAFETY: for the fault signals handled here the kernel filled the
        // si_addr member of the union.
        let addr = unsafe { info.si_addr() } as u64;
        Ok(Fault {
            signo,
            code: info.si_code,
            addr,
        })
    }
}

impl Context for StubContext {
    fn map(&mut self, addr: u64, len: u64, prot: Prot, offset: u64) -> Result<(), PlatformError> {
        let flags = (libc::MAP_SHARED | libc::MAP_FIXED) as u64;
        // The stub's descriptor for the memory file has the Sentry's number.
        let memfd = self.memfd as u64;
        self.call(
            "mmap",
            libc::SYS_mmap,
            &[addr, len, prot as u64, flags, memfd, offset],
        )
        .map(|_| ())
    }

    fn unmap(&mut self, addr: u64, len: u64) -> Result<(), PlatformError> {
        self.call("munmap", libc::SYS_munmap, &[addr, len])
            .map(|_| ())
    }

    fn protect(&mut self, addr: u64, len: u64, prot: Prot) -> Result<(), PlatformError> {
        self.call("mprotect", libc::SYS_mprotect, &[addr, len, prot as u64])
            .map(|_| ())
    }

    fn unmap_all(&mut self) -> Result<(), PlatformError> {
        self.call("munmap", libc::SYS_munmap, &[0, STUB_PAGE])?;
        self.call(
            "munmap",
            libc::SYS_munmap,
            &[STUB_PAGE + PAGE, TASK_SIZE - STUB_PAGE - PAGE],
        )?;
        Ok(())
    }

    fn run(&mut self, regs: &mut Regs) -> Result<Trap, PlatformError> {
        if std::mem::take(&mut self.kicked) {
            return Ok(Trap::Interrupted);
        }
        inject::set_regs(self.tid, regs)?;
        loop {
            ptrace::sysemu(self.tid, None).map_err(|err| PlatformError::Ptrace {
                op: "SYSEMU",
                pid: self.tid.as_raw(),
                err,
            })?;
            let status = inject::wait_stop(self.tid)?;
            let trap = match status {
                WaitStatus::PtraceSyscall(_) => {
                    *regs = inject::get_regs(self.tid)?;
                    if !self.is_syscall_abi(regs)? {
                        return Ok(crate::platform::legacy_syscall_fault(regs));
                    }
                    return Ok(Trap::Syscall);
                }
                WaitStatus::Stopped(_, sig) if sig == KICK_SIGNAL => Trap::Interrupted,
                WaitStatus::Stopped(
                    _,
                    sig @ (Signal::SIGSEGV
                    | Signal::SIGBUS
                    | Signal::SIGILL
                    | Signal::SIGFPE
                    | Signal::SIGTRAP),
                ) => Trap::Fault(self.fault_from_siginfo(sig as i32)?),
                // Any other host signal (none should reach a stub) is dropped.
                _ => continue,
            };
            *regs = inject::get_regs(self.tid)?;
            return Ok(trap);
        }
    }

    fn fp_regs(&mut self) -> Result<FpRegs, PlatformError> {
        // SAFETY: user_fpregs_struct is plain data; zero is a valid value.
        let mut fp: FpRegs = unsafe { std::mem::zeroed() };
        // SAFETY: PTRACE_GETFPREGS writes exactly one user_fpregs_struct.
        let r = unsafe {
            libc::ptrace(
                libc::PTRACE_GETFPREGS,
                self.tid.as_raw(),
                0,
                &mut fp as *mut FpRegs,
            )
        };
        if r < 0 {
            return Err(PlatformError::Ptrace {
                op: "GETFPREGS",
                pid: self.tid.as_raw(),
                err: nix::errno::Errno::last(),
            });
        }
        Ok(fp)
    }

    fn set_fp_regs(&mut self, fp: &FpRegs) -> Result<(), PlatformError> {
        // SAFETY: PTRACE_SETFPREGS reads exactly one user_fpregs_struct.
        let r = unsafe {
            libc::ptrace(
                libc::PTRACE_SETFPREGS,
                self.tid.as_raw(),
                0,
                fp as *const FpRegs,
            )
        };
        if r < 0 {
            return Err(PlatformError::Ptrace {
                op: "SETFPREGS",
                pid: self.tid.as_raw(),
                err: nix::errno::Errno::last(),
            });
        }
        Ok(())
    }

    fn interrupter(&self) -> Arc<dyn Interrupter> {
        self.kicker.clone()
    }

    fn host_pid(&self) -> i32 {
        self.tid.as_raw()
    }

    fn spawn_thread(&mut self) -> Result<Box<dyn ThreadSeed>, PlatformError> {
        let (ret, kicked) = inject::syscall(
            self.tid,
            STUB_PAGE + CLONE_GADGET,
            libc::SYS_clone,
            &[THREAD_FLAGS, 0, 0, 0, 0],
        )?;
        self.kicked |= kicked;
        if ret <= 0 {
            return Err(PlatformError::Refused {
                op: "clone",
                errno: (-ret) as i32,
            });
        }
        Ok(Box::new(StubThreadSeed {
            tgid: self.tgid,
            tid: Pid::from_raw(ret as i32),
            memfd: self.memfd,
        }))
    }
}

/// A new stub thread, spinning in the clone gadget until attached.
struct StubThreadSeed {
    tgid: Pid,
    tid: Pid,
    memfd: i32,
}

impl ThreadSeed for StubThreadSeed {
    /// Attaches the calling Sentry thread to the new stub thread as its
    /// tracer (PTRACE_SEIZE, then PTRACE_INTERRUPT to stop it).
    fn attach(self: Box<Self>) -> Result<Box<dyn Context>, PlatformError> {
        let tid = self.tid;
        let perr = |op: &'static str| {
            move |err| PlatformError::Ptrace {
                op,
                pid: tid.as_raw(),
                err,
            }
        };
        let opts = ptrace::Options::PTRACE_O_TRACESYSGOOD | ptrace::Options::PTRACE_O_EXITKILL;
        ptrace::seize(tid, opts).map_err(perr("SEIZE"))?;
        ptrace::interrupt(tid).map_err(perr("INTERRUPT"))?;
        loop {
            match inject::wait_stop(tid)? {
                WaitStatus::PtraceEvent(_, _, ev) if ev == libc::PTRACE_EVENT_STOP => break,
                // A kick that raced the attach: swallow it and keep waiting.
                WaitStatus::Stopped(_, _) => ptrace::cont(tid, None).map_err(perr("CONT"))?,
                other => {
                    return Err(PlatformError::Other(format!(
                        "new stub thread {tid} stopped unexpectedly: {other:?}"
                    )))
                }
            }
        }
        Ok(Box::new(StubContext {
            tgid: self.tgid,
            tid,
            leader: false,
            memfd: self.memfd,
            gadget: STUB_PAGE,
            kicked: false,
            kicker: Arc::new(Kicker {
                tgid: self.tgid,
                tid,
                alive: Mutex::new(true),
            }),
        }))
    }
}

impl Drop for StubContext {
    fn drop(&mut self) {
        let mut alive = self.kicker.alive.lock().unwrap_or_else(|p| p.into_inner());
        *alive = false;
        if self.leader {
            // The last context of the stub process: the whole stub goes.
            let _ = kill(self.tgid, Signal::SIGKILL);
            let _ = waitpid(self.tid, Some(WaitPidFlag::__WALL));
        } else if inject::syscall(self.tid, self.gadget, libc::SYS_exit, &[0]).is_ok() {
            // exit(2) of one thread never returns; if it did, kill the stub.
            let _ = kill(self.tgid, Signal::SIGKILL);
            let _ = waitpid(self.tid, Some(WaitPidFlag::__WALL));
        }
    }
}

const _: () = assert!(STUB_PAGE == USER_MAX);
