//! Open file descriptions: what a descriptor refers to.

use std::collections::BTreeMap;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use super::{DirEntry, Inode, Stat};
use crate::errno::{err, SysResult};
use crate::kernel::task::Task;

/// Where a blocked reader or writer waits for a file to become ready.
pub enum WaitOn {
    /// A host descriptor (stdio the runtime handed us): poll it.
    Host(RawFd),
    /// Sentry-internal state (pipes): wait for the kernel's event counter.
    Kernel,
}

/// The operations of an open file. `read`/`write` never block: they return
/// EAGAIN and the system call layer waits as `wait_on` says.
pub trait FileOps: Send + Sync {
    fn read(&self, _buf: &mut [u8], _off: u64) -> SysResult<usize> {
        err(libc::EINVAL)
    }
    fn write(&self, _buf: &[u8], _off: u64) -> SysResult<usize> {
        err(libc::EINVAL)
    }
    /// Whether reads and writes happen at a file position.
    fn seekable(&self) -> bool {
        false
    }
    /// Whether lseek may count from the end. Generated text files refuse
    /// it (EINVAL), as Linux's seq_lseek: they have no size.
    fn seek_end(&self) -> bool {
        true
    }
    /// lseek succeeds but the position stays 0 (Linux's memory devices:
    /// /dev/null, /dev/zero, /dev/full, /dev/random).
    fn fixed_position(&self) -> bool {
        false
    }
    /// mmap of it is anonymous memory, private or shared (/dev/zero).
    fn maps_as_anonymous(&self) -> bool {
        false
    }
    fn stat(&self) -> SysResult<Stat>;
    fn ioctl(&self, _task: &mut Task, _req: u64, _arg: u64) -> SysResult<u64> {
        err(libc::ENOTTY)
    }
    /// Current readiness as poll(2) bits.
    /// Ready events; a file without a poll method is always ready, with
    /// the NORM bits (Linux's DEFAULT_POLLMASK).
    fn poll(&self) -> i16 {
        libc::POLLIN | libc::POLLOUT | libc::POLLRDNORM | libc::POLLWRNORM
    }
    fn wait_on(&self) -> WaitOn {
        WaitOn::Kernel
    }
    fn truncate(&self, _len: u64) -> SysResult<()> {
        err(libc::EINVAL)
    }
    fn sync(&self) -> SysResult<()> {
        Ok(())
    }
    /// Called when the last descriptor referring to the description closes.
    fn release(&self) {}
    /// A tty's identity, for /proc/PID/stat and ttyname.
    fn tty_index(&self) -> Option<u32> {
        None
    }
    /// A counter that moves whenever the file's readiness may have changed
    /// (data in, data out, a hang-up). Edge-triggered epoll reports a ready
    /// file again only when it moved; 0 (the default) means the file keeps
    /// no counter and epoll falls back to the kernel's event counter, which
    /// never loses an edge but may report one extra time.
    fn event_seq(&self) -> u64 {
        0
    }
    /// The counter every readiness change of this file bumps, for a waiter
    /// to watch instead of the kernel-wide one (`events::Seq::watch`).
    /// None (the default): some change may not bump it, so waits that
    /// include this file sleep on the kernel-wide counter.
    fn wait_seq(&self) -> Option<&crate::kernel::events::Seq> {
        None
    }
    /// One write is one message (eventfd): a successful write ends the
    /// call even if it took fewer bytes than offered.
    fn whole_message(&self) -> bool {
        false
    }
    /// The concrete type, for calls that act on one kind of file
    /// (epoll_ctl, timerfd_settime, signalfd4 on an existing descriptor).
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
    /// The identity of the file's content, when the file system vouches
    /// that every change of the content changes it: the executable cache
    /// (mm/image_cache.rs) shares the pages of files that have one.
    fn content_id(&self) -> Option<crate::mm::image_cache::ContentId> {
        None
    }
    /// The file's pages, for a shared mapping of it, `writable` or not
    /// (ENODEV: the file cannot be mapped shared).
    fn mappable(&self, _writable: bool) -> SysResult<Arc<dyn crate::mm::Mappable>> {
        err(libc::ENODEV)
    }
    /// The socket behind a descriptor, for the socket system calls.
    fn as_socket(&self) -> Option<&crate::net::Socket> {
        None
    }
    /// What /proc/PID/fd/N opens for a file that has no inode of its own
    /// (a host descriptor the runtime passed as stdio).
    fn reopenable(&self) -> Option<Arc<dyn super::Inode>> {
        None
    }
}

