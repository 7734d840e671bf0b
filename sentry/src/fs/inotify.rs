//! inotify: watches on files and directories of the sandbox's file
//! systems, fed by the system calls that change them (only changes made
//! inside the sandbox are seen: the Sentry is the only writer it knows).
//!
//! A watch names a file by (st_dev, st_ino), so it holds whatever inode
//! object the file system hands out for it. The system call layer reports
//! each change once with [`on_child`] (events a directory sees about a
//! name in it) and [`on_file`] (events of a file itself, which also reach
//! a watch on its directory, named). When no watch exists anywhere, a
//! report costs one atomic load.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::eventfd::{anon_ino, anon_stat};
use crate::errno::{err, SysResult};
use crate::kernel::events::Seq;
use crate::kernel::process::lock;
use crate::kernel::task::Task;
use crate::vfs::{FileOps, FileType, Inode, OpenFile, Stat};

pub const IN_ACCESS: u32 = 0x1;
pub const IN_MODIFY: u32 = 0x2;
pub const IN_ATTRIB: u32 = 0x4;
pub const IN_CLOSE_WRITE: u32 = 0x8;
pub const IN_CLOSE_NOWRITE: u32 = 0x10;
pub const IN_OPEN: u32 = 0x20;
pub const IN_MOVED_FROM: u32 = 0x40;
pub const IN_MOVED_TO: u32 = 0x80;
pub const IN_CREATE: u32 = 0x100;
pub const IN_DELETE: u32 = 0x200;
pub const IN_DELETE_SELF: u32 = 0x400;
pub const IN_MOVE_SELF: u32 = 0x800;
pub const IN_Q_OVERFLOW: u32 = 0x4000;
pub const IN_IGNORED: u32 = 0x8000;
pub const IN_ONLYDIR: u32 = 0x0100_0000;
pub const IN_DONT_FOLLOW: u32 = 0x0200_0000;
pub const IN_EXCL_UNLINK: u32 = 0x0400_0000;
pub const IN_MASK_CREATE: u32 = 0x1000_0000;
pub const IN_MASK_ADD: u32 = 0x2000_0000;
pub const IN_ISDIR: u32 = 0x4000_0000;
pub const IN_ONESHOT: u32 = 0x8000_0000;
/// Every event a watch may ask for.
pub const ALL_EVENTS: u32 = 0xfff;
/// The flags inotify_add_watch accepts.
pub const VALID: u32 = ALL_EVENTS
    | IN_ONLYDIR
    | IN_DONT_FOLLOW
    | IN_EXCL_UNLINK
    | IN_MASK_CREATE
    | IN_MASK_ADD
    | IN_ISDIR
    | IN_ONESHOT;

/// Linux's fs.inotify.max_queued_events: beyond it, IN_Q_OVERFLOW.
pub const MAX_QUEUED: usize = 16384;
/// The fixed part of struct inotify_event.
const EVENT_SIZE: usize = 16;

/// A file's identity: (st_dev, st_ino).
type Key = (u64, u64);

struct Watch {
    key: Key,
    mask: u32,
}

#[derive(PartialEq)]
struct Event {
    wd: i32,
    mask: u32,
    cookie: u32,
    name: String,
}

impl Event {
    /// Its size as read(2) returns it: the name is NUL-padded to a
    /// multiple of the header size.
    fn len(&self) -> usize {
        EVENT_SIZE + self.name_len()
    }

    fn name_len(&self) -> usize {
        if self.name.is_empty() {
            0
        } else {
            (self.name.len() + 1).div_ceil(EVENT_SIZE) * EVENT_SIZE
        }
    }
}

#[derive(Default)]
struct State {
    watches: BTreeMap<i32, Watch>,
    last_wd: i32,
    queue: VecDeque<Event>,
}

