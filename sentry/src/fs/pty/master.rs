//! The master side of a pty (what /dev/ptmx opens): writes are the
//! slave's input, reads are the slave's output.

use std::sync::Arc;

use super::Pty;
use crate::errno::{err, SysResult};
use crate::kernel::process::lock;
use crate::kernel::task::Task;
use crate::vfs::{FileOps, FileType, Stat};

pub struct Master {
    pty: Arc<Pty>,
}

impl Master {
    pub fn new(pty: Arc<Pty>) -> Master {
        Master { pty }
    }
}

impl FileOps for Master {
    fn read(&self, buf: &mut [u8], _off: u64) -> SysResult<usize> {
        let mut st = lock(&self.pty.state);
        let n = st.ld.read_output(buf);
        if n > 0 {
            drop(st);
            self.pty.seq.bump();
            return Ok(n);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        // Every slave gone after one was opened: the other side hung up.
        if st.slave_opened && st.slaves == 0 {
            return err(libc::EIO);
        }
        err(libc::EAGAIN)
    }

    fn write(&self, buf: &[u8], _off: u64) -> SysResult<usize> {
        let mut signals = Vec::new();
        let n = lock(&self.pty.state).ld.receive(buf, &mut signals);
        self.pty.seq.bump();
        self.pty.signal_foreground(&signals);
        if n == 0 && !buf.is_empty() {
            return err(libc::EAGAIN);
        }
        Ok(n)
    }

    fn stat(&self) -> SysResult<Stat> {
        let mut s = Stat::synthetic(self.pty.dev, 2, FileType::CharDevice, 0o666, 0);
        s.rdev = super::makedev(5, 2);
        Ok(s)
    }

    fn ioctl(&self, t: &mut Task, req: u64, arg: u64) -> SysResult<u64> {
        super::ioctl::tty_ioctl(&self.pty, true, t, req, arg)
    }

    fn poll(&self) -> i16 {
        let st = lock(&self.pty.state);
        let mut r = 0;
        if st.ld.output_len() > 0 {
            r |= libc::POLLIN | libc::POLLRDNORM;
        }
        if !st.ld.input_full() {
            r |= libc::POLLOUT | libc::POLLWRNORM;
        }
        if st.slave_opened && st.slaves == 0 {
            r |= libc::POLLHUP;
        }
        r
    }

    fn event_seq(&self) -> u64 {
        self.pty.seq.get()
    }

    fn release(&self) {
        self.pty.master_closed();
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}
