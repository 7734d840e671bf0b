//! Signals: dispositions, pending queues, and what each signal does by default.

use std::collections::VecDeque;

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

/// A process's signal state (processes are single-threaded for now, so the
/// mask lives here too).
pub struct SigState {
    pub actions: [SigAction; NSIG + 1],
    pub pending: VecDeque<SigInfo>,
    pub mask: u64,
}

impl Default for SigState {
    fn default() -> Self {
        SigState {
            actions: [SigAction::default(); NSIG + 1],
            pending: VecDeque::new(),
            mask: 0,
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

    pub fn has_deliverable(&self) -> bool {
        self.pending
            .iter()
            .any(|i| bit(i.signo) & (self.mask & !UNBLOCKABLE) == 0)
    }

    /// Takes the next deliverable signal: synchronous faults and lower
    /// numbers first, as Linux does for standard signals.
    pub fn take(&mut self) -> Option<SigInfo> {
        let blocked = self.mask & !UNBLOCKABLE;
        let idx = self
            .pending
            .iter()
            .enumerate()
            .filter(|(_, i)| bit(i.signo) & blocked == 0)
            .min_by_key(|(n, i)| (i.signo, *n))
            .map(|(n, _)| n)?;
        self.pending.remove(idx)
    }

    /// Queues `info` unless a standard signal of that number is already pending.
    pub fn queue(&mut self, info: SigInfo) {
        if info.signo < 32 && self.pending.iter().any(|p| p.signo == info.signo) {
            return;
        }
        self.pending.push_back(info);
    }

    /// The pending set as a mask (sigpending, /proc status).
    pub fn pending_mask(&self) -> u64 {
        self.pending.iter().fold(0, |m, i| m | bit(i.signo))
    }
}
