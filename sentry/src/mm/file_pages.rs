//! The pages of a file, in the memory file: what a shared mapping of the
//! file maps, so that every mapping and every read(2)/write(2) of the file
//! see the same bytes (Linux's page cache, in the Sentry).
//!
//! A file's data is kept in chunks of [`CHUNK`] bytes, each a contiguous
//! range of the memory file allocated the first time the chunk is written
//! or mapped. The memory file is sparse, so a chunk costs host memory only
//! for the pages that were touched. tmpfs files keep their data here; a
//! host file gets such a cache while it is mapped shared
//! (`fs/host_cache.rs`), filled from the host file chunk by chunk.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::memfile::{Backing, MemoryFile};
use crate::errno::{Errno, SysResult};

/// Bytes per chunk: large enough that a mapping is a few platform calls,
/// small enough that the memory file's address space lasts.
pub const CHUNK: u64 = 2 << 20;

/// Fills a chunk the first time it is needed (a host file's cache reads
/// the file; tmpfs has no source and starts from zeros).
pub trait PageSource: Send + Sync {
    /// Copies the file's bytes at `off` into `buf`, which reads as zero
    /// already; holes of the file may be skipped, so they cost no memory.
    fn fill(&self, off: u64, buf: &mut [u8]);
}

/// Something a shared file mapping maps: the file's pages, and what to do
/// when the application asks for them to be written back.
pub trait Mappable: Send + Sync {
    fn pages(&self) -> &FilePages;
    /// Writes modified pages back to where the file lives (msync, fsync).
    fn sync(&self) -> SysResult<()> {
        Ok(())
    }
}

struct State {
    size: u64,
    chunks: BTreeMap<u64, Backing>,
}

pub struct FilePages {
    file: Arc<MemoryFile>,
    state: Mutex<State>,
    source: Option<Box<dyn PageSource>>,
}

