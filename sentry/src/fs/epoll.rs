//! epoll: an interest list of open file descriptions, scanned for readiness.
//!
//! There are no wait-queue callbacks in the Sentry: a waiter re-scans the
//! list whenever the kernel's event counter moves. Level-triggered entries
//! report while ready. Edge-triggered entries report once per change of the
//! file: its `event_seq` must have moved since the last report (or a new
//! readiness bit appeared), so the usual "read until EAGAIN, then wait" loop
//! neither spins nor misses data that arrived after the drain. Files that
//! keep no counter fall back to the kernel's event counter (see
//! `change_mark`): never a lost edge, at worst an extra report.
//!
//! Entries hold the file weakly: closing the last descriptor of a file
//! removes it from every interest list, as on Linux.

use std::sync::{Arc, Mutex, Weak};

use super::eventfd::{anon_ino, anon_stat};
use crate::errno::{err, SysResult};
use crate::kernel::events::{self, Seq};
use crate::kernel::process::lock;
use crate::vfs::file::WaitOn;
use crate::vfs::{FileOps, OpenFile, Stat};

pub const EPOLLIN: u32 = 0x001;
pub const EPOLLPRI: u32 = 0x002;
pub const EPOLLERR: u32 = 0x008;
pub const EPOLLHUP: u32 = 0x010;
pub const EPOLLRDNORM: u32 = 0x040;
pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
pub const EPOLLWAKEUP: u32 = 1 << 29;
pub const EPOLLONESHOT: u32 = 1 << 30;
pub const EPOLLET: u32 = 1 << 31;
/// The flags that are not readiness bits.
const CONTROL: u32 = EPOLLEXCLUSIVE | EPOLLWAKEUP | EPOLLONESHOT | EPOLLET;
/// Linux's limit on epoll files nested inside each other.
const MAX_NESTS: usize = 4;

struct Entry {
    fd: i32,
    file: Weak<OpenFile>,
    events: u32,
    data: u64,
    /// EPOLLONESHOT, after its report: silent until EPOLL_CTL_MOD.
    disabled: bool,
    /// Edge-triggered: (event_seq, readiness) at the last report.
    last: Option<(u64, u32)>,
}

impl Entry {
    /// What the entry would report now, if anything.
    fn pending(&self, file: &OpenFile) -> Option<u32> {
        if self.disabled {
            return None;
        }
        let ready =
            (file.ops.poll() as u16 as u32) & (self.events | EPOLLERR | EPOLLHUP) & !CONTROL;
        if ready == 0 {
            return None;
        }
        if self.events & EPOLLET != 0 {
            if let Some((mark, bits)) = self.last {
                let moved = change_mark(file) != mark;
                // A host descriptor's input arrives unseen by the Sentry's
                // counters: its input readiness is reported while it lasts
                // (an edge-triggered reader drains it anyway); output
                // readiness still reports on edges only.
                let host_input = matches!(file.ops.wait_on(), WaitOn::Host(_))
                    && ready & (EPOLLIN | EPOLLPRI | EPOLLRDNORM) != 0;
                if !moved && !host_input && ready & !bits == 0 {
                    return None;
                }
            }
        }
        Some(ready)
    }
}

/// What an edge-triggered entry compares between reports: the file's own
/// change counter, or for a file without one the kernel's event counter, a
/// safe over-approximation (at most one extra report per change anywhere,
/// never a lost one).
fn change_mark(file: &OpenFile) -> u64 {
    match file.ops.event_seq() {
        0 => events::generation(),
        seq => seq,
    }
}

pub struct Epoll {
    entries: Mutex<Vec<Entry>>,
    seq: Seq,
    ino: u64,
}

/// Serialises adding epoll files to epoll files, so the loop check holds.
static NESTING: Mutex<()> = Mutex::new(());

pub enum Ctl {
    Add,
    Mod,
    Del,
}

impl Default for Epoll {
    fn default() -> Self {
        Self::new()
    }
}

impl Epoll {
    pub fn new() -> Epoll {
        Epoll {
            entries: Mutex::new(Vec::new()),
            seq: Seq::default(),
            ino: anon_ino(),
        }
    }

    pub fn of(ops: &dyn FileOps) -> Option<&Epoll> {
        ops.as_any().and_then(|a| a.downcast_ref::<Epoll>())
    }

    /// The deepest chain of epoll files below this one (0: none nested).
    fn depth(&self, budget: usize) -> usize {
        if budget == 0 {
            return usize::MAX;
        }
        let children: Vec<Arc<OpenFile>> = lock(&self.entries)
            .iter()
            .filter_map(|e| e.file.upgrade())
            .collect();
        children
            .iter()
            .filter_map(|f| Epoll::of(&*f.ops))
            .map(|e| e.depth(budget - 1).saturating_add(1))
            .max()
            .unwrap_or(0)
    }

