//! A seccomp-platform context: one stub thread, driven through its command
//! page and reporting through its state page and signal frame.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::handoff::{self, Budget};
use super::layout::*;
use super::process::StubProcess;
use super::stub::{KICK_SIGNAL, STUB_MASK};
use crate::platform::{
    Context, Fault, FpRegs, Interrupter, PlatformError, Prot, Regs, ThreadSeed, Trap,
    AUDIT_ARCH_X86_64, USER_MAX,
};

/// How often a sleeping Sentry thread checks that its stub still lives.
const LIVENESS_TICK: Duration = Duration::from_millis(100);
/// A stub thread that leaves an interrupt unanswered this long while it
/// runs has had its signal plumbing corrupted by the application: its
/// whole process is killed.
const KICK_GRACE: Duration = Duration::from_secs(2);
/// Bytes of the legacy (FXSAVE) part of the signal frame's FPU state.
const FXSAVE_LEN: u64 = 512;
/// FP_XSTATE_MAGIC1, in the FXSAVE area's software-reserved bytes when the
/// frame holds an XSAVE image.
const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;

fn futex(word: &AtomicU32, op: i32, val: u32, timeout: Option<Duration>) {
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let tsp = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: a futex call on a word of a live shared mapping; shared (not
    // PRIVATE) because the stub waits on the same file page.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), op, val, tsp, 0usize, 0u32) };
}

fn monotonic_ns() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64 + 1
}

/// What other Sentry threads use to interrupt a running stub thread.
struct Kicker {
    tgid: i32,
    tid: i32,
    /// False once the thread is gone, so a late kick never reaches a
    /// recycled tid.
    alive: Mutex<bool>,
    /// When the oldest unanswered kick was sent (0: none).
    since: AtomicU64,
}

impl Interrupter for Kicker {
    fn interrupt(&self) {
        let alive = self.alive.lock().unwrap_or_else(|p| p.into_inner());
        if *alive {
            let _ =
                self.since
                    .compare_exchange(0, monotonic_ns(), Ordering::SeqCst, Ordering::SeqCst);
            // SAFETY: tgkill with plain integers naming our own stub thread,
            // which cannot have been reaped while `alive` holds.
            unsafe { libc::syscall(libc::SYS_tgkill, self.tgid, self.tid, KICK_SIGNAL) };
        }
    }
}

pub struct SeccompContext {
    proc: Arc<StubProcess>,
    /// This thread's area.
    idx: u64,
    tid: i32,
    /// The last state sequence number the Sentry consumed.
    seen: u32,
    kicker: Arc<Kicker>,
    /// The current signal frame, in the Sentry's mapping (validated).
    uctx: *mut UContext,
    /// How long the Sentry waits actively for a report, and how long the
    /// stub does for a command (handoff.rs); whether the last post had to
    /// wake the stub; when the last report came (the Sentry's service time,
    /// which the stub's budget follows, runs from there to the next post).
    report_budget: Budget,
    stub_budget: Budget,
    woke_stub: bool,
    reported_at: Instant,
}

// SAFETY: `uctx` points into the stub file mapping that `proc` keeps alive;
// the context is used by one Sentry thread at a time.
unsafe impl Send for SeccompContext {}

impl SeccompContext {
    /// The first thread of a new stub process.
    pub fn spawn(memfd: i32) -> Result<SeccompContext, PlatformError> {
        let proc = Arc::new(StubProcess::spawn(memfd)?);
        let pid = proc.pid;
        SeccompContext::attach(proc, 0, pid)
    }

    /// Waits for the boot report of the stub thread on area `idx`.
    fn attach(proc: Arc<StubProcess>, idx: u64, tid: i32) -> Result<SeccompContext, PlatformError> {
        let mut ctx = SeccompContext {
            kicker: Arc::new(Kicker {
                tgid: proc.pid,
                tid,
                alive: Mutex::new(true),
                since: AtomicU64::new(0),
            }),
            proc,
            idx,
            tid,
            seen: 0,
            uctx: std::ptr::null_mut(),
            report_budget: Budget::new(),
            stub_budget: Budget::new(),
            woke_stub: false,
            reported_at: Instant::now(),
        };
        ctx.await_report()?;
        ctx.load_frame()?;
        Ok(ctx)
    }

