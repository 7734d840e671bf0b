//! Signals: dispositions, pending queues, and what each signal does by default.

use std::collections::VecDeque;

use super::sigquota::{self, Charge, Quota};
use super::timers::SI_TIMER;
use crate::errno::{err, SysResult};

pub const NSIG: usize = 64;
pub const SIG_DFL: u64 = 0;
pub const SIG_IGN: u64 = 1;
pub const SA_NOCLDSTOP: u64 = 1;
pub const SA_NOCLDWAIT: u64 = 2;
pub const SA_SIGINFO: u64 = 4;
pub const SA_RESTORER: u64 = 0x0400_0000;
pub const SA_ONSTACK: u64 = 0x0800_0000;
pub const SA_RESTART: u64 = 0x1000_0000;
pub const SA_NODEFER: u64 = 0x4000_0000;
pub const SA_RESETHAND: u64 = 0x8000_0000;

pub const SI_USER: i32 = 0;
pub const SI_KERNEL: i32 = 0x80;
pub const SI_TKILL: i32 = -6;
pub const CLD_EXITED: i32 = 1;
pub const CLD_KILLED: i32 = 2;
pub const CLD_DUMPED: i32 = 3;
pub const CLD_STOPPED: i32 = 5;
pub const CLD_CONTINUED: i32 = 6;

/// The bit of `sig` in a signal set.
pub fn bit(sig: i32) -> u64 {
    1u64 << (sig - 1)
}

/// Signals that can be neither blocked nor caught.
pub const UNBLOCKABLE: u64 = (1 << (libc::SIGKILL - 1)) | (1 << (libc::SIGSTOP - 1));

/// The kernel's struct sigaction (x86-64 layout).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

/// siginfo_t, kept in its 128-byte Linux layout.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct SigInfo {
    pub signo: i32,
    pub errno: i32,
    pub code: i32,
    pad: i32,
    pub fields: [u64; 14],
}

impl SigInfo {
    pub fn new(signo: i32, code: i32) -> SigInfo {
        SigInfo {
            signo,
            errno: 0,
            code,
            pad: 0,
            fields: [0; 14],
        }
    }

    /// From kill(2): the sender's pid and uid.
    pub fn user(signo: i32, pid: i32, uid: u32) -> SigInfo {
        let mut i = SigInfo::new(signo, SI_USER);
        i.fields[0] = (pid as u32 as u64) | ((uid as u64) << 32);
        i
    }

    /// A fault at `addr`.
    pub fn fault(signo: i32, code: i32, addr: u64) -> SigInfo {
        let mut i = SigInfo::new(signo, code);
        i.fields[0] = addr;
        i
    }

    /// SIGCHLD for a child that ended.
    pub fn child(pid: i32, uid: u32, code: i32, status: i32) -> SigInfo {
        let mut i = SigInfo::new(libc::SIGCHLD, code);
        i.fields[0] = (pid as u32 as u64) | ((uid as u64) << 32);
        i.fields[1] = status as u32 as u64;
        i
    }

    pub fn as_bytes(&self) -> [u8; 128] {
        // SAFETY: SigInfo is repr(C), 128 bytes of plain integers.
        unsafe { std::mem::transmute_copy(self) }
    }
}

const _: () = assert!(std::mem::size_of::<SigInfo>() == 128);

/// What a signal does when its disposition is SIG_DFL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    Terminate,
    CoreDump,
    Ignore,
    Stop,
    Continue,
}

pub fn default_action(sig: i32) -> DefaultAction {
    match sig {
        libc::SIGCHLD | libc::SIGURG | libc::SIGWINCH => DefaultAction::Ignore,
        libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU => DefaultAction::Stop,
        libc::SIGCONT => DefaultAction::Continue,
        libc::SIGQUIT
        | libc::SIGILL
        | libc::SIGTRAP
        | libc::SIGABRT
        | libc::SIGBUS
        | libc::SIGFPE
        | libc::SIGSEGV
        | libc::SIGXCPU
        | libc::SIGXFSZ
        | libc::SIGSYS => DefaultAction::CoreDump,
        _ => DefaultAction::Terminate,
    }
}