/// An open file description, shared by dup'ed descriptors and across fork.
pub struct OpenFile {
    pub ops: Arc<dyn FileOps>,
    pub inode: Option<Arc<dyn Inode>>,
    /// The path it was opened by, for /proc/PID/fd.
    pub path: String,
    flags: AtomicI32,
    pub pos: Mutex<u64>,
    /// A directory's listing, taken at the first getdents64.
    pub dir_snapshot: Mutex<Option<Vec<DirEntry>>>,
    /// Identifies the description as the owner of flock and OFD locks.
    pub id: u64,
    /// Set once it took such a lock, so its last close releases them.
    pub locked: AtomicBool,
    /// The directory it was opened in and its name there, for inotify
    /// events a watch on that directory sees (set by open).
    pub parent: OnceLock<(Arc<dyn Inode>, String)>,
    /// Who receives its SIGIO (F_SETOWN): a pid, or minus a process group.
    owner: AtomicI32,
    /// The signal F_SETSIG chose (0: SIGIO without details).
    sigio_sig: AtomicI32,
}

impl OpenFile {
    pub fn new(
        ops: Arc<dyn FileOps>,
        inode: Option<Arc<dyn Inode>>,
        path: String,
        flags: i32,
    ) -> Arc<OpenFile> {
        let has_inode = inode.is_some();
        let f = Arc::new(OpenFile {
            ops,
            inode,
            path,
            flags: AtomicI32::new(flags & !libc::O_CLOEXEC),
            pos: Mutex::new(0),
            dir_snapshot: Mutex::new(None),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            locked: AtomicBool::new(false),
            parent: OnceLock::new(),
            owner: AtomicI32::new(0),
            sigio_sig: AtomicI32::new(0),
        });
        if has_inode {
            crate::kernel::process::lock(&LIVE).insert(f.id, Arc::downgrade(&f));
        }
        f
    }

    pub fn flags(&self) -> i32 {
        self.flags.load(Ordering::Relaxed)
    }

    /// F_GETOWN: a pid, or minus a process group (0: none).
    pub fn owner(&self) -> i32 {
        self.owner.load(Ordering::Relaxed)
    }

    pub fn set_owner(&self, owner: i32) {
        self.owner.store(owner, Ordering::Relaxed);
    }

    /// F_GETSIG.
    pub fn sigio_signal(&self) -> i32 {
        self.sigio_sig.load(Ordering::Relaxed)
    }

    pub fn set_sigio_signal(&self, sig: i32) {
        self.sigio_sig.store(sig, Ordering::Relaxed);
    }

    /// F_SETFL: only O_APPEND, O_NONBLOCK, O_ASYNC, O_DIRECT and O_NOATIME change.
    pub fn set_status_flags(&self, flags: i32) {
        let changeable =
            libc::O_APPEND | libc::O_NONBLOCK | libc::O_ASYNC | libc::O_DIRECT | libc::O_NOATIME;
        let old = self.flags();
        self.flags.store(
            (old & !changeable) | (flags & changeable),
            Ordering::Relaxed,
        );
    }

    pub fn readable(&self) -> bool {
        let acc = self.flags() & libc::O_ACCMODE;
        (acc == libc::O_RDONLY || acc == libc::O_RDWR) && self.flags() & libc::O_PATH == 0
    }

    pub fn writable(&self) -> bool {
        let acc = self.flags() & libc::O_ACCMODE;
        (acc == libc::O_WRONLY || acc == libc::O_RDWR) && self.flags() & libc::O_PATH == 0
    }

    pub fn nonblocking(&self) -> bool {
        self.flags() & libc::O_NONBLOCK != 0
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The open descriptions of files (those with an inode), weakly: a file
/// whose last name is gone lives on until its last close, and inotify's
/// IN_DELETE_SELF waits for that (fs/inotify.rs).
static LIVE: Mutex<BTreeMap<u64, Weak<OpenFile>>> = Mutex::new(BTreeMap::new());

/// The open descriptions of files right now. The caller drops them
/// outside any lock of its own: one may be the last reference.
pub fn open_files() -> Vec<Arc<OpenFile>> {
    crate::kernel::process::lock(&LIVE)
        .values()
        .filter_map(Weak::upgrade)
        .collect()
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        let closed = if self.writable() {
            crate::fs::inotify::IN_CLOSE_WRITE
        } else {
            crate::fs::inotify::IN_CLOSE_NOWRITE
        };
        crate::fs::inotify::on_open_file(self, closed);
        if self.locked.load(Ordering::Relaxed) {
            super::locks::release(super::locks::Owner::File(self.id), None);
        }
        self.ops.release();
        if let Some(inode) = &self.inode {
            crate::kernel::process::lock(&LIVE).remove(&self.id);
            crate::fs::inotify::on_last_close(&**inode);
        }
    }
}