    fn cmd(&self) -> *mut Command {
        self.proc.cmd(self.idx)
    }

    fn state(&self) -> &State {
        // SAFETY: the state page lives as long as `proc`; State's fields
        // that the stub writes concurrently are read atomically or volatile.
        unsafe { &*self.proc.state(self.idx) }
    }

    /// Posts a command and wakes the stub thread if it sleeps.
    fn post(&mut self, op: u64, nr: u64, args: [u64; 6], bases: (u64, u64)) {
        self.stub_budget.update(self.reported_at.elapsed());
        let (spin, yields) = self.stub_budget.stub_counts();
        let cmd = self.cmd();
        // SAFETY: the command page is ours to write; the stub only reads it,
        // and only after the sequence bump below.
        unsafe {
            std::ptr::write_volatile(&raw mut (*cmd).op, op);
            std::ptr::write_volatile(&raw mut (*cmd).nr, nr);
            std::ptr::write_volatile(&raw mut (*cmd).args, args);
            std::ptr::write_volatile(&raw mut (*cmd).fs_base, bases.0);
            std::ptr::write_volatile(&raw mut (*cmd).gs_base, bases.1);
            std::ptr::write_volatile(&raw mut (*cmd).spin, spin);
            std::ptr::write_volatile(&raw mut (*cmd).yields, yields);
            std::ptr::write_volatile(&raw mut (*cmd).cpu, handoff::cpu_tag());
            (*cmd).seq.fetch_add(1, Ordering::SeqCst);
        }
        self.woke_stub = self.state().stub_waiting.load(Ordering::SeqCst) != 0;
        if self.woke_stub {
            // SAFETY: cmd is valid (above).
            futex(unsafe { &(*cmd).seq }, libc::FUTEX_WAKE, 1, None);
        }
    }

    /// Waits for the stub thread's next report: poll, yield, then sleep
    /// on the state word, checking now and then that the stub still lives.
    fn await_report(&mut self) -> Result<(), PlatformError> {
        let start = Instant::now();
        // SAFETY: the state page lives as long as `proc`; the stub's CPU is
        // only a hint (the application can write it).
        let stub_cpu =
            unsafe { std::ptr::read_volatile(&raw const (*self.proc.state(self.idx)).cpu) };
        // Polling is worth it only if the stub can run meanwhile: not on
        // this CPU, and not just woken (it may be woken onto this CPU).
        let pause = !self.woke_stub && (stub_cpu == 0 || stub_cpu != handoff::cpu_tag());
        let st = self.state();
        if !handoff::wait(&st.seq, self.seen, pause, self.report_budget.get(), start) {
            self.sleep_for_report(start)?;
        }
        self.report_budget.update(start.elapsed());
        self.seen = self.state().seq.load(Ordering::Acquire);
        self.reported_at = Instant::now();
        Ok(())
    }

    fn sleep_for_report(&self, start: Instant) -> Result<(), PlatformError> {
        // SAFETY: the command page lives as long as `proc`.
        let cmd = unsafe { &*self.cmd() };
        let st = self.state();
        loop {
            cmd.sentry_waiting.store(1, Ordering::SeqCst);
            if st.seq.load(Ordering::SeqCst) != self.seen {
                cmd.sentry_waiting.store(0, Ordering::SeqCst);
                return Ok(());
            }
            futex(&st.seq, libc::FUTEX_WAIT, self.seen, Some(LIVENESS_TICK));
            cmd.sentry_waiting.store(0, Ordering::SeqCst);
            if st.seq.load(Ordering::SeqCst) != self.seen {
                return Ok(());
            }
            self.check_alive(start)?;
        }
    }

    fn check_alive(&self, start: Instant) -> Result<(), PlatformError> {
        let died = |how: String| PlatformError::StubDied { pid: self.tid, how };
        if self.proc.exited() {
            return Err(died(self.proc.how_it_died()));
        }
        // SAFETY: signal 0 only checks that our stub thread exists.
        if unsafe { libc::syscall(libc::SYS_tgkill, self.proc.pid, self.tid, 0) } != 0 {
            return Err(died("its thread exited".into()));
        }
        let since = self.kicker.since.load(Ordering::SeqCst);
        if since != 0 {
            let started = monotonic_ns().saturating_sub(start.elapsed().as_nanos() as u64);
            let pending = monotonic_ns().saturating_sub(since.max(started));
            if pending > KICK_GRACE.as_nanos() as u64 {
                self.proc.kill();
                return Err(died("it ignored interrupts (killed)".into()));
            }
        }
        Ok(())
    }

