//! The executable cache: the read-only pages of program files, kept in the
//! memory file once and mapped copy-on-write (`Memory::Cow`) by every exec
//! and every private read-only mmap of the same file, as Linux maps them
//! from its page cache. Without it each exec of /bin/true copied the whole
//! program into fresh pages of the memory file (each first touch a host
//! page fault and a zeroed page) and handed them back at exit.
//!
//! A file is named by its content's identity ([`ContentId`]: device,
//! inode, size, modification and change times), which only the file
//! system can vouch for (`FileOps::content_id`); files whose content can
//! change without a new identity (mapped shared, synthetic) have none and
//! are copied as before. Cached pages never change: every mapping of them
//! is read-only and gets its own copy before it may be written.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex};

use super::memfile::{Backing, MemoryFile};
use crate::errno::{Errno, SysResult};

/// How many bytes of program pages the cache keeps; beyond that the least
/// recently used entries go (their pages live on while mapped).
const BUDGET: u64 = 64 << 20;

/// The identity of a file's content: a file that changes gets a new
/// modification or change time (a change time nobody can set back).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ContentId {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
}

/// A cached range: the file, its page-aligned offset and length.
type Key = (ContentId, u64, u64);

struct Entry {
    backing: Arc<Backing>,
    last_use: u64,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<Key, Entry>,
    /// The (device, inode) of every file with entries: writes ask.
    files: HashSet<(u64, u64)>,
    /// Counts `forget`s: pages read while one happened may be torn.
    forgotten: u64,
    bytes: u64,
    clock: u64,
}

fn cache() -> std::sync::MutexGuard<'static, Cache> {
    static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(Default::default);
    CACHE.lock().unwrap_or_else(|p| p.into_inner())
}

/// The pages of `[off, off+len)` (page-aligned) of the file `id`, in
/// `file`: from the cache, or read with `fill` (which gets a zeroed buffer
/// and may leave the tail past the end of the file zero) and cached.
pub fn pages(
    file: &Arc<MemoryFile>,
    id: ContentId,
    off: u64,
    len: u64,
    fill: impl FnOnce(&mut [u8]) -> SysResult<()>,
) -> SysResult<Arc<Backing>> {
    let key = (id, off, len);
    let forgotten = {
        let mut c = cache();
        c.clock += 1;
        let now = c.clock;
        if let Some(e) = c.entries.get_mut(&key) {
            // A test's own memory file never meets the Sentry's entries.
            if Arc::ptr_eq(e.backing.file(), file) {
                e.last_use = now;
                return Ok(e.backing.clone());
            }
        }
        c.forgotten
    };
    // Filled outside the lock: other execs need not wait for this read.
    let backing = Arc::new(file.allocate(len).ok_or(Errno(libc::ENOMEM))?);
    // SAFETY: the range was just allocated for us; nobody maps it yet.
    fill(unsafe { file.slice(backing.off, len as usize) })?;
    if len <= BUDGET {
        insert(key, backing.clone(), forgotten);
    }
    Ok(backing)
}

/// Drops the cached pages of the file (`dev`, `ino`): the Sentry changed
/// it. File times alone could miss a change made within one tick of the
/// host's clock; changes made through the Sentry never are.
pub fn forget(dev: u64, ino: u64) {
    let mut c = cache();
    c.forgotten += 1;
    if !c.files.contains(&(dev, ino)) {
        return;
    }
    c.files.remove(&(dev, ino));
    let mut freed = 0;
    c.entries.retain(|k, e| {
        let keep = k.0.dev != dev || k.0.ino != ino;
        if !keep {
            freed += e.backing.len;
        }
        keep
    });
    c.bytes -= freed;
}

/// Caches `backing` unless a file was changed while it was read.
fn insert(key: Key, backing: Arc<Backing>, forgotten: u64) {
    let mut c = cache();
    if c.forgotten != forgotten {
        return;
    }
    let id = key.0;
    // Older versions of the same file are of no use any more.
    let stale: Vec<Key> = c
        .entries
        .keys()
        .filter(|k| k.0.dev == id.dev && k.0.ino == id.ino && k.0 != id)
        .copied()
        .collect();
    for k in stale {
        if let Some(e) = c.entries.remove(&k) {
            c.bytes -= e.backing.len;
        }
    }
    let len = backing.len;
    let last_use = c.clock;
    if let Some(old) = c.entries.insert(key, Entry { backing, last_use }) {
        c.bytes -= old.backing.len;
    }
    c.bytes += len;
    c.files.insert((id.dev, id.ino));
    while c.bytes > BUDGET {
        let Some(oldest) = c
            .entries
            .iter()
            .min_by_key(|(_, e)| e.last_use)
            .map(|(k, _)| *k)
        else {
            break;
        };
        if let Some(e) = c.entries.remove(&oldest) {
            c.bytes -= e.backing.len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cache is global and a `forget` anywhere stops the insertion
    /// of a page read meanwhile: these tests take turns.
    fn serial() -> std::sync::MutexGuard<'static, ()> {
        static TURN: Mutex<()> = Mutex::new(());
        TURN.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn id(ino: u64, mtime: i64) -> ContentId {
        ContentId {
            dev: 1,
            ino,
            size: 8192,
            mtime: (mtime, 0),
            ctime: (mtime, 0),
        }
    }

    #[test]
    fn same_content_is_read_once() {
        let _turn = serial();
        let file = MemoryFile::new().expect("memory file");
        let reads = std::cell::Cell::new(0);
        let get = |mtime| {
            pages(&file, id(7, mtime), 0, 8192, |buf| {
                reads.set(reads.get() + 1);
                buf[0] = mtime as u8;
                Ok(())
            })
            .expect("pages")
        };
        let a = get(1);
        let b = get(1);
        assert!(Arc::ptr_eq(&a, &b));
        // A changed file (new mtime) is read again and shows its new bytes.
        let c = get(2);
        assert!(!Arc::ptr_eq(&a, &c));
        // SAFETY: `c` holds the range.
        assert_eq!(unsafe { file.slice(c.off, 1) }[0], 2);
        assert_eq!(reads.get(), 2);
    }

    #[test]
    fn forget_drops_a_written_file() {
        let _turn = serial();
        let file = MemoryFile::new().expect("memory file");
        let a = pages(&file, id(9, 1), 0, 4096, |_| Ok(())).expect("pages");
        forget(1, 9);
        let b = pages(&file, id(9, 1), 0, 4096, |_| Ok(())).expect("pages");
        assert!(!Arc::ptr_eq(&a, &b));
    }

    #[test]
    fn a_failed_fill_is_not_cached() {
        let _turn = serial();
        let file = MemoryFile::new().expect("memory file");
        let r = pages(&file, id(8, 1), 0, 4096, |_| Err(Errno(libc::EIO)));
        assert!(r.is_err());
        let ok = pages(&file, id(8, 1), 0, 4096, |_| Ok(()));
        assert!(ok.is_ok());
    }
}
