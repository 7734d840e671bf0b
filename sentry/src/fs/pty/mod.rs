//! Pseudo-terminals, entirely inside the Sentry: opening /dev/ptmx makes a
//! master and a slave /dev/pts/N on the container's devpts; bytes written
//! to one side pass through the line discipline ([`ldisc`]) to the other.
//! A slave can become its session's controlling terminal ([`ctty`]), whose
//! signal characters and window changes reach the foreground process group.

pub mod ctty;
mod devpts;
mod ioctl;
pub mod ldisc;
mod master;
mod slave;

use std::sync::{Arc, Mutex, Weak};

use crate::kernel::events;
use crate::kernel::process::lock;
use crate::kernel::signal::{SigInfo, SI_KERNEL};

pub use devpts::{attach_host_terminal, new_devpts};
use ldisc::{Ldisc, Termios};

/// The major number of pty slaves (/dev/pts/N is 136:N).
const PTS_MAJOR: u64 = 136;

/// One master/slave pair.
pub struct Pty {
    pub index: u32,
    /// Owner of the slave node: who opened the master.
    uid: u32,
    /// The slave node's group and permissions (devpts's `gid=`, `mode=`).
    gid: u32,
    mode: u32,
    /// st_dev of the devpts it lives on.
    dev: u64,
    state: Mutex<PtyState>,
    /// Moves on every change of either side (poll, epoll, blocked calls).
    seq: events::Seq,
    devpts: Weak<devpts::DevPts>,
}

struct PtyState {
    ld: Ldisc,
    /// The master's own settings (TCGETS on the master).
    master_termios: Termios,
    /// struct winsize, shared by both sides.
    winsize: [u8; 8],
    /// Set until unlockpt: the slave cannot be opened.
    locked: bool,
    master_open: bool,
    /// Open slave descriptions, and whether there ever was one.
    slaves: usize,
    slave_opened: bool,
    /// The session this is the controlling terminal of (0: none), and its
    /// foreground process group.
    session: i32,
    fg_pgrp: i32,
}

impl Pty {
    /// `owner`: the slave node's uid, gid and mode.
    fn new(index: u32, owner: (u32, u32, u32), dev: u64, devpts: Weak<devpts::DevPts>) -> Arc<Pty> {
        let (uid, gid, mode) = owner;
        Arc::new(Pty {
            index,
            uid,
            gid,
            mode,
            dev,
            state: Mutex::new(PtyState {
                ld: Ldisc::default(),
                master_termios: Termios::master(),
                winsize: [0; 8],
                locked: true,
                master_open: true,
                slaves: 0,
                slave_opened: false,
                session: 0,
                fg_pgrp: 0,
            }),
            seq: events::Seq::default(),
            devpts,
        })
    }

    /// The slave's node (what /dev/tty opens when this is a controlling terminal).
    fn node(self: &Arc<Pty>) -> Arc<dyn crate::vfs::Inode> {
        devpts::SlaveNode::new(self.clone())
    }

    pub fn rdev(&self) -> u64 {
        makedev(PTS_MAJOR, self.index as u64)
    }

    /// Sends each of `signals` to the foreground process group, if any.
    fn signal_foreground(&self, signals: &[i32]) {
        if signals.is_empty() {
            return;
        }
        let pgrp = lock(&self.state).fg_pgrp;
        if pgrp <= 0 {
            return;
        }
        if let Some(k) = crate::kernel::get() {
            for &sig in signals {
                k.signal_group(pgrp, SigInfo::new(sig, SI_KERNEL));
            }
        }
    }

    /// The master closed: the slave hangs up, and the session it controls
    /// loses it (SIGHUP, then SIGCONT, to the foreground group).
    fn master_closed(self: &Arc<Pty>) {
        let mut st = lock(&self.state);
        st.master_open = false;
        let (session, pgrp) = (st.session, st.fg_pgrp);
        st.session = 0;
        drop(st);
        self.seq.bump();
        if session != 0 {
            ctty::forget(session);
            if let Some(k) = crate::kernel::get() {
                if pgrp > 0 {
                    k.signal_group(pgrp, SigInfo::new(libc::SIGHUP, SI_KERNEL));
                    k.signal_group(pgrp, SigInfo::new(libc::SIGCONT, SI_KERNEL));
                }
            }
        }
        if let Some(d) = self.devpts.upgrade() {
            d.remove(self.index);
        }
    }
}

fn makedev(major: u64, minor: u64) -> u64 {
    ((major & 0xfff) << 8) | (minor & 0xff) | ((minor & !0xff) << 12)
}