    /// Runs one host system call in the stub thread.
    fn call(&mut self, op: &'static str, nr: i64, args: [u64; 6]) -> Result<u64, PlatformError> {
        self.post(OP_SYSCALL, nr as u64, args, (0, 0));
        self.await_report()?;
        // SAFETY: the state page lives as long as `proc`.
        let ret = unsafe { std::ptr::read_volatile(&raw const (*self.proc.state(self.idx)).ret) };
        let ret = ret as i64;
        if (-4095..0).contains(&ret) {
            return Err(PlatformError::Refused {
                op,
                errno: (-ret) as i32,
            });
        }
        Ok(ret as u64)
    }

    /// Locates the signal frame the stub just reported.
    fn load_frame(&mut self) -> Result<(), PlatformError> {
        // SAFETY: the state page lives as long as `proc`.
        let addr =
            unsafe { std::ptr::read_volatile(&raw const (*self.proc.state(self.idx)).ucontext) };
        let p = self
            .proc
            .translate(self.idx, addr, std::mem::size_of::<UContext>() as u64)
            .ok_or_else(|| self.corrupt("signal frame"))?;
        self.uctx = p as *mut UContext;
        Ok(())
    }

    fn corrupt(&self, what: &str) -> PlatformError {
        // The application scribbled over its stub's shared state: the
        // process cannot go on.
        self.proc.kill();
        PlatformError::Other(format!("stub {} reported a bad {what}", self.tid))
    }

    fn frame(&self) -> UContext {
        // SAFETY: uctx was validated to lie inside this thread's area.
        unsafe { std::ptr::read_volatile(self.uctx) }
    }

    /// The FXSAVE part of the frame's FPU state, in the Sentry's mapping.
    fn fp_area(&self, len: u64) -> Result<*mut u8, PlatformError> {
        let addr = self.frame().fpstate;
        self.proc
            .translate(self.idx, addr, len)
            .ok_or_else(|| self.corrupt("FPU state"))
    }

    fn regs_from_frame(&self, uc: &UContext, regs: &mut Regs) {
        let g = &uc.gregs;
        regs.r8 = g[R8];
        regs.r9 = g[R9];
        regs.r10 = g[R10];
        regs.r11 = g[R11];
        regs.r12 = g[R12];
        regs.r13 = g[R13];
        regs.r14 = g[R14];
        regs.r15 = g[R15];
        regs.rdi = g[RDI];
        regs.rsi = g[RSI];
        regs.rbp = g[RBP];
        regs.rbx = g[RBX];
        regs.rdx = g[RDX];
        regs.rax = g[RAX];
        regs.rcx = g[RCX];
        regs.rsp = g[RSP];
        regs.rip = g[RIP];
        regs.eflags = g[EFLAGS];
        regs.cs = g[CSGSFS] & 0xffff;
        regs.ss = (g[CSGSFS] >> 48) & 0xffff;
        // SAFETY: the state page lives as long as `proc`.
        let st = self.proc.state(self.idx);
        unsafe {
            regs.fs_base = std::ptr::read_volatile(&raw const (*st).fs_base);
            regs.gs_base = std::ptr::read_volatile(&raw const (*st).gs_base);
        }
        regs.orig_rax = u64::MAX;
    }