    /// Whether `target` is this epoll or reaches it through nested epolls.
    fn reaches(&self, target: &Epoll, budget: usize) -> bool {
        if std::ptr::eq(self, target) {
            return true;
        }
        if budget == 0 {
            return true;
        }
        let children: Vec<Arc<OpenFile>> = lock(&self.entries)
            .iter()
            .filter_map(|e| e.file.upgrade())
            .collect();
        children
            .iter()
            .filter_map(|f| Epoll::of(&*f.ops))
            .any(|e| e.reaches(target, budget - 1))
    }

    /// epoll_ctl, once the descriptors are resolved and checked.
    pub fn ctl(
        &self,
        op: Ctl,
        fd: i32,
        file: &Arc<OpenFile>,
        events: u32,
        data: u64,
    ) -> SysResult<()> {
        let nested = Epoll::of(&*file.ops);
        let _guard = nested.map(|_| lock(&NESTING));
        if let (Ctl::Add, Some(inner)) = (&op, nested) {
            if events & EPOLLEXCLUSIVE != 0 {
                return err(libc::EINVAL);
            }
            if inner.reaches(self, MAX_NESTS + 1) || inner.depth(MAX_NESTS + 1) >= MAX_NESTS {
                return err(libc::ELOOP);
            }
        }
        let mut entries = lock(&self.entries);
        entries.retain(|e| e.file.strong_count() > 0);
        let pos = entries
            .iter()
            .position(|e| e.fd == fd && std::ptr::eq(e.file.as_ptr(), Arc::as_ptr(file)));
        match op {
            Ctl::Add => {
                if pos.is_some() {
                    return err(libc::EEXIST);
                }
                entries.push(Entry {
                    fd,
                    file: Arc::downgrade(file),
                    // EPOLLWAKEUP needs CAP_BLOCK_SUSPEND and means nothing
                    // here: dropped silently, as Linux does without the cap.
                    events: events & !EPOLLWAKEUP,
                    data,
                    disabled: false,
                    last: None,
                });
            }
            Ctl::Mod => {
                let Some(i) = pos else {
                    return err(libc::ENOENT);
                };
                let e = &mut entries[i];
                if events & EPOLLEXCLUSIVE != 0 || e.events & EPOLLEXCLUSIVE != 0 {
                    return err(libc::EINVAL);
                }
                e.events = events & !EPOLLWAKEUP;
                e.data = data;
                e.disabled = false;
                // A modified entry is looked at afresh, edge-triggered or not.
                e.last = None;
            }
            Ctl::Del => {
                let Some(i) = pos else {
                    return err(libc::ENOENT);
                };
                entries.remove(i);
            }
        }
        drop(entries);
        self.seq.bump();
        Ok(())
    }

    /// Takes up to `max` events: edge-triggered entries remember what they
    /// reported, one-shot entries disarm, and level-triggered entries that
    /// reported go to the back of the list so a small `max` is still fair.
    pub fn collect(&self, max: usize) -> Vec<(u32, u64)> {
        let mut out = Vec::new();
        let mut entries = lock(&self.entries);
        entries.retain(|e| e.file.strong_count() > 0);
        let mut reported = Vec::new();
        for (i, e) in entries.iter_mut().enumerate() {
            if out.len() >= max {
                break;
            }
            let Some(file) = e.file.upgrade() else {
                continue;
            };
            let Some(ready) = e.pending(&file) else {
                continue;
            };
            out.push((ready, e.data));
            if e.events & EPOLLET != 0 {
                e.last = Some((change_mark(&file), ready));
            }
            if e.events & EPOLLONESHOT != 0 {
                e.disabled = true;
            }
            reported.push(i);
        }
        for (n, i) in reported.into_iter().enumerate() {
            let e = entries.remove(i - n);
            entries.push(e);
        }
        out
    }

    /// The entries' files when every one keeps a wait counter (see
    /// `FileOps::wait_seq`), for a waiter to watch them alone.
    pub fn watchable(&self) -> Option<Vec<Arc<OpenFile>>> {
        let entries = lock(&self.entries);
        let mut files = Vec::with_capacity(entries.len());
        for e in entries.iter() {
            let Some(f) = e.file.upgrade() else { continue };
            f.ops.wait_seq()?;
            files.push(f);
        }
        Some(files)
    }

    /// The counter epoll_ctl moves: a waiter watching the files must look
    /// at the list again.
    pub fn list_seq(&self) -> &Seq {
        &self.seq
    }

    /// A host descriptor among the entries, for a waiter to poll.
    pub fn host_wait(&self) -> Option<(i32, i16)> {
        lock(&self.entries).iter().find_map(|e| {
            let f = e.file.upgrade()?;
            match f.ops.wait_on() {
                WaitOn::Host(fd) => Some((fd, (e.events & 0xffff) as u16 as i16)),
                WaitOn::Kernel => None,
            }
        })
    }
}

