//! The memory file: one sparse memfd that holds all application memory.
//! The Sentry maps it whole into itself, so copying to or from the
//! application is a memcpy; platforms map ranges of it into address spaces.
//! Pages exist only once touched. Freed pages are zeroed and kept for the
//! next allocation up to a small budget (a fresh page costs a host page
//! fault, an allocation and a clearing, and punching it out another
//! system call); beyond that budget freeing punches holes.

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};

use super::PAGE_SIZE;
use crate::error::Error;

/// How much file space the Sentry reserves (address space only: pages are
/// allocated when touched).
const FILE_SIZE: u64 = 1 << 40;

/// How many bytes of freed pages stay in the file, zeroed, for reuse.
const WARM_BUDGET: u64 = 8 << 20;

pub struct MemoryFile {
    fd: OwnedFd,
    base: *mut u8,
    /// The file's size: no allocation goes beyond it.
    size: u64,
    free: Mutex<FreeSpace>,
    /// The allocations that hold files' pages (`allocate_for_file`):
    /// offset → length, so usage can tell file pages from anonymous ones.
    file_ranges: Mutex<BTreeMap<u64, u64>>,
}

/// The Sentry's one memory file, once made.
static GLOBAL: Mutex<Option<Arc<MemoryFile>>> = Mutex::new(None);

// SAFETY: `base` points at a shared mapping that lives as long as the
// MemoryFile; concurrent access to application memory is the application's
// business, as it is on Linux.
unsafe impl Send for MemoryFile {}
// SAFETY: see Send.
unsafe impl Sync for MemoryFile {}

#[derive(Default)]
struct FreeSpace {
    /// Free extents below `next`: offset → length.
    extents: BTreeMap<u64, u64>,
    next: u64,
    /// The pieces of free extents whose pages exist (zeroed): offset →
    /// length, disjoint; their total is `warm_bytes` (≤ WARM_BUDGET).
    warm: BTreeMap<u64, u64>,
    warm_bytes: u64,
}

impl FreeSpace {
    /// `[off, off+len)` is allocated again: its pages are no longer spare.
    fn take_warm(&mut self, off: u64, len: u64) {
        let end = off + len;
        let first = self
            .warm
            .range(..off)
            .next_back()
            .filter(|(&o, &l)| o + l > off)
            .map(|(&o, _)| o)
            .unwrap_or(off);
        let hit: Vec<(u64, u64)> = self.warm.range(first..end).map(|(&o, &l)| (o, l)).collect();
        for (o, l) in hit {
            self.warm.remove(&o);
            self.warm_bytes -= l;
            // Keep the parts outside the allocation.
            if o < off {
                self.warm.insert(o, off - o);
                self.warm_bytes += off - o;
            }
            if o + l > end {
                self.warm.insert(end, o + l - end);
                self.warm_bytes += o + l - end;
            }
        }
    }
}

impl MemoryFile {
    pub fn new() -> Result<Arc<MemoryFile>, Error> {
        Self::with_size(FILE_SIZE)
    }

