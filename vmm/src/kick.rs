//! Interrupting a vCPU from another thread.
//!
//! A vCPU runs guest code inside the KVM_RUN ioctl of its host thread. To
//! stop it (a signal for the application, a timer, a kill), another thread
//! sets `immediate_exit` in the vCPU's shared `kvm_run` page — so a KVM_RUN
//! that has not begun yet returns at once — and sends the vCPU's thread
//! [`kick_signal`], whose handler does nothing: its only effect is that a
//! KVM_RUN in progress returns EINTR.
//!
//! The same handle serves two other threads' needs: a TLB shootdown pokes
//! the vCPU out of KVM_RUN without an interruption for its caller
//! ([`Kick::poke`], with the generation it last flushed to), and the CPU
//! timers read the guest time it measured ([`Kick::guest_cpu_ns`]).

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Mutex, Once};

/// The signal that interrupts KVM_RUN (a real-time signal the C library
/// does not reserve).
pub fn kick_signal() -> i32 {
    libc::SIGRTMIN() + 6
}

extern "C" fn on_kick(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {}

/// Installs the (empty) handler of the kick signal, once per process.
pub fn install_handler() -> std::io::Result<()> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        // SAFETY: a sigaction with a valid handler that touches nothing.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_kick as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            if libc::sigaction(kick_signal(), &sa, std::ptr::null_mut()) != 0 {
                result = Err(std::io::Error::last_os_error());
            }
        }
    });
    result
}

/// Unblocks the kick signal on the calling thread.
pub fn unblock_on_this_thread() {
    // SAFETY: plain signal-mask update of the calling thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, kick_signal());
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
}

/// The part of a vCPU that other threads touch.
pub struct Kick {
    /// An interruption was asked for and not yet reported.
    pending: AtomicBool,
    /// The host thread inside `Vcpu::run`, or 0, and the vCPU's
    /// `immediate_exit` byte (None once the vCPU is gone).
    target: Mutex<Target>,
    /// Mirror of target.tid for a lock-free check (see
    /// [`Kick::in_run`]).
    running: AtomicI32,
    /// The address-space generation this vCPU's TLB last caught up with
    /// (for other vCPUs waiting on a TLB shootdown).
    flushed: AtomicU64,
    /// CPU time the vCPU's threads spent inside `Vcpu::run`'s KVM_RUN
    /// (guest time: the application's user time), finished runs only.
    guest_ns: AtomicU64,
}

struct Target {
    tid: i32,
    immediate_exit: Option<*mut u8>,
    /// The running thread's CPU clock when it entered, if guest time was
    /// measured then.
    entered_ns: Option<u64>,
}

/// Whether vCPU threads measure their guest time (two reads of the
/// thread's CPU clock per run, a few µs a system call on PVM): off until
/// something needs the application's user time (an ITIMER_VIRTUAL), see
/// [`measure_guest_time`]. One sandbox per process, so process-wide.
static MEASURING: AtomicBool = AtomicBool::new(false);

/// Starts measuring guest time from now on (for good). Timers on user time
/// count from when they are armed, so the time before does not matter.
pub fn measure_guest_time() {
    MEASURING.store(true, Ordering::SeqCst);
}