impl State {
    fn push(&mut self, e: Event) {
        // Linux merges an event identical to the last unread one.
        if self.queue.back() == Some(&e) {
            return;
        }
        if self.queue.len() >= MAX_QUEUED {
            if self.queue.back().map(|b| b.mask) != Some(IN_Q_OVERFLOW) {
                self.queue.push_back(Event {
                    wd: -1,
                    mask: IN_Q_OVERFLOW,
                    cookie: 0,
                    name: String::new(),
                });
            }
            return;
        }
        self.queue.push_back(e);
    }

    fn bytes(&self) -> usize {
        self.queue.iter().map(Event::len).sum()
    }
}

/// An inotify instance (the open file inotify_init1 returns).
pub struct Inotify {
    state: Mutex<State>,
    seq: Seq,
    ino: u64,
}

/// Every live instance, for delivery; and the number of watches there are.
static INSTANCES: Mutex<Vec<Weak<Inotify>>> = Mutex::new(Vec::new());
static WATCHES: AtomicUsize = AtomicUsize::new(0);
static COOKIE: AtomicU32 = AtomicU32::new(1);

impl Inotify {
    pub fn new() -> Arc<Inotify> {
        let i = Arc::new(Inotify {
            state: Mutex::new(State::default()),
            seq: Seq::default(),
            ino: anon_ino(),
        });
        let mut all = lock(&INSTANCES);
        all.retain(|w| w.strong_count() > 0);
        all.push(Arc::downgrade(&i));
        i
    }

    pub fn of(ops: &dyn FileOps) -> Option<&Inotify> {
        ops.as_any().and_then(|a| a.downcast_ref::<Inotify>())
    }

    /// inotify_add_watch on the file `inode`; returns the watch descriptor.
    pub fn add_watch(&self, inode: &dyn Inode, mask: u32) -> SysResult<i32> {
        let st = inode.stat()?;
        if mask & IN_ONLYDIR != 0 && st.file_type() != FileType::Directory {
            return err(libc::ENOTDIR);
        }
        let key = (st.dev, st.ino);
        let mut s = lock(&self.state);
        let keep = mask & !(IN_MASK_ADD | IN_MASK_CREATE | IN_ONLYDIR | IN_DONT_FOLLOW);
        if let Some((&wd, w)) = s.watches.iter_mut().find(|(_, w)| w.key == key) {
            if mask & IN_MASK_CREATE != 0 {
                return err(libc::EEXIST);
            }
            w.mask = if mask & IN_MASK_ADD != 0 {
                w.mask | keep
            } else {
                keep
            };
            return Ok(wd);
        }
        // Descriptors count up and are not reused soon, as Linux's.
        let wd = s.last_wd.checked_add(1).unwrap_or(1);
        s.last_wd = wd;
        s.watches.insert(wd, Watch { key, mask: keep });
        WATCHES.fetch_add(1, Ordering::Relaxed);
        Ok(wd)
    }

    /// inotify_rm_watch: the watch goes, and IN_IGNORED tells the reader.
    pub fn rm_watch(&self, wd: i32) -> SysResult<()> {
        let mut s = lock(&self.state);
        if s.watches.remove(&wd).is_none() {
            return err(libc::EINVAL);
        }
        WATCHES.fetch_sub(1, Ordering::Relaxed);
        s.push(Event {
            wd,
            mask: IN_IGNORED,
            cookie: 0,
            name: String::new(),
        });
        drop(s);
        self.seq.bump();
        Ok(())
    }

    /// Queues `mask` for every watch on `key` that asked for it; `gone`
    /// (the file was deleted) then removes the watches with IN_IGNORED.
    fn deliver(&self, key: Key, mask: u32, cookie: u32, name: &str, gone: bool) {
        let mut s = lock(&self.state);
        let hits: Vec<(i32, u32)> = s
            .watches
            .iter()
            .filter(|(_, w)| w.key == key)
            .map(|(&wd, w)| (wd, w.mask))
            .collect();
        if hits.is_empty() {
            return;
        }
        for (wd, wmask) in hits {
            let wanted = wmask & mask & ALL_EVENTS != 0;
            if wanted {
                s.push(Event {
                    wd,
                    mask: mask & (ALL_EVENTS | IN_ISDIR),
                    cookie,
                    name: name.to_string(),
                });
            }
            if gone || (wanted && wmask & IN_ONESHOT != 0) {
                s.watches.remove(&wd);
                WATCHES.fetch_sub(1, Ordering::Relaxed);
                s.push(Event {
                    wd,
                    mask: IN_IGNORED,
                    cookie: 0,
                    name: String::new(),
                });
            }
        }
        drop(s);
        self.seq.bump();
    }
}

