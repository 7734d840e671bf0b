//! Host descriptors the runtime hands the workload as stdio (a pipe from
//! containerd's shim, or the pty of a console). The Sentry reads and writes
//! them on the workload's behalf and answers terminal ioctls for them;
//! the workload never holds the host descriptor itself.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

use crate::errno::{err, SysResult};
use crate::kernel::process::lock;
use crate::kernel::task::Task;
use crate::vfs::file::WaitOn;
use crate::vfs::{FileOps, Inode, OpenCtx, Stat};

pub struct HostFd {
    me: std::sync::Weak<HostFd>,
    fd: OwnedFd,
    is_tty: bool,
    /// The foreground process group (TIOCGPGRP/TIOCSPGRP), kept by the Sentry.
    fg_pgrp: Mutex<i32>,
}

const TCGETS: u64 = 0x5401;
const TCSETS: u64 = 0x5402;
const TCSETSW: u64 = 0x5403;
const TCSETSF: u64 = 0x5404;
const TIOCSCTTY: u64 = 0x540e;
const TIOCGPGRP: u64 = 0x540f;
const TIOCSPGRP: u64 = 0x5410;
const TIOCGWINSZ: u64 = 0x5413;
const TIOCSWINSZ: u64 = 0x5414;
const TIOCNOTTY: u64 = 0x5422;
const FIONREAD: u64 = 0x541b;
/// sizeof(struct termios) as the kernel's ioctls use it.
const KTERMIOS: usize = 36;

impl HostFd {
    pub fn new(fd: OwnedFd) -> Arc<HostFd> {
        // SAFETY: isatty on a descriptor we own.
        let is_tty = unsafe { libc::isatty(fd.as_raw_fd()) } == 1;
        Arc::new_cyclic(|me| HostFd {
            me: me.clone(),
            fd,
            is_tty,
            fg_pgrp: Mutex::new(1),
        })
    }

    /// The process group the terminal's signals go to.
    pub fn foreground_pgrp(&self) -> i32 {
        *lock(&self.fg_pgrp)
    }

    pub fn is_tty(&self) -> bool {
        self.is_tty
    }

    fn host_ioctl(&self, req: u64, buf: &mut [u8]) -> SysResult<()> {
        // SAFETY: each request used here reads or writes at most buf.len() bytes.
        let r = unsafe { libc::ioctl(self.fd.as_raw_fd(), req as libc::c_ulong, buf.as_mut_ptr()) };
        if r < 0 {
            return crate::errno::last();
        }
        Ok(())
    }

    fn ready(&self, events: i16) -> i16 {
        let mut p = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events,
            revents: 0,
        };
        // SAFETY: poll on one valid pollfd without waiting.
        let n = unsafe { libc::poll(&mut p, 1, 0) };
        if n > 0 {
            p.revents
        } else {
            0
        }
    }
}

/// What /proc/PID/fd/N of a host descriptor that is not a terminal (the
/// runtime's stdio pipes or files) opens: the same host file, as Linux
/// reopens a pipe or file through its magic link (nginx opens
/// /dev/stderr, that is /proc/self/fd/2, with O_CREAT for its error log).
struct HostFdNode {
    host: Arc<HostFd>,
}

/// Whether `inode` is a host descriptor reached through /proc/PID/fd.
pub fn is_host_fd_node(inode: &dyn Inode) -> bool {
    inode.as_any().is::<HostFdNode>()
}

impl Inode for HostFdNode {
    fn stat(&self) -> SysResult<Stat> {
        self.host.stat()
    }
    fn open(self: Arc<Self>, _flags: i32, _ctx: &OpenCtx) -> SysResult<Arc<dyn FileOps>> {
        Ok(self.host.clone())
    }
    fn fs_id(&self) -> usize {
        // Host descriptors belong to no Sentry file system.
        usize::MAX - 1
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl FileOps for HostFd {
    fn reopenable(&self) -> Option<Arc<dyn Inode>> {
        if self.is_tty {
            return None;
        }
        Some(Arc::new(HostFdNode {
            host: self.me.upgrade()?,
        }))
    }

    fn read(&self, buf: &mut [u8], _off: u64) -> SysResult<usize> {
        if self.ready(libc::POLLIN) == 0 {
            return err(libc::EAGAIN);
        }
        match nix::unistd::read(self.fd.as_raw_fd(), buf) {
            Ok(n) => Ok(n),
            // A hung-up terminal reads as end of file.
            Err(nix::errno::Errno::EIO) if self.is_tty => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    fn write(&self, buf: &[u8], _off: u64) -> SysResult<usize> {
        Ok(nix::unistd::write(&self.fd, buf)?)
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(Stat::from_host(&nix::sys::stat::fstat(
            self.fd.as_raw_fd(),
        )?))
    }

    fn ioctl(&self, task: &mut Task, req: u64, arg: u64) -> SysResult<u64> {
        if !self.is_tty {
            return err(libc::ENOTTY);
        }
        match req {
            TCGETS => {
                let mut b = [0u8; KTERMIOS];
                self.host_ioctl(req, &mut b)?;
                task.mm.write(arg, &b)?;
            }
            TCSETS | TCSETSW | TCSETSF => {
                let mut b = [0u8; KTERMIOS];
                task.mm.read(arg, &mut b)?;
                self.host_ioctl(req, &mut b)?;
            }
            TIOCGWINSZ => {
                let mut b = [0u8; 8];
                self.host_ioctl(req, &mut b)?;
                task.mm.write(arg, &b)?;
            }
            TIOCSWINSZ => {
                let mut b = [0u8; 8];
                task.mm.read(arg, &mut b)?;
                self.host_ioctl(req, &mut b)?;
            }
            FIONREAD => {
                let mut b = [0u8; 4];
                self.host_ioctl(req, &mut b)?;
                task.mm.write(arg, &b)?;
            }
            TIOCGPGRP => {
                let pg = *lock(&self.fg_pgrp);
                task.mm.write(arg, &pg.to_le_bytes())?;
            }
            TIOCSPGRP => {
                let mut b = [0u8; 4];
                task.mm.read(arg, &mut b)?;
                *lock(&self.fg_pgrp) = i32::from_le_bytes(b);
            }
            TIOCSCTTY | TIOCNOTTY => {}
            _ => return err(libc::ENOTTY),
        }
        Ok(0)
    }

    fn poll(&self) -> i16 {
        self.ready(libc::POLLIN | libc::POLLOUT)
    }

    fn wait_on(&self) -> WaitOn {
        WaitOn::Host(self.fd.as_raw_fd())
    }

    fn tty_index(&self) -> Option<u32> {
        self.is_tty.then_some(0)
    }
}
