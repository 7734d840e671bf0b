//! The slave side of a pty (/dev/pts/N): the terminal the program in it
//! sees, reading edited input and writing output.

use std::sync::Arc;

use super::Pty;
use crate::errno::{err, Errno, SysResult};
use crate::kernel::process::lock;
use crate::kernel::signal::{SigInfo, SIG_IGN, SI_KERNEL};
use crate::kernel::task::Task;
use crate::vfs::{FileOps, Inode, Stat};

pub struct Slave {
    pty: Arc<Pty>,
}

impl Slave {
    /// A new open of the slave: EIO while the master keeps it locked
    /// (before unlockpt) or after the master closed.
    pub fn open(pty: &Arc<Pty>) -> SysResult<Arc<dyn FileOps>> {
        let mut st = lock(&pty.state);
        if st.locked || !st.master_open {
            return err(libc::EIO);
        }
        st.slaves += 1;
        st.slave_opened = true;
        drop(st);
        pty.seq.bump();
        Ok(Arc::new(Slave { pty: pty.clone() }))
    }
}

impl Slave {
    /// Job control: a process in a background group of the session this
    /// terminal controls may not read it, nor write it while TOSTOP is set.
    /// Its group gets SIGTTIN (SIGTTOU) and the call restarts once it is
    /// continued; with the signal ignored or blocked a read fails with EIO
    /// and a write goes ahead, as on Linux.
    fn background_check(&self, sig: i32) -> SysResult<()> {
        let Some((p, th)) = crate::kernel::thread::current() else {
            return Ok(());
        };
        let (sid, pgid) = {
            let st = lock(&p.state);
            (st.sid, st.pgid)
        };
        let (session, fg, tostop) = {
            let st = lock(&self.pty.state);
            (
                st.session,
                st.fg_pgrp,
                st.ld.termios.lflag & libc::TOSTOP != 0,
            )
        };
        if session == 0 || session != sid || fg <= 0 || fg == pgid {
            return Ok(());
        }
        if sig == libc::SIGTTOU && !tostop {
            return Ok(());
        }
        let ignored = lock(&p.sig).actions[sig as usize].handler == SIG_IGN;
        let blocked = th.mask() & (1u64 << (sig - 1)) != 0;
        if ignored || blocked {
            return if sig == libc::SIGTTIN {
                err(libc::EIO)
            } else {
                Ok(())
            };
        }
        let Some(k) = crate::kernel::get() else {
            return Ok(());
        };
        // An orphaned group would stay stopped forever: EIO instead.
        if k.pgrp_orphaned(pgid, 0) {
            return err(libc::EIO);
        }
        k.signal_group(pgid, SigInfo::new(sig, SI_KERNEL));
        Err(Errno::ERESTARTSYS)
    }
}

impl FileOps for Slave {
    fn read(&self, buf: &mut [u8], _off: u64) -> SysResult<usize> {
        self.background_check(libc::SIGTTIN)?;
        let mut st = lock(&self.pty.state);
        if let Some(n) = st.ld.read(buf) {
            drop(st);
            self.pty.seq.bump();
            return Ok(n);
        }
        if !st.master_open {
            return err(libc::EIO);
        }
        err(libc::EAGAIN)
    }

    fn write(&self, buf: &[u8], _off: u64) -> SysResult<usize> {
        self.background_check(libc::SIGTTOU)?;
        let mut st = lock(&self.pty.state);
        if !st.master_open {
            return err(libc::EIO);
        }
        let n = st.ld.write_output(buf);
        drop(st);
        if n == 0 && !buf.is_empty() {
            return err(libc::EAGAIN);
        }
        self.pty.seq.bump();
        Ok(n)
    }

    fn stat(&self) -> SysResult<Stat> {
        super::devpts::SlaveNode::new(self.pty.clone()).stat()
    }

    fn ioctl(&self, t: &mut Task, req: u64, arg: u64) -> SysResult<u64> {
        super::ioctl::tty_ioctl(&self.pty, false, t, req, arg)
    }

    fn poll(&self) -> i16 {
        let st = lock(&self.pty.state);
        if !st.master_open {
            return libc::POLLIN
                | libc::POLLOUT
                | libc::POLLRDNORM
                | libc::POLLWRNORM
                | libc::POLLHUP
                | libc::POLLERR;
        }
        let mut r = 0;
        if st.ld.readable() {
            r |= libc::POLLIN | libc::POLLRDNORM;
        }
        if !st.ld.output_full() {
            r |= libc::POLLOUT | libc::POLLWRNORM;
        }
        r
    }

    fn event_seq(&self) -> u64 {
        self.pty.seq.get()
    }

    fn tty_index(&self) -> Option<u32> {
        Some(self.pty.index)
    }

    fn release(&self) {
        lock(&self.pty.state).slaves -= 1;
        self.pty.seq.bump();
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}