impl FileOps for Epoll {
    fn stat(&self) -> SysResult<Stat> {
        Ok(anon_stat(self.ino))
    }

    /// Readable when an epoll_wait would return something (nesting).
    fn poll(&self) -> i16 {
        let entries = lock(&self.entries);
        let any = entries
            .iter()
            .any(|e| e.file.upgrade().is_some_and(|f| e.pending(&f).is_some()));
        if any {
            libc::POLLIN
        } else {
            0
        }
    }

    /// Moves when the list or any member changes; 0 (no counter) when a
    /// member keeps none, so nesting epolls inherit the fallback.
    fn event_seq(&self) -> u64 {
        let entries = lock(&self.entries);
        let mut sum = self.seq.get();
        for f in entries.iter().filter_map(|e| e.file.upgrade()) {
            match f.ops.event_seq() {
                0 => return 0,
                s => sum = sum.wrapping_add(s),
            }
        }
        sum
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::eventfd::EventFd;

    fn file(ops: Arc<dyn FileOps>) -> Arc<OpenFile> {
        OpenFile::new(ops, None, "anon".into(), libc::O_RDWR)
    }

    #[test]
    fn level_edge_and_oneshot() {
        let ev = Arc::new(EventFd::new(0, false));
        let f = file(ev.clone());
        let lt = Epoll::new();
        let et = Epoll::new();
        let one = Epoll::new();
        lt.ctl(Ctl::Add, 3, &f, EPOLLIN, 7).unwrap();
        et.ctl(Ctl::Add, 3, &f, EPOLLIN | EPOLLET, 8).unwrap();
        one.ctl(Ctl::Add, 3, &f, EPOLLIN | EPOLLONESHOT, 9).unwrap();
        assert_eq!(lt.ctl(Ctl::Add, 3, &f, EPOLLIN, 7), err(libc::EEXIST));
        assert!(lt.collect(8).is_empty());
        ev.write(&1u64.to_ne_bytes(), 0).unwrap();
        for _ in 0..2 {
            assert_eq!(lt.collect(8), vec![(EPOLLIN, 7)]);
        }
        assert_eq!(et.collect(8), vec![(EPOLLIN, 8)]);
        assert!(et.collect(8).is_empty());
        assert_eq!(one.collect(8), vec![(EPOLLIN, 9)]);
        assert!(one.collect(8).is_empty());
        // New data, still readable: edge-triggered reports again.
        ev.write(&1u64.to_ne_bytes(), 0).unwrap();
        assert_eq!(et.collect(8), vec![(EPOLLIN, 8)]);
        assert!(one.collect(8).is_empty());
        one.ctl(Ctl::Mod, 3, &f, EPOLLIN, 10).unwrap();
        assert_eq!(one.collect(8), vec![(EPOLLIN, 10)]);
    }

    /// A file without a change counter, always writable.
    struct Plain;
    impl FileOps for Plain {
        fn stat(&self) -> SysResult<Stat> {
            Ok(anon_stat(0))
        }
        fn poll(&self) -> i16 {
            libc::POLLOUT
        }
    }

    #[test]
    fn edge_fallback_reports_once_per_kernel_change() {
        let f = file(Arc::new(Plain));
        let et = Epoll::new();
        et.ctl(Ctl::Add, 3, &f, 0x004 | EPOLLET, 1).unwrap();
        // Other tests move the kernel's counter too: a second scan must come
        // back empty unless the counter moved since before the first one
        // (read first, so a change racing with the first scan counts).
        let twice = |et: &Epoll| {
            let g = events::generation();
            assert_eq!(et.collect(8), vec![(0x004, 1)]);
            let v = et.collect(8);
            assert!(v.is_empty() || events::generation() != g);
        };
        twice(&et);
        events::notify();
        twice(&et);
    }

    #[test]
    fn closing_removes_and_nesting_loops() {
        let f = file(Arc::new(EventFd::new(1, false)));
        let a = Arc::new(Epoll::new());
        a.ctl(Ctl::Add, 4, &f, EPOLLIN, 1).unwrap();
        assert_eq!(a.poll(), libc::POLLIN);
        drop(f);
        assert!(a.collect(8).is_empty());
        let b = Arc::new(Epoll::new());
        let fa = file(a.clone());
        let fb = file(b.clone());
        b.ctl(Ctl::Add, 5, &fa, EPOLLIN, 0).unwrap();
        assert_eq!(a.ctl(Ctl::Add, 6, &fb, EPOLLIN, 0), err(libc::ELOOP));
        assert_eq!(a.ctl(Ctl::Del, 6, &fb, 0, 0), err(libc::ENOENT));
    }
}
