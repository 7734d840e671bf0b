//! The page cache of host files that are mapped shared.
//!
//! A shared mapping must show the same bytes as read(2) and write(2) of the
//! file, and the application's memory must live in the memory file (so
//! every platform can map it). While a host file is mapped shared, its
//! pages are therefore cached in the memory file ([`FilePages`], filled
//! from the host file chunk by chunk) and every read, write and truncate
//! the Sentry makes on that file goes through the cache as well: reads come
//! from it, writes go to the host file and to the cached chunks. Writes the
//! application makes through its mappings reach the host file on msync,
//! fsync, and when the last mapping goes away. Changes made to the host
//! file from outside the sandbox while it is mapped are not seen.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::errno::{Errno, SysResult};
use crate::mm::file_pages::PageSource;
use crate::mm::memfile::for_each_data;
use crate::mm::{FilePages, Mappable, MemoryFile};

/// Identifies a host file: its (device, inode) as the Sentry stats it.
pub type Key = (u64, u64);

pub struct HostCache {
    key: Key,
    pages: FilePages,
    /// A descriptor open for writing, once a writable mapping exists:
    /// where the mappings' writes go back.
    writer: Mutex<Option<Arc<OwnedFd>>>,
}

fn registry() -> std::sync::MutexGuard<'static, HashMap<Key, Weak<HostCache>>> {
    static CACHES: OnceLock<Mutex<HashMap<Key, Weak<HostCache>>>> = OnceLock::new();
    CACHES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// How many caches exist: every host read and write asks, and almost
/// always none does, so that answer costs one atomic load.
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// The cache of the host file `key`, if it is mapped shared now.
pub fn lookup(key: Key) -> Option<Arc<HostCache>> {
    if LIVE.load(Ordering::Acquire) == 0 {
        return None;
    }
    let weak = registry().get(&key).cloned();
    // Upgraded (and possibly dropped) outside the registry's lock: the
    // last drop takes that lock again.
    weak.and_then(|w| w.upgrade())
}

/// The cache of the host file open as `fd`, made on its first shared mapping.
pub fn get_or_create(key: Key, fd: &Arc<OwnedFd>, writable: bool) -> SysResult<Arc<HostCache>> {
    // Writes through the mappings change the file without the Sentry
    // seeing them: the executable cache lets go of it (and ignores it
    // while it is mapped: HostFile::content_id).
    crate::mm::image_cache::forget(key.0, key.1);
    let cache = {
        let mut reg = registry();
        match reg.get(&key).and_then(|w| w.upgrade()) {
            Some(c) => c,
            None => {
                let size = nix::sys::stat::fstat(fd.as_raw_fd())?.st_size as u64;
                let file = MemoryFile::global().map_err(|_| Errno(libc::ENOMEM))?;
                let source = Box::new(HostSource { fd: fd.clone() });
                let c = Arc::new(HostCache {
                    key,
                    pages: FilePages::new(file, size, Some(source)),
                    writer: Mutex::new(None),
                });
                reg.insert(key, Arc::downgrade(&c));
                LIVE.fetch_add(1, Ordering::AcqRel);
                c
            }
        }
    };
    if writable {
        let mut w = cache.writer.lock().unwrap_or_else(|p| p.into_inner());
        w.get_or_insert_with(|| fd.clone());
    }
    Ok(cache)
}

impl HostCache {
    /// read(2) of the cached file.
    pub fn read(&self, buf: &mut [u8], off: u64) -> usize {
        self.pages.read(buf, off)
    }

    /// Follows a write(2) that the host file received.
    pub fn wrote(&self, data: &[u8], off: u64) {
        self.pages.update_loaded(data, off);
    }

    /// Follows a truncate that the host file received.
    pub fn truncated(&self, len: u64) {
        self.pages.set_size(len);
    }

    fn write_back(&self) -> SysResult<()> {
        let writer = self
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Some(fd) = writer else {
            // Only read-only mappings: nothing can have changed.
            return Ok(());
        };
        let mut result = Ok(());
        self.pages.for_each_loaded(|off, bytes| {
            let mut done = 0;
            while result.is_ok() && done < bytes.len() {
                match nix::sys::uio::pwrite(&*fd, &bytes[done..], (off + done as u64) as i64) {
                    Ok(0) => result = Err(Errno(libc::EIO)),
                    Ok(n) => done += n,
                    Err(e) => result = Err(Errno(e as i32)),
                }
            }
        });
        result
    }
}

impl Mappable for HostCache {
    fn pages(&self) -> &FilePages {
        &self.pages
    }
    fn sync(&self) -> SysResult<()> {
        self.write_back()
    }
}

impl Drop for HostCache {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::AcqRel);
        if let Err(e) = self.write_back() {
            tracing::warn!("writing a shared mapping back to its host file failed: {e:?}");
        }
        let mut reg = registry();
        // A new cache for the same file may have replaced this one already.
        if reg.get(&self.key).is_some_and(|w| w.strong_count() == 0) {
            reg.remove(&self.key);
        }
    }
}

/// Fills chunks from the host file.
struct HostSource {
    fd: Arc<OwnedFd>,
}

impl PageSource for HostSource {
    fn fill(&self, off: u64, buf: &mut [u8]) {
        let end = off + buf.len() as u64;
        // Only the host file's data: its holes stay holes of the memory file.
        for_each_data(self.fd.as_raw_fd(), off, end, |data, len| {
            let piece = &mut buf[(data - off) as usize..(data - off + len) as usize];
            let mut done = 0;
            while done < piece.len() {
                match nix::sys::uio::pread(
                    &*self.fd,
                    &mut piece[done..],
                    (data + done as u64) as i64,
                ) {
                    Ok(0) => break,
                    Ok(n) => done += n,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => {
                        tracing::warn!("filling a host file's cache failed: {e}");
                        break;
                    }
                }
            }
        });
    }
}