impl FilePages {
    pub fn new(file: Arc<MemoryFile>, size: u64, source: Option<Box<dyn PageSource>>) -> Self {
        FilePages {
            file,
            state: Mutex::new(State {
                size,
                chunks: BTreeMap::new(),
            }),
            source,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn size(&self) -> u64 {
        self.lock().size
    }

    /// The memory-file offset of the chunk `idx`, allocating (and filling)
    /// it when `create`; None for a chunk never touched (reads as zeros),
    /// or when the memory file is exhausted.
    fn chunk(&self, st: &mut State, idx: u64, create: bool) -> Option<u64> {
        if let Some(b) = st.chunks.get(&idx) {
            return Some(b.off);
        }
        if !create {
            return None;
        }
        let b = self.file.allocate_for_file(CHUNK)?;
        if let Some(src) = &self.source {
            // SAFETY: the chunk was just allocated for us and nobody maps it yet.
            let buf = unsafe { self.file.slice(b.off, CHUNK as usize) };
            src.fill(idx * CHUNK, buf);
        }
        let off = b.off;
        st.chunks.insert(idx, b);
        Some(off)
    }

    /// Calls `f(file_off, memfile_off, len)` for the chunk-contiguous pieces
    /// of `[off, off+len)`, allocating chunks as needed (ENOMEM when the
    /// memory file is exhausted).
    pub fn runs(&self, off: u64, len: u64, mut f: impl FnMut(u64, u64, u64)) -> SysResult<()> {
        let mut st = self.lock();
        let end = off.checked_add(len).ok_or(Errno(libc::EFAULT))?;
        let mut pos = off;
        while pos < end {
            let idx = pos / CHUNK;
            let within = pos % CHUNK;
            let n = (CHUNK - within).min(end - pos);
            let base = self.chunk(&mut st, idx, true).ok_or(Errno(libc::ENOMEM))?;
            f(pos, base + within, n);
            pos += n;
        }
        Ok(())
    }

    /// The memory-file offset behind file offset `off` (a futex's name).
    pub fn offset_of(&self, off: u64) -> Option<u64> {
        let mut st = self.lock();
        let base = self.chunk(&mut st, off / CHUNK, true)?;
        Some(base + off % CHUNK)
    }

    /// Reads up to the end of the file; returns the byte count.
    pub fn read(&self, buf: &mut [u8], off: u64) -> usize {
        let mut st = self.lock();
        if off >= st.size {
            return 0;
        }
        let n = (buf.len() as u64).min(st.size - off) as usize;
        let mut done = 0;
        while done < n {
            let pos = off + done as u64;
            let within = (pos % CHUNK) as usize;
            let k = (CHUNK as usize - within).min(n - done);
            // A source must fill the chunk to read it; a tmpfs hole is zeros.
            match self.chunk(&mut st, pos / CHUNK, self.source.is_some()) {
                // SAFETY: the chunk belongs to this file while `st` is held.
                Some(base) => buf[done..done + k]
                    .copy_from_slice(unsafe { self.file.slice(base + within as u64, k) }),
                None => {
                    buf[done..done + k].fill(0);
                    // The memory file is exhausted: read around the cache.
                    if let Some(src) = &self.source {
                        src.fill(pos, &mut buf[done..done + k]);
                    }
                }
            }
            done += k;
        }
        n
    }

    /// Writes `data` at `off`, growing the file when it ends past the end.
    pub fn write(&self, data: &[u8], off: u64) -> SysResult<()> {
        let end = off
            .checked_add(data.len() as u64)
            .ok_or(Errno(libc::EFBIG))?;
        let mut st = self.lock();
        let mut done = 0;
        while done < data.len() {
            let pos = off + done as u64;
            let within = (pos % CHUNK) as usize;
            let k = (CHUNK as usize - within).min(data.len() - done);
            let base = self
                .chunk(&mut st, pos / CHUNK, true)
                .ok_or(Errno(libc::ENOSPC))?;
            // SAFETY: the chunk belongs to this file while `st` is held.
            unsafe { self.file.slice(base + within as u64, k) }
                .copy_from_slice(&data[done..done + k]);
            done += k;
        }
        st.size = st.size.max(end);
        Ok(())
    }

    /// Copies `data` into the chunks that exist already, without growing
    /// the file (a host cache following a write the host file received).
    pub fn update_loaded(&self, data: &[u8], off: u64) {
        let mut st = self.lock();
        let mut done = 0;
        while done < data.len() {
            let pos = off + done as u64;
            let within = (pos % CHUNK) as usize;
            let k = (CHUNK as usize - within).min(data.len() - done);
            if let Some(base) = self.chunk(&mut st, pos / CHUNK, false) {
                // SAFETY: the chunk belongs to this file while `st` is held.
                unsafe { self.file.slice(base + within as u64, k) }
                    .copy_from_slice(&data[done..done + k]);
            }
            done += k;
        }
        let end = off.saturating_add(data.len() as u64);
        st.size = st.size.max(end);
    }

    /// Sets the size. Bytes past a shrunk end are zeroed (and whole chunks'
    /// pages given back), so growing again shows zeros as on Linux; the
    /// chunks stay allocated because mappings may still name them.
    pub fn set_size(&self, len: u64) {
        let mut st = self.lock();
        if len < st.size {
            let old = st.size;
            for (&idx, b) in st.chunks.range(len / CHUNK..) {
                let cstart = idx * CHUNK;
                if cstart >= old {
                    break;
                }
                let from = len.max(cstart) - cstart;
                let to = (old - cstart).min(CHUNK);
                zero(&self.file, b.off + from, to - from);
            }
        }
        st.size = len;
    }

    /// Calls `f(file_off, bytes)` for the populated bytes of every chunk
    /// below the end of the file (write-back of a host cache): pages never
    /// filled nor written are holes of the memory file and are skipped.
    pub fn for_each_loaded(&self, mut f: impl FnMut(u64, &[u8])) {
        let st = self.lock();
        for (&idx, b) in &st.chunks {
            let start = idx * CHUNK;
            if start >= st.size {
                break;
            }
            let n = (st.size - start).min(CHUNK);
            self.file.for_each_populated(b.off, n, |m, k| {
                // SAFETY: the chunk belongs to this file while `st` is held.
                f(start + (m - b.off), unsafe {
                    self.file.slice(m, k as usize)
                });
            });
        }
    }
}

impl Mappable for FilePages {
    fn pages(&self) -> &FilePages {
        self
    }
}

/// Zeroes `[off, off+len)` of the memory file: whole pages are punched
/// (given back to the host), partial ones cleared.
fn zero(file: &MemoryFile, off: u64, len: u64) {
    let end = off + len;
    let first = super::page_up(off).unwrap_or(end).min(end);
    let last = super::page_down(end).max(first);
    // SAFETY: the ranges lie inside a chunk the caller holds.
    unsafe {
        file.slice(off, (first - off) as usize).fill(0);
        file.slice(last, (end - last) as usize).fill(0);
    }
    if last > first {
        file.punch(first, last - first);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pages() -> FilePages {
        FilePages::new(MemoryFile::new().expect("memory file"), 0, None)
    }

    #[test]
    fn write_read_across_chunks() {
        let p = pages();
        let data: Vec<u8> = (0..3 * CHUNK + 10).map(|i| (i % 251) as u8).collect();
        p.write(&data[5..], 5).expect("write");
        assert_eq!(p.size(), data.len() as u64);
        let mut back = vec![0xffu8; data.len()];
        assert_eq!(p.read(&mut back, 0), data.len());
        assert_eq!(&back[..5], &[0u8; 5]);
        assert_eq!(&back[5..], &data[5..]);
    }

    #[test]
    fn shrink_then_grow_reads_zeros() {
        let p = pages();
        p.write(&[7u8; 10000], 0).expect("write");
        p.set_size(100);
        p.set_size(10000);
        let mut back = vec![1u8; 10000];
        assert_eq!(p.read(&mut back, 0), 10000);
        assert!(back[..100].iter().all(|&b| b == 7));
        assert!(back[100..].iter().all(|&b| b == 0));
    }

    #[test]
    fn holes_read_as_zero_without_allocating() {
        let p = pages();
        p.write(b"x", 5 * CHUNK).expect("write");
        let mut back = vec![1u8; 16];
        assert_eq!(p.read(&mut back, CHUNK), 16);
        assert!(back.iter().all(|&b| b == 0));
        assert_eq!(p.lock().chunks.len(), 1);
    }

    #[test]
    fn runs_split_at_chunk_boundaries() {
        let p = pages();
        let mut pieces = Vec::new();
        p.runs(CHUNK - 4096, 8192, |f, _, n| pieces.push((f, n)))
            .expect("runs");
        assert_eq!(pieces, vec![(CHUNK - 4096, 4096), (CHUNK, 4096)]);
    }
}