/// Counts signals queued anywhere: the `event_seq` of signalfds, so an
/// edge-triggered epoll hears of every new signal.
pub static QUEUED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The first real-time signal (the kernel's SIGRTMIN; glibc keeps two).
pub const SIGRTMIN: i32 = 32;

/// One pending signal and the RLIMIT_SIGPENDING count it holds.
struct Pending {
    info: SigInfo,
    _charge: Option<Charge>,
}

impl Pending {
    fn new(info: SigInfo) -> Pending {
        Pending {
            info,
            _charge: None,
        }
    }
}

/// Pending signals, of a process or of one thread.
#[derive(Default)]
pub struct SigQueue {
    list: VecDeque<Pending>,
}

impl SigQueue {
    /// Whether a signal not in `mask` is waiting.
    pub fn has_deliverable(&self, mask: u64) -> bool {
        let blocked = mask & !UNBLOCKABLE;
        self.list.iter().any(|p| bit(p.info.signo) & blocked == 0)
    }

    /// The first pending signal in `set`, lowest number first (standard
    /// signals as Linux picks them; synchronous faults are queued at the
    /// front, so they go first among equals).
    fn take_from(&mut self, set: u64) -> Option<SigInfo> {
        let idx = self
            .list
            .iter()
            .enumerate()
            .filter(|(_, p)| bit(p.info.signo) & set != 0)
            .min_by_key(|(n, p)| (p.info.signo, *n))
            .map(|(n, _)| n)?;
        self.list.remove(idx).map(|p| p.info)
    }

    /// The lowest-numbered signal not in `mask`.
    pub fn take(&mut self, mask: u64) -> Option<SigInfo> {
        self.take_from(!(mask & !UNBLOCKABLE))
    }

    /// Queues `info`, uncounted, unless a standard signal of that number
    /// is already pending (signals the kernel sends for itself).
    pub fn queue(&mut self, info: SigInfo) {
        let _ = self.queue_counted(info, None);
    }

    /// Queues `info` unless a standard signal of that number is already
    /// pending, counting it against `quota` (kernel/sigquota.rs): EAGAIN
    /// for a real-time signal with its own information beyond the limit.
    pub fn queue_counted(&mut self, info: SigInfo, quota: Option<Quota>) -> SysResult<()> {
        if info.signo < SIGRTMIN && self.contains(info.signo) {
            return Ok(());
        }
        let charge = match quota {
            // A POSIX timer's signal: its timer holds the count.
            Some(q) if info.code != SI_TIMER => {
                let force = info.signo < SIGRTMIN && info.code >= 0;
                let c = sigquota::charge(q, force);
                if c.is_none() && info.signo >= SIGRTMIN && info.code != SI_USER {
                    return err(libc::EAGAIN);
                }
                c
            }
            _ => None,
        };
        self.list.push_back(Pending {
            info,
            _charge: charge,
        });
        QUEUED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// Takes the first pending signal in `set` (blocked or not), lowest
    /// number first: signalfd's read.
    pub fn take_in(&mut self, set: u64) -> Option<SigInfo> {
        self.take_from(set)
    }

    /// The pending set as a mask (sigpending, /proc status).
    pub fn mask(&self) -> u64 {
        self.list.iter().fold(0, |m, p| m | bit(p.info.signo))
    }

    pub fn clear(&mut self) {
        self.list.clear();
    }

    pub fn retain(&mut self, mut f: impl FnMut(&SigInfo) -> bool) {
        self.list.retain(|p| f(&p.info));
    }

    pub fn push_front(&mut self, info: SigInfo) {
        self.list.push_front(Pending::new(info));
    }

    pub fn contains(&self, signo: i32) -> bool {
        self.list.iter().any(|p| p.info.signo == signo)
    }

    /// The pending signals' information, to update in place (a timer's
    /// overrun count).
    pub fn infos_mut(&mut self) -> impl Iterator<Item = &mut SigInfo> {
        self.list.iter_mut().map(|p| &mut p.info)
    }
}

/// A process's signal state, shared by its threads: dispositions and the
/// signals sent to the process as a whole.
pub struct SigState {
    pub actions: [SigAction; NSIG + 1],
    pub pending: SigQueue,
}

impl Default for SigState {
    fn default() -> Self {
        SigState {
            actions: [SigAction::default(); NSIG + 1],
            pending: SigQueue::default(),
        }
    }
}

impl SigState {
    /// Whether `sig` would be thrown away on arrival.
    pub fn ignores(&self, sig: i32) -> bool {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            return false;
        }
        let a = &self.actions[sig as usize];
        a.handler == SIG_IGN
            || (a.handler == SIG_DFL && default_action(sig) == DefaultAction::Ignore)
    }
}

/// One thread's own signal state: its mask and the signals sent to it.
#[derive(Default)]
pub struct ThreadSig {
    pub mask: u64,
    pub pending: SigQueue,
}