    /// A memory file of `size` bytes (a multiple of the page size): the kvm
    /// platform's guest can map only so much of it.
    pub fn with_size(size: u64) -> Result<Arc<MemoryFile>, Error> {
        // SAFETY: memfd_create with a static NUL-terminated name.
        let fd = unsafe { libc::memfd_create(c"sandbox-memory".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(Error::MemoryFile(std::io::Error::last_os_error()));
        }
        // SAFETY: fd was just created and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: plain ftruncate on our own descriptor.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), size as i64) } != 0 {
            return Err(Error::MemoryFile(std::io::Error::last_os_error()));
        }
        // SAFETY: a fresh shared mapping of the whole file; nothing else is
        // mapped there since the kernel picks the address.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_NORESERVE,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(Error::MemoryFile(std::io::Error::last_os_error()));
        }
        Ok(Arc::new(MemoryFile {
            fd,
            base: base as *mut u8,
            size,
            free: Mutex::new(FreeSpace::default()),
            file_ranges: Mutex::new(BTreeMap::new()),
        }))
    }

    /// The Sentry's one memory file (the default size), created by the
    /// first caller unless [`MemoryFile::init_global`] made it (boot, before
    /// the jail); later callers, such as tmpfs, share it.
    pub fn global() -> Result<Arc<MemoryFile>, Error> {
        Self::global_with(MemoryFile::new)
    }

    /// Creates the Sentry's one memory file with `size` bytes (the kvm
    /// platform's memory slot); the existing one if there is one already.
    pub fn init_global(size: u64) -> Result<Arc<MemoryFile>, Error> {
        Self::global_with(|| MemoryFile::with_size(size))
    }

    fn global_with(
        make: impl FnOnce() -> Result<Arc<MemoryFile>, Error>,
    ) -> Result<Arc<MemoryFile>, Error> {
        let mut g = GLOBAL.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = g.as_ref() {
            return Ok(f.clone());
        }
        let f = make()?;
        *g = Some(f.clone());
        Ok(f)
    }

    /// The Sentry's memory file if it was made (never makes one).
    pub fn existing() -> Option<Arc<MemoryFile>> {
        GLOBAL.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The bytes of pages that exist: what the workload's memory costs the
    /// host, as a memory cgroup counts it (one fstat).
    pub fn usage(&self) -> u64 {
        // SAFETY: stat is plain data, filled by fstat.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat of our own descriptor into `st`.
        if unsafe { libc::fstat(self.fd.as_raw_fd(), &mut st) } == 0 {
            st.st_blocks as u64 * 512
        } else {
            0
        }
    }

    /// Of [`MemoryFile::usage`], the bytes of files' pages (two lseeks a
    /// populated piece of every file chunk: for /proc and memory.stat,
    /// not for every sysinfo).
    pub fn file_usage(&self) -> u64 {
        let ranges: Vec<(u64, u64)> = self
            .file_ranges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(&o, &l)| (o, l))
            .collect();
        let mut file = 0;
        for (off, len) in ranges {
            self.for_each_populated(off, len, |_, n| file += n);
        }
        file
    }

    /// As [`MemoryFile::allocate`], for a file's pages (counted as file
    /// memory rather than anonymous memory).
    pub fn allocate_for_file(self: &Arc<Self>, len: u64) -> Option<Backing> {
        let b = self.allocate(len)?;
        self.file_ranges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(b.off, b.len);
        Some(b)
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Reserves `len` bytes (a multiple of the page size) of file space.
    pub fn allocate(self: &Arc<Self>, len: u64) -> Option<Backing> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        let found = free
            .extents
            .iter()
            .find(|(_, &l)| l >= len)
            .map(|(&o, &l)| (o, l));
        let off = match found {
            Some((off, l)) => {
                free.extents.remove(&off);
                if l > len {
                    free.extents.insert(off + len, l - len);
                }
                free.take_warm(off, len);
                off
            }
            None => {
                let off = free.next;
                if off.checked_add(len)? > self.size {
                    return None;
                }
                free.next += len;
                free.take_warm(off, len);
                off
            }
        };
        Some(Backing {
            file: self.clone(),
            off,
            len,
        })
    }

    fn release(&self, off: u64, len: u64) {
        self.file_ranges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&off);
        let mut pieces = Vec::new();
        let mut populated = 0;
        self.for_each_populated(off, len, |o, n| {
            pieces.push((o, n));
            populated += n;
        });
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        if populated > 0 && free.warm_bytes + populated <= WARM_BUDGET {
            for &(o, n) in &pieces {
                // SAFETY: the range was this backing's, which is going
                // away: nobody maps it any more, and it is not free yet.
                unsafe { self.slice(o, n as usize) }.fill(0);
                free.warm.insert(o, n);
            }
            free.warm_bytes += populated;
        } else if populated > 0 {
            self.punch(off, len);
        }
        let (mut off, mut len) = (off, len);
        if let Some((&prev, &plen)) = free.extents.range(..off).next_back() {
            if prev + plen == off {
                free.extents.remove(&prev);
                off = prev;
                len += plen;
            }
        }
        if let Some(&nlen) = free.extents.get(&(off + len)) {
            free.extents.remove(&(off + len));
            len += nlen;
        }
        if off + len == free.next {
            free.next = off;
        } else {
            free.extents.insert(off, len);
        }
    }

    /// Gives the pages of `[off, off+len)` back to the host; they read as zero.
    pub fn punch(&self, off: u64, len: u64) {
        // SAFETY: fallocate on our own descriptor; failure only leaves the
        // pages allocated.
        unsafe {
            libc::fallocate(
                self.fd.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                off as i64,
                len as i64,
            );
        }
    }

    /// The Sentry's view of `len` bytes at file offset `off`.
    ///
    /// # Safety
    /// `[off, off+len)` must lie inside a backing the caller holds, and the
    /// caller must not keep the slice across calls that could free it.
    #[allow(clippy::mut_from_ref)] // a view into the shared mapping, not into self
    pub unsafe fn slice(&self, off: u64, len: usize) -> &mut [u8] {
        std::slice::from_raw_parts_mut(self.base.add(off as usize), len)
    }

    /// Copies the populated parts of `[src, src+len)` to `dst` (which must
    /// read as zero), skipping holes so sparse memory stays sparse.
    pub fn copy_populated(&self, src: u64, dst: u64, len: u64) {
        self.for_each_populated(src, len, |data, n| {
            // SAFETY: both ranges lie within backings the caller holds and
            // do not overlap (distinct allocations).
            unsafe {
                std::ptr::copy_nonoverlapping(
                    self.base.add(data as usize),
                    self.base.add((dst + data - src) as usize),
                    n as usize,
                );
            }
        });
    }

    /// Calls `f(off, len)` for the populated (not hole) pieces of
    /// `[start, start+len)`.
    pub fn for_each_populated(&self, start: u64, len: u64, mut f: impl FnMut(u64, u64)) {
        for_each_data(self.fd.as_raw_fd(), start, start + len, |off, n| {
            f(off, n);
        });
    }
}