impl Drop for Inotify {
    fn drop(&mut self) {
        let n = lock(&self.state).watches.len();
        WATCHES.fetch_sub(n, Ordering::Relaxed);
    }
}

impl FileOps for Inotify {
    fn read(&self, buf: &mut [u8], _off: u64) -> SysResult<usize> {
        let mut s = lock(&self.state);
        let Some(first) = s.queue.front() else {
            return err(libc::EAGAIN);
        };
        if first.len() > buf.len() {
            return err(libc::EINVAL);
        }
        let mut n = 0;
        while let Some(e) = s.queue.front() {
            if n + e.len() > buf.len() {
                break;
            }
            let out = &mut buf[n..n + e.len()];
            out[..4].copy_from_slice(&e.wd.to_ne_bytes());
            out[4..8].copy_from_slice(&e.mask.to_ne_bytes());
            out[8..12].copy_from_slice(&e.cookie.to_ne_bytes());
            out[12..16].copy_from_slice(&(e.name_len() as u32).to_ne_bytes());
            out[16..].fill(0);
            out[16..16 + e.name.len()].copy_from_slice(e.name.as_bytes());
            n += e.len();
            s.queue.pop_front();
        }
        drop(s);
        self.seq.bump();
        Ok(n)
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(anon_stat(self.ino))
    }

    fn poll(&self) -> i16 {
        if lock(&self.state).queue.is_empty() {
            0
        } else {
            libc::POLLIN | libc::POLLRDNORM
        }
    }

    fn ioctl(&self, task: &mut Task, req: u64, arg: u64) -> SysResult<u64> {
        if req != libc::FIONREAD {
            return err(libc::ENOTTY);
        }
        let n = lock(&self.state).bytes() as i32;
        task.mm.write_obj(arg, &n)?;
        Ok(0)
    }

