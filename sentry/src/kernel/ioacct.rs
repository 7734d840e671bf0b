//! Per-process I/O accounting, as /proc/PID/io shows it: characters read
//! and written through read(2)/write(2)-like calls on files, and how many
//! such calls were made. The Sentry sees no storage, so the block-layer
//! figures (read_bytes, write_bytes) stay 0.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Default)]
pub struct IoCounters {
    rchar: AtomicU64,
    wchar: AtomicU64,
    syscr: AtomicU64,
    syscw: AtomicU64,
}

impl IoCounters {
    pub fn read_chars(&self, n: usize) {
        self.rchar.fetch_add(n as u64, Relaxed);
    }
    pub fn wrote_chars(&self, n: usize) {
        self.wchar.fetch_add(n as u64, Relaxed);
    }
    pub fn read_call(&self) {
        self.syscr.fetch_add(1, Relaxed);
    }
    pub fn write_call(&self) {
        self.syscw.fetch_add(1, Relaxed);
    }

    /// The text of /proc/PID/io.
    pub fn text(&self) -> String {
        format!(
            "rchar: {}\nwchar: {}\nsyscr: {}\nsyscw: {}\nread_bytes: 0\nwrite_bytes: 0\ncancelled_write_bytes: 0\n",
            self.rchar.load(Relaxed),
            self.wchar.load(Relaxed),
            self.syscr.load(Relaxed),
            self.syscw.load(Relaxed),
        )
    }
}