    fn write_frame(&mut self, regs: &Regs) {
        let mut uc = self.frame();
        let g = &mut uc.gregs;
        g[R8] = regs.r8;
        g[R9] = regs.r9;
        g[R10] = regs.r10;
        g[R11] = regs.r11;
        g[R12] = regs.r12;
        g[R13] = regs.r13;
        g[R14] = regs.r14;
        g[R15] = regs.r15;
        g[RDI] = regs.rdi;
        g[RSI] = regs.rsi;
        g[RBP] = regs.rbp;
        g[RBX] = regs.rbx;
        g[RDX] = regs.rdx;
        g[RAX] = regs.rax;
        g[RCX] = regs.rcx;
        g[RSP] = regs.rsp;
        g[RIP] = regs.rip;
        g[EFLAGS] = regs.eflags;
        // The stub's host mask, whatever the application's (the Sentry's) is.
        uc.sigmask = STUB_MASK;
        // SAFETY: uctx was validated to lie inside this thread's area.
        unsafe { std::ptr::write_volatile(self.uctx, uc) };
    }

    /// Turns the report just received into a trap.
    fn trap(&mut self, regs: &mut Regs) -> Result<Trap, PlatformError> {
        self.load_frame()?;
        let uc = self.frame();
        self.regs_from_frame(&uc, regs);
        // SAFETY: the state page lives as long as `proc`.
        let (signo, info) = unsafe {
            let st = self.proc.state(self.idx);
            (
                std::ptr::read_volatile(&raw const (*st).signo) as i32,
                std::ptr::read_volatile(&raw const (*st).siginfo),
            )
        };
        // The stub's pages lie between USER_MAX and the top of the user
        // half; a fault at a kernel-half rip is the application's own jump
        // there (SIGSEGV), not the stub's.
        let in_stub = (USER_MAX..0x8000_0000_0000).contains(&regs.rip);
        match signo {
            libc::SIGSYS => {
                // seccomp rolled rax back to the call's number.
                regs.orig_rax = uc.gregs[RAX];
                regs.rax = (-libc::ENOSYS) as u64;
                let p = self
                    .proc
                    .translate(self.idx, info, 32)
                    .ok_or_else(|| self.corrupt("siginfo"))?;
                // SAFETY: p covers 32 bytes of siginfo inside the area;
                // SIGSYS's si_arch is the u32 at 28.
                let arch = unsafe { std::ptr::read_volatile(p.add(28) as *const u32) };
                if arch != AUDIT_ARCH_X86_64 {
                    return Ok(crate::platform::legacy_syscall_fault(regs));
                }
                Ok(Trap::Syscall)
            }
            s if s == KICK_SIGNAL => {
                self.kicker.since.store(0, Ordering::SeqCst);
                Ok(Trap::Interrupted)
            }
            libc::SIGSEGV | libc::SIGBUS | libc::SIGFPE | libc::SIGILL | libc::SIGTRAP
                if !in_stub =>
            {
                let p = self
                    .proc
                    .translate(self.idx, info, 128)
                    .ok_or_else(|| self.corrupt("siginfo"))?;
                // SAFETY: p covers 128 bytes of siginfo inside the area:
                // si_code at 8, si_addr at 16.
                let (code, addr) = unsafe {
                    (
                        std::ptr::read_volatile(p.add(8) as *const i32),
                        std::ptr::read_volatile(p.add(16) as *const u64),
                    )
                };
                Ok(Trap::Fault(Fault { signo, code, addr }))
            }
            _ => Err(self.corrupt(&format!("trap (signal {signo} at {:#x})", regs.rip))),
        }
    }
}

impl Context for SeccompContext {
    fn map(&mut self, addr: u64, len: u64, prot: Prot, offset: u64) -> Result<(), PlatformError> {
        let flags = (libc::MAP_SHARED | libc::MAP_FIXED) as u64;
        let args = [addr, len, prot as u64, flags, self.memfd(), offset];
        self.call("mmap", libc::SYS_mmap, args).map(|_| ())
    }

    fn unmap(&mut self, addr: u64, len: u64) -> Result<(), PlatformError> {
        self.call("munmap", libc::SYS_munmap, [addr, len, 0, 0, 0, 0])
            .map(|_| ())
    }

    fn protect(&mut self, addr: u64, len: u64, prot: Prot) -> Result<(), PlatformError> {
        let args = [addr, len, prot as u64, 0, 0, 0];
        self.call("mprotect", libc::SYS_mprotect, args).map(|_| ())
    }

    fn unmap_all(&mut self) -> Result<(), PlatformError> {
        self.unmap(0, USER_MAX)
    }