    fn event_seq(&self) -> u64 {
        self.seq.get()
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// The "inotify wd:..." lines of /proc/PID/fdinfo for an inotify file.
pub fn fdinfo(ops: &dyn FileOps) -> Option<String> {
    let i = Inotify::of(ops)?;
    let s = lock(&i.state);
    Some(
        s.watches
            .iter()
            .map(|(wd, w)| {
                format!(
                    "inotify wd:{wd} ino:{:x} sdev:{:x} mask:{:x} ignored_mask:0\n",
                    w.key.1, w.key.0, w.mask
                )
            })
            .collect(),
    )
}

/// Whether any watch exists (else every report is skipped at once).
pub fn active() -> bool {
    WATCHES.load(Ordering::Relaxed) > 0
}

/// A fresh cookie tying an IN_MOVED_FROM to its IN_MOVED_TO.
pub fn cookie() -> u32 {
    COOKIE.fetch_add(1, Ordering::Relaxed)
}

fn key_of(inode: &dyn Inode) -> Option<(Key, bool)> {
    let st = inode.stat().ok()?;
    Some(((st.dev, st.ino), st.file_type() == FileType::Directory))
}

fn broadcast(key: Key, mask: u32, cookie: u32, name: &str, gone: bool) {
    let all: Vec<Arc<Inotify>> = lock(&INSTANCES).iter().filter_map(Weak::upgrade).collect();
    for i in all {
        i.deliver(key, mask, cookie, name, gone);
    }
}

/// An event a directory sees about `name` in it (IN_CREATE, IN_DELETE,
/// IN_MOVED_FROM/TO); `is_dir` says whether `name` is a directory.
pub fn on_child(dir: &dyn Inode, name: &str, mask: u32, is_dir: bool, cookie: u32) {
    if !active() {
        return;
    }
    if let Some((key, _)) = key_of(dir) {
        let isdir = if is_dir { IN_ISDIR } else { 0 };
        broadcast(key, mask | isdir, cookie, name, false);
    }
}

/// An event of a file itself (IN_MODIFY, IN_ATTRIB, IN_OPEN, ...): its own
/// watches see it, and so does a watch on `parent`, with the file's name.
pub fn on_file(file: &dyn Inode, parent: Option<(&dyn Inode, &str)>, mask: u32) {
    if !active() {
        return;
    }
    let Some((key, is_dir)) = key_of(file) else {
        return;
    };
    let isdir = if is_dir { IN_ISDIR } else { 0 };
    broadcast(key, mask | isdir, 0, "", false);
    if let Some((dir, name)) = parent {
        if let Some((dkey, _)) = key_of(dir) {
            if dkey != key {
                broadcast(dkey, mask | isdir, 0, name, false);
            }
        }
    }
}

/// Files whose last name is gone while descriptions are still open on
/// them (key → is a directory): as on Linux, the file itself goes, with
/// IN_DELETE_SELF, at the last close.
static ORPHANS: Mutex<BTreeMap<Key, bool>> = Mutex::new(BTreeMap::new());
/// How many ORPHANS there are: a close costs one atomic load without any.
static ORPHAN_COUNT: AtomicUsize = AtomicUsize::new(0);

/// Whether any inotify instance watches the file `key`.
fn watched(key: Key) -> bool {
    let all: Vec<Arc<Inotify>> = lock(&INSTANCES).iter().filter_map(Weak::upgrade).collect();
    all.iter()
        .any(|i| lock(&i.state).watches.values().any(|w| w.key == key))
}

/// Whether an open description refers to the file `key`.
fn still_open(key: Key) -> bool {
    let files = crate::vfs::file::open_files();
    files
        .iter()
        .filter_map(|f| f.inode.as_ref())
        .any(|i| key_of(&**i).is_some_and(|(k, _)| k == key))
}

/// A file's last name is gone (its last link removed, a directory
/// removed, or replaced by a rename): IN_DELETE_SELF, and its watches end
/// with IN_IGNORED — now, or at its last close while it is still open.
/// `key` was taken before the removal (a removed file may no longer
/// stat).
pub fn on_gone(key: Option<(Key, bool)>) {
    let Some((key, is_dir)) = key else {
        return;
    };
    // Only a watched file's going is worth the look at every open file.
    if watched(key) && still_open(key) {
        let mut o = lock(&ORPHANS);
        o.insert(key, is_dir);
        ORPHAN_COUNT.store(o.len(), Ordering::Relaxed);
        return;
    }
    let isdir = if is_dir { IN_ISDIR } else { 0 };
    broadcast(key, IN_DELETE_SELF | isdir, 0, "", true);
}

/// A description of `inode` closed for the last time (after its
/// IN_CLOSE_*): if the file had lost its last name and no other
/// description is open on it, it is gone now.
pub fn on_last_close(inode: &dyn Inode) {
    if ORPHAN_COUNT.load(Ordering::Relaxed) == 0 {
        return;
    }
    let Some((key, _)) = key_of(inode) else {
        return;
    };
    // No lock held across still_open: dropping the descriptions it saw
    // may close one for the last time and come back here.
    let orphan = lock(&ORPHANS).contains_key(&key);
    if !orphan || still_open(key) {
        return;
    }
    let is_dir = {
        let mut o = lock(&ORPHANS);
        let d = o.remove(&key);
        ORPHAN_COUNT.store(o.len(), Ordering::Relaxed);
        d
    };
    if let Some(is_dir) = is_dir {
        let isdir = if is_dir { IN_ISDIR } else { 0 };
        broadcast(key, IN_DELETE_SELF | isdir, 0, "", true);
    }
}

/// The identity of a file, for [`on_gone`] after it is removed.
pub fn identity(inode: &dyn Inode) -> Option<(Key, bool)> {
    if active() {
        key_of(inode)
    } else {
        None
    }
}

/// An event of an open file (read, write, close): reported against the
/// directory it was opened in too, if known.
pub fn on_open_file(f: &OpenFile, mask: u32) {
    if !active() || f.flags() & libc::O_PATH != 0 {
        return;
    }
    let Some(inode) = f.inode.as_deref() else {
        return;
    };
    let parent = f.parent.get().map(|(d, n)| (&**d, n.as_str()));
    on_file(inode, parent, mask);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::tmpfs::TmpFs;
    use crate::vfs::Create;

    const C: Create = Create {
        mode: 0o644,
        uid: 0,
        gid: 0,
    };

    #[test]
    fn events_named_merged_and_sized() {
        let root = TmpFs::new_root(Some(1 << 20), 0o755);
        let i = Inotify::new();
        let wd = i.add_watch(&*root, IN_CREATE | IN_MODIFY).unwrap();
        assert!(wd > 0);
        let f = root.create("abc", C).unwrap();
        on_child(&*root, "abc", IN_CREATE, false, 0);
        // Two identical unread events become one.
        on_file(&*f, Some((&*root, "abc")), IN_MODIFY);
        on_file(&*f, Some((&*root, "abc")), IN_MODIFY);
        // Not asked for: not queued.
        on_file(&*f, Some((&*root, "abc")), IN_ATTRIB);
        assert_eq!(i.poll() & libc::POLLIN, libc::POLLIN);
        let mut small = [0u8; EVENT_SIZE + 4];
        assert_eq!(i.read(&mut small, 0), err(libc::EINVAL));
        let mut buf = [0u8; 256];
        // Each event: a header and "abc" NUL-padded to 16 bytes.
        assert_eq!(i.read(&mut buf, 0), Ok(2 * (EVENT_SIZE + 16)));
        assert_eq!(u32::from_ne_bytes(buf[4..8].try_into().unwrap()), IN_CREATE);
        assert_eq!(&buf[16..20], b"abc\0");
        assert_eq!(
            u32::from_ne_bytes(buf[36..40].try_into().unwrap()),
            IN_MODIFY
        );
        assert_eq!(i.read(&mut buf, 0), err(libc::EAGAIN));
        i.rm_watch(wd).unwrap();
        assert_eq!(i.read(&mut buf, 0), Ok(EVENT_SIZE));
        assert_eq!(
            u32::from_ne_bytes(buf[4..8].try_into().unwrap()),
            IN_IGNORED
        );
        assert_eq!(i.rm_watch(wd), err(libc::EINVAL));
    }

    #[test]
    fn oneshot_and_gone_end_the_watch() {
        let root = TmpFs::new_root(Some(1 << 20), 0o755);
        let f = root.create("x", C).unwrap();
        let i = Inotify::new();
        let wd = i.add_watch(&*f, IN_MODIFY | IN_ONESHOT).unwrap();
        on_file(&*f, None, IN_MODIFY);
        on_file(&*f, None, IN_MODIFY);
        let mut buf = [0u8; 256];
        assert_eq!(i.read(&mut buf, 0), Ok(2 * EVENT_SIZE));
        assert_eq!(
            u32::from_ne_bytes(buf[20..24].try_into().unwrap()),
            IN_IGNORED
        );
        let wd2 = i.add_watch(&*f, IN_DELETE_SELF).unwrap();
        assert!(wd2 > wd, "watch descriptors are not reused at once");
        on_gone(identity(&*f));
        assert_eq!(i.read(&mut buf, 0), Ok(2 * EVENT_SIZE));
        assert_eq!(
            u32::from_ne_bytes(buf[4..8].try_into().unwrap()),
            IN_DELETE_SELF
        );
        assert_eq!(
            u32::from_ne_bytes(buf[20..24].try_into().unwrap()),
            IN_IGNORED
        );
    }
}
