//! Guest page tables: 4-level x86-64 tables in the VMM's private memory,
//! written by the VMM from the host. One [`PageTables`] per application
//! address space; the kernel half (PML4 slot 511) is one shared subtree.
//!
//! A user page-table entry points at `MEMFILE_GPA + file offset`. A page
//! mapped with PROT_NONE keeps its entry, not present, with the software
//! bit [`SW_MAPPED`] set, so a fault on it can be told apart from a fault on
//! an unmapped address (SEGV_ACCERR versus SEGV_MAPERR) and so a later
//! mprotect knows which file page belongs there.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::layout::{PAGE, PRIVATE_SIZE, PT_POOL_GPA};
use crate::memory::Memory;

pub const PTE_P: u64 = 1 << 0;
pub const PTE_RW: u64 = 1 << 1;
pub const PTE_US: u64 = 1 << 2;
pub const PTE_A: u64 = 1 << 5;
pub const PTE_D: u64 = 1 << 6;
/// Software bit (ignored by the MMU): a user mapping exists here.
pub const SW_MAPPED: u64 = 1 << 9;
/// A 2 MiB page (in a page-directory entry).
pub const PTE_PS: u64 = 1 << 7;
pub const PTE_NX: u64 = 1 << 63;
/// The physical-address bits of an entry.
pub const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
/// An intermediate entry: the leaf decides the permissions.
const TABLE: u64 = PTE_P | PTE_RW | PTE_US | PTE_A;

/// The page-table pages of the VM: allocated from the pool part of private
/// memory, recycled when an address space drops them.
///
/// With shadow paging (PVM) KVM keeps a copy of each guest page table and
/// does not see the VMM's writes to it, so the pool also keeps the list of
/// pages whose present entries changed (*dirty*): a vCPU runs the guest's
/// flush gadget over them (see `guest::entry`) before any vCPU may rely on
/// the change. A freed page is dirty too, and stays in quarantine until that
/// flush: reused earlier, KVM could still hold its old translations.
pub struct FramePool {
    mem: Arc<Memory>,
    state: Mutex<PoolState>,
}

#[derive(Default)]
struct PoolState {
    next: u64,
    free: Vec<u64>,
    dirty: Vec<u64>,
    quarantine: Vec<u64>,
}

/// Work for one flush: the dirty pages to make KVM forget, and the freed
/// pages to recycle once that is done.
#[derive(Default)]
pub struct Pending {
    pub dirty: Vec<u64>,
    pub quarantine: Vec<u64>,
}

impl FramePool {
    pub fn new(mem: Arc<Memory>) -> FramePool {
        FramePool {
            mem,
            state: Mutex::new(PoolState {
                next: PT_POOL_GPA,
                ..Default::default()
            }),
        }
    }