    fn run(&mut self, regs: &mut Regs) -> Result<Trap, PlatformError> {
        self.write_frame(regs);
        self.post(OP_RUN, 0, [0; 6], (regs.fs_base, regs.gs_base));
        self.await_report()?;
        self.trap(regs)
    }

    fn fp_regs(&mut self) -> Result<FpRegs, PlatformError> {
        let p = self.fp_area(FXSAVE_LEN)?;
        // SAFETY: p covers 512 bytes inside the area; FpRegs is the FXSAVE
        // layout, plain data.
        Ok(unsafe { std::ptr::read_volatile(p as *const FpRegs) })
    }

    fn set_fp_regs(&mut self, fp: &FpRegs) -> Result<(), PlatformError> {
        // The XSAVE header follows the legacy area.
        let p = self.fp_area(FXSAVE_LEN + 64)?;
        // SAFETY: p covers the legacy area and the XSAVE header, inside the
        // area.
        unsafe {
            std::ptr::write_volatile(p as *mut FpRegs, *fp);
            let magic = std::ptr::read_volatile(p.add(464) as *const u32);
            if magic == FP_XSTATE_MAGIC1 {
                // x87 and SSE state now come from the frame, not from
                // their initial values.
                let bv = p.add(FXSAVE_LEN as usize) as *mut u64;
                std::ptr::write_volatile(bv, std::ptr::read_volatile(bv) | 3);
            }
        }
        Ok(())
    }

    fn interrupter(&self) -> Arc<dyn Interrupter> {
        self.kicker.clone()
    }

    fn host_pid(&self) -> i32 {
        self.tid
    }

    fn spawn_thread(&mut self) -> Result<Box<dyn ThreadSeed>, PlatformError> {
        let child = self.proc.take_area().ok_or(PlatformError::Refused {
            op: "clone",
            errno: libc::EAGAIN,
        })?;
        // SAFETY: the child's pages are ours until its thread starts.
        unsafe {
            let cmd = self.proc.cmd(child);
            std::ptr::write_bytes(cmd as *mut u8, 0, std::mem::size_of::<Command>());
            let st = self.proc.state(child);
            std::ptr::write_bytes(st as *mut u8, 0, std::mem::size_of::<State>());
            (*st).alive.store(1, Ordering::SeqCst);
        }
        self.post(OP_CLONE, 0, [child, 0, 0, 0, 0, 0], (0, 0));
        let ret = self.await_report().map(|_| {
            // SAFETY: the state page lives as long as `proc`.
            unsafe { std::ptr::read_volatile(&raw const (*self.proc.state(self.idx)).ret) as i64 }
        });
        let tid = match ret {
            Ok(tid) if tid > 0 => tid as i32,
            other => {
                // SAFETY: no thread runs on the child's area.
                unsafe { (*self.proc.state(child)).alive.store(0, Ordering::SeqCst) };
                self.proc.give_area(child);
                let tid = other?;
                return Err(PlatformError::Refused {
                    op: "clone",
                    errno: (-tid) as i32,
                });
            }
        };
        Ok(Box::new(Seed {
            proc: self.proc.clone(),
            idx: child,
            tid,
        }))
    }
}

impl SeccompContext {
    fn memfd(&self) -> u64 {
        self.proc.memfd as u64
    }
}

/// A new stub thread, on its way to its boot trap.
struct Seed {
    proc: Arc<StubProcess>,
    idx: u64,
    tid: i32,
}

impl ThreadSeed for Seed {
    fn attach(self: Box<Self>) -> Result<Box<dyn Context>, PlatformError> {
        let Seed { proc, idx, tid } = *self;
        Ok(Box::new(SeccompContext::attach(proc, idx, tid)?))
    }
}

impl Drop for SeccompContext {
    fn drop(&mut self) {
        *self.kicker.alive.lock().unwrap_or_else(|p| p.into_inner()) = false;
        if self.idx != 0 {
            // The thread leaves; its area is reused once the kernel has
            // cleared its `alive` word. (Thread 0 goes with the process,
            // when the last context lets go of it.)
            self.post(OP_SYSCALL, libc::SYS_exit as u64, [0; 6], (0, 0));
            self.proc.give_area(self.idx);
        }
    }
}