/// Calls `f(off, len)` for the pieces of `[start, end)` of the file `fd`
/// that hold data (SEEK_DATA/SEEK_HOLE), so holes are never read.
pub fn for_each_data(fd: RawFd, start: u64, end: u64, mut f: impl FnMut(u64, u64)) {
    let mut pos = start;
    while pos < end {
        // SAFETY: lseek on a descriptor the caller holds.
        let data = unsafe { libc::lseek(fd, pos as i64, libc::SEEK_DATA) };
        if data < 0 || data as u64 >= end {
            break;
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) };
        let hole = if hole < 0 {
            end
        } else {
            (hole as u64).min(end)
        };
        f(data as u64, hole - data as u64);
        pos = hole;
    }
}

impl Drop for MemoryFile {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping made in new(); nothing refers to it
        // once the last Arc is gone.
        unsafe { libc::munmap(self.base as *mut libc::c_void, self.size as usize) };
    }
}

/// A range of the memory file owned by one or more mappings; freed when the
/// last holder drops it.
pub struct Backing {
    file: Arc<MemoryFile>,
    pub off: u64,
    pub len: u64,
}

impl Backing {
    pub fn file(&self) -> &Arc<MemoryFile> {
        &self.file
    }
}

impl Drop for Backing {
    fn drop(&mut self) {
        self.file.release(self.off, self.len);
    }
}

const _: () = assert!(FILE_SIZE.is_multiple_of(PAGE_SIZE));

#[cfg(test)]
mod tests {
    use super::*;

    /// Freed pages kept for reuse read as zero in their next allocation,
    /// and pages past the budget are given back (read as zero too).
    #[test]
    fn reused_pages_read_as_zero() {
        let file = MemoryFile::new().expect("memory file");
        for len in [4 * PAGE_SIZE, 2 * WARM_BUDGET] {
            let a = file.allocate(len).expect("allocate");
            // SAFETY: `a` holds the range.
            unsafe { file.slice(a.off, len as usize) }.fill(0xa5);
            let off = a.off;
            drop(a);
            let b = file.allocate(len).expect("allocate");
            assert_eq!(b.off, off, "the freed range is reused");
            // SAFETY: `b` holds the range.
            assert!(unsafe { file.slice(b.off, len as usize) }
                .iter()
                .all(|&x| x == 0));
        }
        let free = file.free.lock().expect("free space");
        assert!(free.warm_bytes <= WARM_BUDGET);
    }

    #[test]
    fn a_partly_reused_warm_piece_keeps_the_rest() {
        let file = MemoryFile::new().expect("memory file");
        let a = file.allocate(8 * PAGE_SIZE).expect("allocate");
        // SAFETY: `a` holds the range.
        unsafe { file.slice(a.off, 8 * PAGE_SIZE as usize) }.fill(1);
        drop(a);
        let warm = file.free.lock().expect("free space").warm_bytes;
        assert_eq!(warm, 8 * PAGE_SIZE);
        let _b = file.allocate(3 * PAGE_SIZE).expect("allocate");
        let free = file.free.lock().expect("free space");
        assert_eq!(free.warm_bytes, 5 * PAGE_SIZE);
        assert_eq!(free.warm.values().sum::<u64>(), free.warm_bytes);
    }
}
