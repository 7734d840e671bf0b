//! The vDSO's data page: the clocks as lines over the TSC, under a
//! sequence lock. The Sentry writes it through its own mapping of the
//! memory file; every application maps the same page read-only. The C side
//! of this layout is `struct vvar` in sentry/vdso/vdso.c: keep them in step.

use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use crate::mm::memfile::{Backing, MemoryFile};
use crate::mm::PAGE_SIZE;

/// `flags`: the lines may be used (the Sentry trusts the TSC and has
/// calibrated it). Without it the vDSO makes the system call.
pub const TSC_OK: u32 = 1;

/// The clocks the page holds, in the order of its lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    Realtime = 0,
    Monotonic = 1,
    Boottime = 2,
    Raw = 3,
}

pub const LINES: [Line; 4] = [Line::Realtime, Line::Monotonic, Line::Boottime, Line::Raw];

/// One clock: `ns = base_ns + ((tsc - base_tsc) * mult) >> 32`.
#[repr(C)]
struct ClockLine {
    base_ns: AtomicU64,
    mult: AtomicU64,
}

#[repr(C)]
struct Layout {
    /// Odd while the Sentry rewrites the page.
    seq: AtomicU32,
    flags: AtomicU32,
    /// Where every line starts, in the application's TSC.
    base_tsc: AtomicU64,
    /// The coarse clocks' resolution (the host's tick), in ns.
    coarse_ns: AtomicU64,
    clocks: [ClockLine; 4],
}

const _: () = assert!(std::mem::size_of::<Layout>() == 88);
const _: () = assert!(std::mem::size_of::<Layout>() as u64 <= PAGE_SIZE);

/// What the page says, as the Sentry computes it (in the host's TSC).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Params {
    pub base_tsc: u64,
    pub base_ns: [u64; 4],
    pub mult: [u64; 4],
}

impl Params {
    /// The value of `line` at host TSC `tsc`, as the vDSO computes it.
    pub fn at(&self, line: Line, tsc: u64) -> u64 {
        let i = line as usize;
        let delta = tsc.saturating_sub(self.base_tsc);
        self.base_ns[i].wrapping_add(((delta as u128 * self.mult[i] as u128) >> 32) as u64)
    }
}

/// The data page, one per sandbox.
pub struct Vvar {
    backing: Arc<Backing>,
    page: *const Layout,
    /// The application's TSC minus the host's (the kvm platform's guests
    /// may count from elsewhere); added to `base_tsc` on the page.
    tsc_offset: u64,
}

// SAFETY: `page` points into the memory file's shared mapping, which lives
// as long as `backing` (held here); all access goes through atomics.
unsafe impl Send for Vvar {}
// SAFETY: see Send.
unsafe impl Sync for Vvar {}

impl Vvar {
    /// Allocates the page (zero: TSC_OK clear, so the vDSO makes system
    /// calls until the first `publish`).
    pub fn new(file: &Arc<MemoryFile>, tsc_offset: u64) -> Option<Vvar> {
        let backing = file.allocate(PAGE_SIZE)?;
        // SAFETY: the page is the backing just allocated, held by self; the
        // slice is only used to take its address.
        let page = unsafe { file.slice(backing.off, PAGE_SIZE as usize) }.as_ptr() as *const Layout;
        Some(Vvar {
            backing: Arc::new(backing),
            page,
            tsc_offset,
        })
    }

    fn layout(&self) -> &Layout {
        // SAFETY: `page` is page-aligned memory of the held backing, valid
        // for the Layout (all atomics, any bit pattern valid).
        unsafe { &*self.page }
    }

    /// The memory-file range to map into address spaces.
    pub fn backing(&self) -> &Arc<Backing> {
        &self.backing
    }

    /// Records the coarse clocks' resolution (before the first publish).
    pub fn set_coarse_ns(&self, ns: u64) {
        self.layout().coarse_ns.store(ns, Ordering::Relaxed);
    }

    pub fn coarse_ns(&self) -> u64 {
        self.layout().coarse_ns.load(Ordering::Relaxed)
    }

    /// Writes new lines and sets TSC_OK (one writer: the timekeeper).
    pub fn publish(&self, p: &Params) {
        let l = self.layout();
        let seq = l.seq.load(Ordering::Relaxed);
        l.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        l.base_tsc
            .store(p.base_tsc.wrapping_add(self.tsc_offset), Ordering::Relaxed);
        for (i, c) in l.clocks.iter().enumerate() {
            c.base_ns.store(p.base_ns[i], Ordering::Relaxed);
            c.mult.store(p.mult[i], Ordering::Relaxed);
        }
        l.flags.store(TSC_OK, Ordering::Relaxed);
        l.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// The published lines in host terms, or None before the first publish.
    pub fn params(&self) -> Option<Params> {
        let l = self.layout();
        loop {
            let seq = l.seq.load(Ordering::Acquire);
            if seq & 1 != 0 {
                std::hint::spin_loop();
                continue;
            }
            let ok = l.flags.load(Ordering::Relaxed) & TSC_OK != 0;
            let mut p = Params {
                base_tsc: l
                    .base_tsc
                    .load(Ordering::Relaxed)
                    .wrapping_sub(self.tsc_offset),
                ..Params::default()
            };
            for (i, c) in l.clocks.iter().enumerate() {
                p.base_ns[i] = c.base_ns.load(Ordering::Relaxed);
                p.mult[i] = c.mult.load(Ordering::Relaxed);
            }
            fence(Ordering::Acquire);
            if l.seq.load(Ordering::Relaxed) == seq {
                return ok.then_some(p);
            }
        }
    }

    /// The clock `line` now, exactly as the vDSO would compute it, or None
    /// while the page says to make the system call.
    pub fn now(&self, line: Line) -> Option<u64> {
        let p = self.params()?;
        Some(p.at(line, rdtsc()))
    }
}

/// The host's TSC, ordered after earlier loads as the vDSO's is.
pub fn rdtsc() -> u64 {
    // SAFETY: lfence and rdtsc have no memory effects; every x86-64 CPU
    // has both (CR4.TSD is clear for host processes).
    unsafe {
        std::arch::x86_64::_mm_lfence();
        std::arch::x86_64::_rdtsc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_math_matches_the_vdso() {
        let p = Params {
            base_tsc: 1000,
            base_ns: [5, 7, 9, 11],
            // 0.5 ns per tick
            mult: [1 << 31; 4],
        };
        assert_eq!(p.at(Line::Monotonic, 3000), 7 + 1000);
        // Before the base: the base itself (the vDSO clamps too).
        assert_eq!(p.at(Line::Raw, 10), 11);
        // A delta whose product overflows 64 bits.
        let big = Params {
            base_tsc: 0,
            base_ns: [0; 4],
            mult: [3 << 32; 4],
        };
        assert_eq!(big.at(Line::Realtime, 1 << 40), 3 << 40);
    }

    #[test]
    fn publish_then_read() {
        let file = MemoryFile::with_size(1 << 20).unwrap();
        let v = Vvar::new(&file, 0).unwrap();
        assert_eq!(v.params(), None, "a fresh page says: use the system call");
        let p = Params {
            base_tsc: rdtsc(),
            base_ns: [1, 2, 3, 4],
            mult: [1 << 32; 4],
        };
        v.publish(&p);
        assert_eq!(v.params(), Some(p));
        let a = v.now(Line::Monotonic).unwrap();
        let b = v.now(Line::Monotonic).unwrap();
        assert!(b >= a && a >= 2);
    }
}