    /// A zeroed page.
    pub fn alloc(&self) -> Result<u64> {
        let mut s = self.lock();
        if let Some(f) = s.free.pop() {
            return Ok(f);
        }
        if s.next + PAGE > PRIVATE_SIZE {
            return Err(Error::PageTablesFull((PRIVATE_SIZE - PT_POOL_GPA) >> 20));
        }
        let f = s.next;
        s.next += PAGE;
        Ok(f)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Gives back a page that no table refers to any more; it is reused
    /// after the next flush.
    fn free(&self, gpa: u64) {
        // SAFETY: `gpa` is a pool page (from alloc) that nothing uses now.
        unsafe { std::ptr::write_bytes(self.mem.private_ptr(gpa), 0, PAGE as usize) };
        let mut s = self.lock();
        s.dirty.push(gpa);
        s.quarantine.push(gpa);
    }

    /// Records that a present entry of the table at `table` changed.
    fn mark_dirty(&self, table: u64) {
        let mut s = self.lock();
        if s.dirty.last() != Some(&table) {
            s.dirty.push(table);
        }
    }

    /// Whether a flush has work to do.
    pub fn has_pending(&self) -> bool {
        !self.lock().dirty.is_empty()
    }

    /// Takes the work of the next flush.
    pub fn take_pending(&self) -> Pending {
        let mut s = self.lock();
        let mut dirty = std::mem::take(&mut s.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        Pending {
            dirty,
            quarantine: std::mem::take(&mut s.quarantine),
        }
    }

    /// A flush over `p.dirty` completed: the quarantined pages are free.
    pub fn flushed(&self, p: Pending) {
        self.lock().free.extend(p.quarantine);
    }

    /// A flush failed: its work goes back for the next one.
    pub fn unflushed(&self, p: Pending) {
        let mut s = self.lock();
        s.dirty.extend(p.dirty);
        s.quarantine.extend(p.quarantine);
    }

    /// Entry `i` of the table at `table`.
    fn entry(&self, table: u64, i: usize) -> &AtomicU64 {
        debug_assert!(i < 512 && (PT_POOL_GPA..PRIVATE_SIZE).contains(&table));
        // SAFETY: `table` is a pool page, so the 8-byte aligned entry lies
        // inside private memory, which lives as long as `self.mem`. The MMU
        // may set accessed/dirty bits concurrently with a locked
        // read-modify-write, hence atomic accesses.
        unsafe { &*(self.mem.private_ptr(table + 8 * i as u64) as *const AtomicU64) }
    }

    pub fn memory(&self) -> &Arc<Memory> {
        &self.mem
    }
}

/// The index of `va` in the table at `level` (4 = PML4 … 1 = PT).
fn index(va: u64, level: u32) -> usize {
    ((va >> (12 + 9 * (level - 1))) & 0x1ff) as usize
}

/// One 4-level page-table tree.
pub struct PageTables {
    pool: Arc<FramePool>,
    root: u64,
}

impl PageTables {
    /// A new tree whose PML4 slot 511 points at the shared kernel subtree.
    pub fn new(pool: Arc<FramePool>, kernel_pdpt: u64) -> Result<PageTables> {
        let root = pool.alloc()?;
        pool.entry(root, 511)
            .store(kernel_pdpt | (TABLE & !PTE_US), Ordering::Release);
        Ok(PageTables { pool, root })
    }

    /// The guest-physical address of the PML4 (the value for CR3).
    pub fn root(&self) -> u64 {
        self.root
    }

    /// The leaf table of `va` and the index in it, creating the tables on
    /// the way if `create`.
    fn leaf(&self, va: u64, create: bool) -> Result<Option<(u64, usize)>> {
        let mut table = self.root;
        for level in (2..=4).rev() {
            let e = self.pool.entry(table, index(va, level));
            let v = e.load(Ordering::Acquire);
            table = if v & PTE_P != 0 {
                v & ADDR_MASK
            } else if create {
                let t = self.pool.alloc()?;
                e.store(t | TABLE, Ordering::Release);
                t
            } else {
                return Ok(None);
            };
        }
        Ok(Some((table, index(va, 1))))
    }

    /// Stores `new` in entry `i` of `table`, noting the table dirty if a
    /// present entry changed.
    fn set(&self, table: u64, i: usize, new: u64) {
        let old = self.pool.entry(table, i).swap(new, Ordering::AcqRel);
        if old & PTE_P != 0 && old != new {
            self.pool.mark_dirty(table);
        }
    }

    /// Sets the leaf entry of every page of `[va, va+len)` to `f(page index)`.
    pub fn fill(&self, va: u64, len: u64, f: impl Fn(u64) -> u64) -> Result<()> {
        let mut i = 0;
        while i < len / PAGE {
            let addr = va + i * PAGE;
            if let Some((t, idx)) = self.leaf(addr, true)? {
                self.set(t, idx, f(i));
            }
            i += 1;
        }
        Ok(())
    }

    /// Rewrites every existing leaf entry of `[va, va+len)` with `f(old)`,
    /// skipping absent subtrees.
    pub fn update(&self, va: u64, len: u64, f: impl Fn(u64) -> u64) -> Result<()> {
        let end = va + len;
        let mut addr = va;
        while addr < end {
            match self.leaf(addr, false)? {
                Some((t, idx)) => {
                    let old = self.pool.entry(t, idx).load(Ordering::Acquire);
                    if old != 0 {
                        self.set(t, idx, f(old));
                    }
                    addr += PAGE;
                }
                // No page table here: skip to the next 2 MiB boundary.
                None => addr = (addr | 0x1f_ffff) + 1,
            }
        }
        Ok(())
    }

    /// The leaf entry of `va` (0 when there is none).
    pub fn lookup(&self, va: u64) -> u64 {
        match self.leaf(va, false) {
            Ok(Some((t, idx))) => self.pool.entry(t, idx).load(Ordering::Acquire),
            _ => 0,
        }
    }

    /// Frees every user-half table (PML4 slots 0..256).
    pub fn clear_user(&self) {
        for i in 0..256 {
            let e = self.pool.entry(self.root, i);
            let v = e.swap(0, Ordering::AcqRel);
            if v & PTE_P != 0 {
                self.pool.mark_dirty(self.root);
                self.free_tree(v & ADDR_MASK, 3);
            }
        }
    }

    fn free_tree(&self, table: u64, level: u32) {
        if level > 1 {
            for i in 0..512 {
                let v = self.pool.entry(table, i).load(Ordering::Acquire);
                if v & PTE_P != 0 {
                    self.free_tree(v & ADDR_MASK, level - 1);
                }
            }
        }
        self.pool.free(table);
    }
}

impl Drop for PageTables {
    fn drop(&mut self) {
        self.clear_user();
        // The kernel subtree is shared: unlink it, do not free it.
        self.pool.entry(self.root, 511).store(0, Ordering::Release);
        self.pool.free(self.root);
    }
}

/// The leaf entry for a user page at guest-physical `gpa` with PROT_* bits
/// `prot` (x86 cannot express write-only or exec-only: both imply read, as
/// on Linux).
pub fn user_pte(gpa: u64, prot: i32) -> u64 {
    let rwx = libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC;
    if prot & rwx == 0 {
        return gpa | SW_MAPPED;
    }
    let mut pte = gpa | SW_MAPPED | PTE_P | PTE_US | PTE_A;
    if prot & libc::PROT_WRITE != 0 {
        pte |= PTE_RW | PTE_D;
    }
    if prot & libc::PROT_EXEC == 0 {
        pte |= PTE_NX;
    }
    pte
}

/// The kernel half: a PDPT whose first 1 GiB maps private memory: the
/// kernel area with 4 KiB pages and the per-page entry bits `pages` gives,
/// the page-table pool after it with 2 MiB pages, writable, not executable
/// (the flush gadget writes to page tables through it).
pub fn kernel_subtree(pool: &FramePool, pages: impl Fn(u64) -> Option<u64>) -> Result<u64> {
    let pdpt = pool.alloc()?;
    let pd = pool.alloc()?;
    pool.entry(pdpt, 0)
        .store(pd | (TABLE & !PTE_US), Ordering::Release);
    let mut gpa = 0;
    let mut pd_index = 0;
    while let Some(bits) = pages(gpa) {
        if gpa % (512 * PAGE) == 0 {
            let pt = pool.alloc()?;
            pool.entry(pd, pd_index)
                .store(pt | (TABLE & !PTE_US), Ordering::Release);
            pd_index += 1;
        }
        let pt = pool.entry(pd, pd_index - 1).load(Ordering::Acquire) & ADDR_MASK;
        pool.entry(pt, ((gpa / PAGE) % 512) as usize)
            .store(gpa | bits, Ordering::Release);
        gpa += PAGE;
    }
    const HUGE: u64 = 512 * PAGE;
    let mut big = gpa.div_ceil(HUGE) * HUGE;
    while big < PRIVATE_SIZE {
        let bits = PTE_P | PTE_RW | PTE_A | PTE_D | PTE_PS | PTE_NX;
        pool.entry(pd, (big / HUGE) as usize)
            .store(big | bits, Ordering::Release);
        big += HUGE;
    }
    Ok(pdpt)
}