/// The CPU clock of thread `tid` of this process (0 if unreadable).
fn thread_cpu_ns(tid: i32) -> u64 {
    // MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED): a thread clock the
    // threads of one process may read of each other.
    let clock = ((!tid) << 3) | 2 | 4;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec.
    let r = unsafe { libc::clock_gettime(clock, &mut ts) };
    if r != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

// SAFETY: the raw pointer is only dereferenced under the mutex while the
// vCPU (whose kvm_run mapping it points into) is alive; the vCPU clears it
// under the same mutex before the mapping goes.
unsafe impl Send for Kick {}
// SAFETY: see Send.
unsafe impl Sync for Kick {}

impl Kick {
    pub(crate) fn new(immediate_exit: *mut u8) -> Kick {
        Kick {
            pending: AtomicBool::new(false),
            target: Mutex::new(Target {
                tid: 0,
                immediate_exit: Some(immediate_exit),
                entered_ns: None,
            }),
            running: AtomicI32::new(0),
            flushed: AtomicU64::new(0),
            guest_ns: AtomicU64::new(0),
        }
    }

    /// Asks the vCPU to stop running guest code soon.
    pub fn interrupt(&self) {
        self.pending.store(true, Ordering::SeqCst);
        let t = self.target.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = t.immediate_exit {
            // SAFETY: p points into the live kvm_run mapping (see Send); a
            // volatile byte store is what KVM expects from other threads.
            unsafe { std::ptr::write_volatile(p, 1) };
        }
        if t.tid != 0 {
            // SAFETY: tgkill with plain integers; the thread is inside
            // Vcpu::run (it clears tid under this lock before leaving), so
            // the tid names a live thread of this process.
            unsafe {
                libc::syscall(libc::SYS_tgkill, libc::getpid(), t.tid, kick_signal());
            }
        }
    }

    /// Makes the vCPU leave KVM_RUN soon without reporting an
    /// interruption to its thread's caller: it comes back on its own after
    /// catching up with page-table changes (a TLB shootdown).
    pub(crate) fn poke(&self) {
        let t = self.target.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = t.immediate_exit {
            // SAFETY: as in interrupt().
            unsafe { std::ptr::write_volatile(p, 1) };
        }
        if t.tid != 0 {
            // SAFETY: as in interrupt().
            unsafe {
                libc::syscall(libc::SYS_tgkill, libc::getpid(), t.tid, kick_signal());
            }
        }
    }

    /// Whether the vCPU's thread is inside `Vcpu::run` (from just before
    /// its last check of the address-space generation to after KVM_RUN).
    pub(crate) fn in_run(&self) -> bool {
        self.running.load(Ordering::SeqCst) != 0
    }

    pub(crate) fn flushed(&self) -> u64 {
        self.flushed.load(Ordering::SeqCst)
    }

    pub(crate) fn set_flushed(&self, generation: u64) {
        self.flushed.store(generation, Ordering::SeqCst);
    }

    /// Takes a pending interruption.
    pub(crate) fn take(&self) -> bool {
        let was = self.pending.swap(false, Ordering::SeqCst);
        if was {
            self.arm();
        }
        was
    }

    fn set_immediate_exit(t: &Target, v: u8) {
        if let Some(p) = t.immediate_exit {
            // SAFETY: as in interrupt().
            unsafe { std::ptr::write_volatile(p, v) };
        }
    }

    /// Sets `immediate_exit` to whether an interruption is pending. Under
    /// the lock, so an interrupter (or a [`Kick::poke`]) that comes later
    /// sets it again: call it (after [`Kick::enter`]) right before KVM_RUN,
    /// and check the address-space generation after it.
    pub(crate) fn arm(&self) {
        let t = self.target.lock().unwrap_or_else(|p| p.into_inner());
        Self::set_immediate_exit(&t, self.pending.load(Ordering::SeqCst) as u8);
    }

    /// Forces `immediate_exit` to `v` (completing a port write with 1,
    /// running the flush gadget to its end with 0); call [`Kick::arm`]
    /// afterwards.
    pub(crate) fn force(&self, v: u8) {
        let t = self.target.lock().unwrap_or_else(|p| p.into_inner());
        Self::set_immediate_exit(&t, v);
    }

    /// Whether an interruption is pending (without taking it).
    pub(crate) fn is_pending(&self) -> bool {
        self.pending.load(Ordering::SeqCst)
    }

    /// Records that the calling thread is about to run the vCPU.
    pub(crate) fn enter(&self) {
        // SAFETY: gettid has no arguments.
        let tid = unsafe { libc::gettid() };
        let now = MEASURING
            .load(Ordering::Relaxed)
            .then(|| thread_cpu_ns(tid));
        let mut t = self.target.lock().unwrap_or_else(|p| p.into_inner());
        t.tid = tid;
        t.entered_ns = now;
        self.running.store(tid, Ordering::SeqCst);
    }

    /// Records that the thread left `run`.
    pub(crate) fn leave(&self) {
        let mut t = self.target.lock().unwrap_or_else(|p| p.into_inner());
        if let (true, Some(start)) = (t.tid != 0, t.entered_ns) {
            let spent = thread_cpu_ns(t.tid).saturating_sub(start);
            self.guest_ns.fetch_add(spent, Ordering::Relaxed);
        }
        t.tid = 0;
        self.running.store(0, Ordering::SeqCst);
    }

    /// The CPU time spent running the guest so far, the current run
    /// included (what Linux would count as the thread's user time: the
    /// guest kernel only forwards exits).
    pub fn guest_cpu_ns(&self) -> u64 {
        let t = self.target.lock().unwrap_or_else(|p| p.into_inner());
        let current = match (t.tid != 0, t.entered_ns) {
            (true, Some(start)) => thread_cpu_ns(t.tid).saturating_sub(start),
            _ => 0,
        };
        self.guest_ns.load(Ordering::Relaxed) + current
    }

    /// The vCPU is going away: never touch its kvm_run again.
    pub(crate) fn detach(&self) {
        let mut t = self.target.lock().unwrap_or_else(|p| p.into_inner());
        t.immediate_exit = None;
        t.tid = 0;
    }
}
