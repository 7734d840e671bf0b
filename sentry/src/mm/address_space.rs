//! An application's address space as the Sentry sees it: a set of
//! mappings (VMAs), each a range of the memory file, mirrored into the
//! platform's address space on every change.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use super::file_pages::Mappable;
use super::memfile::{Backing, MemoryFile};
use super::{page_down, page_up, PAGE_SIZE};
use crate::errno::{err, Errno, SysResult};
use crate::platform::{Context, Prot, USER_MAX, USER_MIN};

/// What a mapping is, for /proc/PID/maps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VmaKind {
    Anon,
    Heap,
    Stack,
    /// A private copy of a file's pages.
    File {
        path: String,
        offset: u64,
        dev: u64,
        ino: u64,
    },
    /// An attached SysV shared memory segment (mm/sysv_shm.rs).
    SysvShm {
        key: i32,
        id: i32,
    },
    /// The Sentry's vDSO image (a private copy, like Linux's).
    Vdso,
    /// The vDSO's data page: one page shared by the whole sandbox, never
    /// writable or executable by the application (mprotect: EACCES).
    Vvar,
}

/// Where a mapping's bytes live in the memory file.
#[derive(Clone)]
pub(super) enum Memory {
    /// Anonymous memory, or a private copy of a file: one contiguous range
    /// of the memory file, `off` being where the mapping's start lies in it.
    Own { backing: Arc<Backing>, off: u64 },
    /// Private memory whose pages other holders may share (a fork's
    /// relatives, the executable cache of mm/image_cache.rs): read-only in
    /// every holder, so the bytes never change. Before the mapping can be
    /// written (mprotect to PROT_WRITE, the Sentry writing into it) it gets
    /// its own copy (`privatize`): copy-on-write at the granularity of the
    /// mapping. Never shared, never writable.
    Cow { backing: Arc<Backing>, off: u64 },
    /// A shared mapping of a file: the file's own pages, from file offset
    /// `off` at the mapping's start.
    File { file: Arc<dyn Mappable>, off: u64 },
    /// Private anonymous memory that has never been accessible: a
    /// PROT_NONE reservation (a heap arena, a JVM's or Go's address-space
    /// hint, a guard region). It holds no memory-file space and is not in
    /// the platform, so reserving far more than the memory file (the kvm
    /// platform's is the VM's memory) costs nothing, as on Linux. It gets
    /// fresh zeroed memory (`Own`) when mprotect makes it accessible.
    Reserved,
}

#[derive(Clone)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    pub prot: Prot,
    pub shared: bool,
    pub kind: VmaKind,
    pub(super) mem: Memory,
    /// The platform maps `[start, mapped_end)`; pages above it lie past the
    /// end of the mapped file: touching them is SIGBUS (or, for a shared
    /// mapping of a file that has grown since, maps them then).
    pub(super) mapped_end: u64,
    /// mlock'd (accounting only: the Sentry never swaps application
    /// memory out); not inherited across fork, as on Linux.
    pub locked: bool,
}

impl Vma {
    /// A new unlocked mapping of `[start, start+len)`, all of it in the
    /// platform unless the caller lowers `mapped_end`.
    fn new(start: u64, len: u64, prot: Prot, shared: bool, kind: VmaKind, mem: Memory) -> Vma {
        Vma {
            start,
            end: start + len,
            prot,
            shared,
            kind,
            mem,
            mapped_end: start + len,
            locked: false,
        }
    }

    /// Whether RLIMIT_DATA counts this mapping (Linux's is_data_mapping:
    /// private, writable, not the stack).
    pub fn is_data(&self) -> bool {
        !self.shared && self.prot & libc::PROT_WRITE != 0 && !matches!(self.kind, VmaKind::Stack)
    }

    /// Calls `f(memfile_off, len)` for the memory-file pieces behind
    /// `[addr, addr+len)` (inside the VMA); EFAULT past the mapped file.
    pub(super) fn runs(&self, addr: u64, len: u64, mut f: impl FnMut(u64, u64)) -> SysResult<()> {
        match &self.mem {
            Memory::Own { backing, off } | Memory::Cow { backing, off } => {
                if addr + len > self.mapped_end {
                    return err(libc::EFAULT);
                }
                f(backing.off + off + (addr - self.start), len);
                Ok(())
            }
            Memory::File { file, off } => {
                let foff = off + (addr - self.start);
                let eof = page_up(file.pages().size()).unwrap_or(u64::MAX);
                if foff.saturating_add(len) > eof {
                    return err(libc::EFAULT);
                }
                file.pages().runs(foff, len, |_, m, n| f(m, n))
            }
            Memory::Reserved => err(libc::EFAULT),
        }
    }

    /// The memory-file offset behind `addr` (a futex's name).
    pub(super) fn file_offset(&self, addr: u64) -> Option<u64> {
        match &self.mem {
            Memory::Own { backing, off } | Memory::Cow { backing, off } => {
                Some(backing.off + off + (addr - self.start))
            }
            Memory::File { file, off } => file.pages().offset_of(off + (addr - self.start)),
            Memory::Reserved => None,
        }
    }

    /// Mirrors `[from, to)` of this VMA into the platform.
    pub(super) fn map_into(&self, ctx: &mut dyn Context, from: u64, to: u64) -> SysResult<()> {
        if from >= to {
            return Ok(());
        }
        let mut at = from;
        let mut result = Ok(());
        self.runs(from, to - from, |m, n| {
            if result.is_ok() {
                result = ctx.map(at, n, self.prot, m).map_err(platform_err);
            }
            at += n;
        })?;
        result
    }

    /// Gives the mapping fresh zeroed memory of its own in place of what
    /// it had, mirrored into the platform up to `mapped_end`.
    fn take_fresh_memory(
        &mut self,
        file: &Arc<MemoryFile>,
        ctx: &mut dyn Context,
    ) -> SysResult<()> {
        let fresh = file
            .allocate(self.end - self.start)
            .ok_or(Errno(libc::ENOMEM))?;
        self.mem = Memory::Own {
            backing: Arc::new(fresh),
            off: 0,
        };
        self.map_into(ctx, self.start, self.mapped_end)
    }

    /// Splits at `at` (inside the VMA): self keeps the low part.
    fn split_off(&mut self, at: u64) -> Vma {
        let mut high = self.clone();
        let delta = at - self.start;
        high.start = at;
        match &mut high.mem {
            Memory::Own { off, .. } | Memory::Cow { off, .. } | Memory::File { off, .. } => {
                *off += delta
            }
            Memory::Reserved => {}
        }
        if let VmaKind::File { offset, .. } = &mut high.kind {
            *offset += delta;
        }
        high.mapped_end = self.mapped_end.max(at);
        self.mapped_end = self.mapped_end.min(at);
        self.end = at;
        high
    }

    /// The shared file behind the mapping and the file offset at `addr`.
    pub(super) fn file_at(&self, addr: u64) -> Option<(Arc<dyn Mappable>, u64)> {
        match &self.mem {
            Memory::File { file, off } => Some((file.clone(), off + (addr - self.start))),
            Memory::Own { .. } | Memory::Cow { .. } | Memory::Reserved => None,
        }
    }

    /// The shared file behind the mapping, if it is one.
    pub fn shared_file(&self) -> Option<&Arc<dyn Mappable>> {
        match &self.mem {
            Memory::File { file, .. } => Some(file),
            Memory::Own { .. } | Memory::Cow { .. } | Memory::Reserved => None,
        }
    }
}

/// How many bytes of `v`, from its start, lie inside its shared file
/// (rounded up to a page); the whole VMA for other kinds.
fn file_extent(v: &Vma) -> u64 {
    let len = v.end - v.start;
    match &v.mem {
        Memory::File { file, off } => page_up(file.pages().size())
            .unwrap_or(u64::MAX)
            .saturating_sub(*off)
            .min(len),
        Memory::Own { .. } | Memory::Cow { .. } | Memory::Reserved => len,
    }
}

/// What a fault on a mapped address turned out to be.
pub enum FaultOutcome {
    /// The Sentry mapped the page: run the instruction again.
    Resolved,
    /// The page lies past the end of the mapped file: SIGBUS, BUS_ADRERR.
    PastEof,
    /// The page is part of a mapping that forbids the access (a PROT_NONE
    /// reservation the platform does not map): SIGSEGV, SEGV_ACCERR.
    Denied,
    /// Not the Sentry's business: deliver the fault as it came.
    Signal,
}

/// A forked address space in transit to the child's Sentry thread.
pub struct MmSnapshot {
    vmas: Vec<Vma>,
    brk: (u64, u64),
    mmap_top: u64,
    arg_range: (u64, u64),
    env_range: (u64, u64),
    auxv: Vec<(u64, u64)>,
}

pub struct MemoryManager {
    file: Arc<MemoryFile>,
    pub(super) vmas: BTreeMap<u64, Vma>,
    pub brk_start: u64,
    pub brk: u64,
    /// Top-down mmap placement starts below this address.
    pub mmap_top: u64,
    /// Where argv and envp live, for /proc/PID/{cmdline,environ}.
    pub arg_range: (u64, u64),
    pub env_range: (u64, u64),
    /// The auxiliary vector exec gave the program, for /proc/PID/auxv
    /// (debuggers find a PIE's load address in its AT_ENTRY).
    pub auxv: Vec<(u64, u64)>,
}

impl MemoryManager {
    pub fn new(file: Arc<MemoryFile>) -> MemoryManager {
        MemoryManager {
            file,
            vmas: BTreeMap::new(),
            brk_start: 0,
            brk: 0,
            mmap_top: USER_MAX,
            arg_range: (0, 0),
            env_range: (0, 0),
            auxv: Vec::new(),
        }
    }

    /// The memory file behind this address space.
    pub fn memory_file(&self) -> &Arc<MemoryFile> {
        &self.file
    }

    pub fn vmas(&self) -> impl Iterator<Item = &Vma> {
        self.vmas.values()
    }

    /// Drops every mapping (exec into a fresh image on the same context).
    pub fn clear(&mut self, ctx: &mut dyn Context) -> SysResult<()> {
        // Freed after the platform let go of them (see `unmap`).
        let _gone = std::mem::take(&mut self.vmas);
        ctx.unmap_all().map_err(platform_err)?;
        self.brk_start = 0;
        self.brk = 0;
        self.mmap_top = USER_MAX;
        Ok(())
    }

    pub(super) fn vma_at(&self, addr: u64) -> Option<&Vma> {
        self.vmas
            .range(..=addr)
            .next_back()
            .map(|(_, v)| v)
            .filter(|v| addr < v.end)
    }

    /// The memory-file offset that backs `addr` (a futex's name).
    pub fn file_offset_of(&self, addr: u64) -> Option<u64> {
        self.vma_at(addr).and_then(|v| v.file_offset(addr))
    }

    pub fn find(&self, addr: u64) -> Option<&Vma> {
        self.vma_at(addr)
    }

    pub(super) fn is_free(&self, start: u64, end: u64) -> bool {
        if start < USER_MIN || end > USER_MAX || start >= end {
            return false;
        }
        match self.vmas.range(..end).next_back() {
            Some((_, v)) => v.end <= start,
            None => true,
        }
    }

    /// Highest free gap of `len` bytes below `top`.
    pub fn find_gap(&self, len: u64, top: u64) -> Option<u64> {
        let mut end = top.min(USER_MAX);
        for (_, v) in self.vmas.range(..end).rev() {
            if v.end <= end && end - v.end >= len {
                return Some(end - len);
            }
            end = end.min(v.start);
        }
        let start = end.checked_sub(len)?;
        (start >= USER_MIN).then_some(start)
    }

    /// Where a new mapping of `len` bytes goes: `fixed` replaces whatever
    /// is at `hint`; otherwise `hint` is used when free, else a gap is chosen.
    fn place(&mut self, ctx: &mut dyn Context, hint: u64, len: u64, fixed: bool) -> SysResult<u64> {
        if fixed {
            if !hint.is_multiple_of(PAGE_SIZE) {
                return err(libc::EINVAL);
            }
            let end = hint.checked_add(len).ok_or(Errno(libc::ENOMEM))?;
            if hint < USER_MIN || end > USER_MAX {
                return err(libc::ENOMEM);
            }
            self.unmap(ctx, hint, len)?;
            Ok(hint)
        } else if hint != 0 && self.is_free(page_down(hint), page_down(hint).saturating_add(len)) {
            Ok(page_down(hint))
        } else {
            self.find_gap(len, self.mmap_top).ok_or(Errno(libc::ENOMEM))
        }
    }

    /// Maps fresh zeroed memory (see `place` for `hint` and `fixed`).
    // The arguments are mmap's own (less the file), plus the caller's context.
    #[allow(clippy::too_many_arguments)]
    pub fn map_anon(
        &mut self,
        ctx: &mut dyn Context,
        hint: u64,
        len: u64,
        prot: Prot,
        fixed: bool,
        shared: bool,
        kind: VmaKind,
    ) -> SysResult<u64> {
        let len = page_up(len).ok_or(Errno(libc::ENOMEM))?;
        if len == 0 {
            return err(libc::EINVAL);
        }
        let start = self.place(ctx, hint, len, fixed)?;
        if prot == libc::PROT_NONE && !shared {
            let mut vma = Vma::new(start, len, prot, shared, kind, Memory::Reserved);
            vma.mapped_end = start;
            return self.insert(ctx, vma);
        }
        let backing = Arc::new(self.file.allocate(len).ok_or(Errno(libc::ENOMEM))?);
        self.insert_own(ctx, start, len, prot, shared, kind, backing)
    }

    /// Makes `[start, start + len)` (already free) a mapping of `backing`
    /// from its start, in the platform too. Returns `start`.
    // The fields of the new mapping, plus the caller's context.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn insert_own(
        &mut self,
        ctx: &mut dyn Context,
        start: u64,
        len: u64,
        prot: Prot,
        shared: bool,
        kind: VmaKind,
        backing: Arc<Backing>,
    ) -> SysResult<u64> {
        let mem = Memory::Own { backing, off: 0 };
        self.insert(ctx, Vma::new(start, len, prot, shared, kind, mem))
    }

    /// Adds `vma` (over free space) and mirrors its mapped part into the
    /// platform. Returns its start.
    fn insert(&mut self, ctx: &mut dyn Context, vma: Vma) -> SysResult<u64> {
        vma.map_into(ctx, vma.start, vma.mapped_end)?;
        let start = vma.start;
        self.vmas.insert(start, vma);
        Ok(start)
    }

    /// Maps all of `backing`, shared, at exactly `addr` (replacing what is
    /// there): memory the Sentry keeps itself, such as the vDSO's data page.
    pub fn map_backing(
        &mut self,
        ctx: &mut dyn Context,
        addr: u64,
        prot: Prot,
        backing: Arc<Backing>,
        kind: VmaKind,
    ) -> SysResult<u64> {
        let len = backing.len;
        let start = self.place(ctx, addr, len, true)?;
        self.insert_own(ctx, start, len, prot, true, kind, backing)
    }

    /// Maps `len` bytes of `file` from file offset `off`, shared: the
    /// mapping shows the file's own pages. Pages past the end of the file
    /// stay unmapped in the platform (SIGBUS, or mapped on a fault once the
    /// file has grown).
    // The arguments are mmap's own, plus the caller's context.
    #[allow(clippy::too_many_arguments)]
    pub fn map_file(
        &mut self,
        ctx: &mut dyn Context,
        hint: u64,
        len: u64,
        prot: Prot,
        fixed: bool,
        file: Arc<dyn Mappable>,
        off: u64,
        kind: VmaKind,
    ) -> SysResult<u64> {
        let len = page_up(len).ok_or(Errno(libc::ENOMEM))?;
        if len == 0 {
            return err(libc::EINVAL);
        }
        off.checked_add(len).ok_or(Errno(libc::EOVERFLOW))?;
        let start = self.place(ctx, hint, len, fixed)?;
        let mut vma = Vma::new(start, len, prot, true, kind, Memory::File { file, off });
        vma.mapped_end = start + file_extent(&vma);
        self.insert(ctx, vma)
    }

    /// Leaves `[from, end)` of the VMA starting at `start` unmapped in the
    /// platform: a private file mapping's pages past the end of its file.
    pub fn hide_tail(&mut self, ctx: &mut dyn Context, start: u64, from: u64) -> SysResult<()> {
        let Some(v) = self.vmas.get_mut(&start) else {
            return err(libc::EFAULT);
        };
        let from = from.clamp(v.start, v.end);
        if from < v.mapped_end {
            ctx.unmap(from, v.mapped_end - from).map_err(platform_err)?;
            v.mapped_end = from;
        }
        Ok(())
    }

    /// Looks at a page fault at `addr`: a shared file mapping whose file
    /// has grown gets the new pages mapped; a page past the end of a mapped
    /// file is SIGBUS.
    pub fn resolve_fault(&mut self, ctx: &mut dyn Context, addr: u64) -> FaultOutcome {
        let Some(v) = self.vma_at(addr) else {
            return FaultOutcome::Signal;
        };
        if let Memory::Reserved = v.mem {
            return FaultOutcome::Denied;
        }
        if addr < v.mapped_end {
            return FaultOutcome::Signal;
        }
        if let Memory::File { .. } = v.mem {
            let want = v.start + file_extent(v);
            if addr < want {
                let (key, from) = (v.start, v.mapped_end);
                if v.map_into(ctx, from, want).is_ok() {
                    if let Some(v) = self.vmas.get_mut(&key) {
                        v.mapped_end = want;
                    }
                    return FaultOutcome::Resolved;
                }
                return FaultOutcome::Signal;
            }
        }
        FaultOutcome::PastEof
    }

    /// Splits VMAs so that none straddles `addr`.
    pub(super) fn split_at(&mut self, addr: u64) {
        let key = match self.vma_at(addr) {
            Some(v) if v.start < addr => v.start,
            _ => return,
        };
        if let Some(v) = self.vmas.get_mut(&key) {
            let high = v.split_off(addr);
            self.vmas.insert(addr, high);
        }
    }

    pub fn unmap(&mut self, ctx: &mut dyn Context, addr: u64, len: u64) -> SysResult<()> {
        if !addr.is_multiple_of(PAGE_SIZE) || len == 0 {
            return err(libc::EINVAL);
        }
        let end = page_up(addr.checked_add(len).ok_or(Errno(libc::EINVAL))?)
            .ok_or(Errno(libc::EINVAL))?;
        self.split_at(addr);
        self.split_at(end);
        let doomed: Vec<u64> = self.vmas.range(addr..end).map(|(&k, _)| k).collect();
        // The pages are freed (and may be reused) only once the platform
        // no longer maps them: other threads may be running.
        let mut gone = Vec::with_capacity(doomed.len());
        for k in doomed {
            gone.extend(self.vmas.remove(&k));
        }
        if addr < USER_MAX {
            let end = end.min(USER_MAX);
            ctx.unmap(addr, end - addr).map_err(platform_err)?;
        }
        for v in gone {
            // A private range is only ours: give its pages back now.
            if let (false, Memory::Own { backing, off }) = (v.shared, &v.mem) {
                self.file.punch(backing.off + off, v.end - v.start);
            }
        }
        Ok(())
    }

    pub fn protect(
        &mut self,
        ctx: &mut dyn Context,
        addr: u64,
        len: u64,
        prot: Prot,
    ) -> SysResult<()> {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return err(libc::EINVAL);
        }
        let end = page_up(addr.checked_add(len).ok_or(Errno(libc::ENOMEM))?)
            .ok_or(Errno(libc::ENOMEM))?;
        if end == addr {
            return Ok(());
        }
        // Every page must be mapped, and the vDSO's data page stays
        // read-only (Linux's has no VM_MAYWRITE or VM_MAYEXEC).
        let mut pos = addr;
        while pos < end {
            match self.vma_at(pos) {
                Some(v) if v.kind == VmaKind::Vvar && prot & !libc::PROT_READ != 0 => {
                    return err(libc::EACCES)
                }
                Some(v) => pos = v.end,
                None => return err(libc::ENOMEM),
            }
        }
        if prot & libc::PROT_WRITE != 0 {
            self.privatize(ctx, addr, end)?;
        }
        if prot != libc::PROT_NONE {
            self.back_reserved(ctx, addr, end)?;
        }
        self.split_at(addr);
        self.split_at(end);
        for (_, v) in self.vmas.range_mut(addr..end) {
            v.prot = prot;
            // Pages past a mapped file's end are not in the platform.
            if v.mapped_end > v.start {
                ctx.protect(v.start, v.mapped_end - v.start, prot)
                    .map_err(platform_err)?;
            }
        }
        Ok(())
    }

    /// Moves the program break; returns the new (or unchanged) break.
    pub fn set_brk(&mut self, ctx: &mut dyn Context, new: u64) -> u64 {
        if new < self.brk_start {
            return self.brk;
        }
        let (Some(old_end), Some(new_end)) = (page_up(self.brk), page_up(new)) else {
            return self.brk;
        };
        if new_end > old_end {
            if !self.is_free(old_end, new_end) {
                return self.brk;
            }
            let rw = libc::PROT_READ | libc::PROT_WRITE;
            if self
                .map_anon(
                    ctx,
                    old_end,
                    new_end - old_end,
                    rw,
                    true,
                    false,
                    VmaKind::Heap,
                )
                .is_err()
            {
                return self.brk;
            }
        } else if new_end < old_end && self.unmap(ctx, new_end, old_end - new_end).is_err() {
            return self.brk;
        }
        self.brk = new;
        self.brk
    }

    /// A copy of this address space's mappings for a forked child (the
    /// parent is stopped). Shared memory is shared. Private memory that is
    /// not writable is shared too, copy-on-write (`Memory::Cow`, in parent
    /// and child alike: neither can change it without a copy); writable
    /// private memory is copied now.
    pub fn snapshot(&mut self) -> SysResult<MmSnapshot> {
        let mut vmas = Vec::with_capacity(self.vmas.len());
        for v in self.vmas.values_mut() {
            let len = v.end - v.start;
            if let (false, Memory::Own { backing, off }) = (v.shared, &v.mem) {
                if v.prot & libc::PROT_WRITE == 0 {
                    v.mem = Memory::Cow {
                        backing: backing.clone(),
                        off: *off,
                    };
                }
            }
            let mut copy = v.clone();
            copy.locked = false;
            if let (false, Memory::Own { backing, off }) = (v.shared, &v.mem) {
                let fresh = self.file.allocate(len).ok_or(Errno(libc::ENOMEM))?;
                self.file.copy_populated(backing.off + off, fresh.off, len);
                copy.mem = Memory::Own {
                    backing: Arc::new(fresh),
                    off: 0,
                };
            }
            vmas.push(copy);
        }
        Ok(MmSnapshot {
            vmas,
            brk: (self.brk_start, self.brk),
            mmap_top: self.mmap_top,
            arg_range: self.arg_range,
            env_range: self.env_range,
            auxv: self.auxv.clone(),
        })
    }

    /// Maps `len` bytes of `backing` from `off` at exactly `addr`
    /// (replacing what is there), private and copy-on-write: pages the
    /// caller shares with others and promises never to change (the
    /// executable cache). `prot` must not include PROT_WRITE.
    // The arguments say what goes where, plus the caller's context.
    #[allow(clippy::too_many_arguments)]
    pub fn map_cow(
        &mut self,
        ctx: &mut dyn Context,
        addr: u64,
        len: u64,
        prot: Prot,
        backing: Arc<Backing>,
        off: u64,
        kind: VmaKind,
    ) -> SysResult<u64> {
        let in_backing = off.checked_add(len).is_some_and(|e| e <= backing.len);
        if prot & libc::PROT_WRITE != 0 || !in_backing || len == 0 {
            return err(libc::EINVAL);
        }
        let start = self.place(ctx, addr, len, true)?;
        let mem = Memory::Cow { backing, off };
        self.insert(ctx, Vma::new(start, len, prot, false, kind, mem))
    }

    /// Gives every copy-on-write mapping in `[start, end)` (page-aligned)
    /// its own copy of its pages, so that it may be written: the shared
    /// pages never change, so the copy needs no freezing of other threads.
    fn privatize(&mut self, ctx: &mut dyn Context, start: u64, end: u64) -> SysResult<()> {
        let has_cow = self
            .vmas
            .range(..end)
            .rev()
            .take_while(|(_, v)| v.end > start)
            .any(|(_, v)| matches!(v.mem, Memory::Cow { .. }));
        if !has_cow {
            return Ok(());
        }
        self.split_at(start);
        self.split_at(end);
        for (_, v) in self.vmas.range_mut(start..end) {
            let Memory::Cow { backing, off } = &v.mem else {
                continue;
            };
            let len = v.end - v.start;
            let fresh = self.file.allocate(len).ok_or(Errno(libc::ENOMEM))?;
            self.file.copy_populated(backing.off + off, fresh.off, len);
            v.mem = Memory::Own {
                backing: Arc::new(fresh),
                off: 0,
            };
            // The copy replaces the shared pages in the platform.
            v.map_into(ctx, v.start, v.mapped_end)?;
        }
        Ok(())
    }

    /// Gives every reservation in `[start, end)` (page-aligned) fresh
    /// zeroed memory, mapped in the platform with its current protection:
    /// it is about to become accessible.
    pub fn back_reserved(&mut self, ctx: &mut dyn Context, start: u64, end: u64) -> SysResult<()> {
        let has_reserved = self
            .vmas
            .range(..end)
            .rev()
            .take_while(|(_, v)| v.end > start)
            .any(|(_, v)| matches!(v.mem, Memory::Reserved));
        if !has_reserved {
            return Ok(());
        }
        self.split_at(start);
        self.split_at(end);
        for (_, v) in self.vmas.range_mut(start..end) {
            if !matches!(v.mem, Memory::Reserved) {
                continue;
            }
            v.mapped_end = v.end;
            v.take_fresh_memory(&self.file, ctx)?;
        }
        Ok(())
    }

    /// MADV_DONTNEED: the private memory of `[start, end)` (page-aligned,
    /// mapped throughout: ENOMEM otherwise) reads back as zero. Its pages
    /// go back to the host; shared mappings keep their contents.
    pub fn discard(&mut self, ctx: &mut dyn Context, start: u64, end: u64) -> SysResult<()> {
        let mut pos = start;
        while pos < end {
            pos = self.vma_at(pos).ok_or(Errno(libc::ENOMEM))?.end;
        }
        self.split_at(start);
        self.split_at(end);
        for (_, v) in self.vmas.range_mut(start..end) {
            if v.shared {
                continue;
            }
            match &v.mem {
                Memory::Own { backing, off } => {
                    let len = v.mapped_end.saturating_sub(v.start);
                    self.file.punch(backing.off + off, len);
                }
                // The shared pages stay; this mapping gets zeroed ones.
                Memory::Cow { .. } => v.take_fresh_memory(&self.file, ctx)?,
                Memory::Reserved | Memory::File { .. } => {}
            }
        }
        Ok(())
    }

    /// Builds a forked child's address space on `ctx`.
    pub fn from_snapshot(
        file: Arc<MemoryFile>,
        ctx: &mut dyn Context,
        snap: MmSnapshot,
    ) -> SysResult<MemoryManager> {
        let mut mm = MemoryManager::new(file);
        (mm.brk_start, mm.brk) = snap.brk;
        mm.mmap_top = snap.mmap_top;
        mm.arg_range = snap.arg_range;
        mm.env_range = snap.env_range;
        mm.auxv = snap.auxv;
        for v in snap.vmas {
            v.map_into(ctx, v.start, v.mapped_end)?;
            mm.vmas.insert(v.start, v);
        }
        Ok(mm)
    }

    /// Walks `[addr, addr+len)` through the VMAs, calling `f` with each
    /// piece's memory-file offset and length. `need` is the protection the
    /// access requires; a gap or a forbidden page is EFAULT.
    fn walk(
        &self,
        addr: u64,
        len: usize,
        need: Prot,
        force: bool,
        mut f: impl FnMut(u64, usize),
    ) -> SysResult<()> {
        let end = addr.checked_add(len as u64).ok_or(Errno(libc::EFAULT))?;
        let mut pos = addr;
        while pos < end {
            let v = self.vma_at(pos).ok_or(Errno(libc::EFAULT))?;
            if !force && (v.prot & need != need || v.prot == libc::PROT_NONE) {
                return err(libc::EFAULT);
            }
            let n = v.end.min(end) - pos;
            v.runs(pos, n, |off, k| f(off, k as usize))?;
            pos += n;
        }
        Ok(())
    }

    /// Copies application memory at `addr` into `buf`.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> SysResult<()> {
        let mut done = 0;
        self.walk(addr, buf.len(), libc::PROT_READ, false, |off, n| {
            // SAFETY: walk only yields ranges of backings this MM holds.
            let src = unsafe { self.file.slice(off, n) };
            buf[done..done + n].copy_from_slice(src);
            done += n;
        })
    }

    /// Appends `len` bytes of application memory at `addr` to `out`,
    /// without zeroing room for them first (a write(2) gathers its
    /// data this way). On an error, `out` may hold part of them.
    pub fn read_append(&self, addr: u64, len: usize, out: &mut Vec<u8>) -> SysResult<()> {
        out.reserve(len);
        self.walk(addr, len, libc::PROT_READ, false, |off, n| {
            // SAFETY: walk only yields ranges of backings this MM holds.
            out.extend_from_slice(unsafe { self.file.slice(off, n) });
        })
    }

    /// Copies `data` into application memory at `addr`.
    pub fn write(&self, addr: u64, data: &[u8]) -> SysResult<()> {
        self.write_inner(addr, data, false)
    }

    /// Like `write`, ignoring protections (the loader filling read-only
    /// text); copy-on-write pages get their own copy first (`ctx` maps it).
    pub fn write_force(&mut self, ctx: &mut dyn Context, addr: u64, data: &[u8]) -> SysResult<()> {
        let end = addr
            .checked_add(data.len() as u64)
            .and_then(page_up)
            .ok_or(Errno(libc::EFAULT))?;
        self.privatize(ctx, page_down(addr), end)?;
        self.back_reserved(ctx, page_down(addr), end)?;
        self.write_inner(addr, data, true)
    }

    fn write_inner(&self, addr: u64, data: &[u8], force: bool) -> SysResult<()> {
        let mut done = 0;
        self.walk(addr, data.len(), libc::PROT_WRITE, force, |off, n| {
            // SAFETY: walk only yields ranges of backings this MM holds.
            let dst = unsafe { self.file.slice(off, n) };
            dst.copy_from_slice(&data[done..done + n]);
            done += n;
        })
    }

    /// mlock and munlock of `[addr, addr+len)` (page-rounded outwards):
    /// every page must be mapped (ENOMEM). Returns the bytes whose state
    /// changes, without changing anything when `dry_run`.
    pub fn set_locked(
        &mut self,
        addr: u64,
        len: u64,
        locked: bool,
        dry_run: bool,
    ) -> SysResult<u64> {
        let start = page_down(addr);
        let end = addr
            .checked_add(len)
            .and_then(page_up)
            .ok_or(Errno(libc::ENOMEM))?;
        let mut pos = start;
        let mut changed = 0;
        while pos < end {
            let v = self.vma_at(pos).ok_or(Errno(libc::ENOMEM))?;
            let stop = v.end.min(end);
            if v.locked != locked {
                changed += stop - pos;
            }
            pos = stop;
        }
        if !dry_run && start < end {
            self.split_at(start);
            self.split_at(end);
            for (_, v) in self.vmas.range_mut(start..end) {
                v.locked = locked;
            }
        }
        Ok(changed)
    }

    /// mlockall(MCL_CURRENT) / munlockall: every mapping.
    pub fn set_all_locked(&mut self, locked: bool) {
        for v in self.vmas.values_mut() {
            v.locked = locked;
        }
    }

    /// Bytes locked with mlock (VmLck, RLIMIT_MEMLOCK's measure).
    pub fn locked_bytes(&self) -> u64 {
        self.vmas
            .values()
            .filter(|v| v.locked)
            .map(|v| v.end - v.start)
            .sum()
    }

    /// Atomically replaces the aligned 32-bit word at `addr` with `new` if
    /// it holds `old`; returns the value found. Atomic with respect to the
    /// workload's own atomic instructions on the same word, as the kernel's
    /// futex cmpxchg is (robust-list release races with lockers).
    pub fn compare_exchange_u32(&self, addr: u64, old: u32, new: u32) -> SysResult<u32> {
        if !addr.is_multiple_of(4) {
            return err(libc::EINVAL);
        }
        let mut found = 0;
        self.walk(
            addr,
            4,
            libc::PROT_READ | libc::PROT_WRITE,
            false,
            |off, _| {
                // SAFETY: walk yields a range of a backing this MM holds; an
                // aligned address maps to an aligned file offset (both are
                // page-granular), so the 4 bytes are one aligned atomic word.
                let word = unsafe { &*(self.file.slice(off, 4).as_mut_ptr() as *const AtomicU32) };
                found = match word.compare_exchange(old, new, Ordering::SeqCst, Ordering::SeqCst) {
                    Ok(v) | Err(v) => v,
                };
            },
        )?;
        Ok(found)
    }

    /// Reads a NUL-terminated string of at most `max` bytes.
    pub fn read_cstr(&self, addr: u64, max: usize) -> SysResult<Vec<u8>> {
        let mut out = Vec::new();
        let mut pos = addr;
        while out.len() < max {
            let chunk = (PAGE_SIZE - pos % PAGE_SIZE) as usize;
            let chunk = chunk.min(max - out.len());
            let mut buf = vec![0u8; chunk];
            self.read(pos, &mut buf)?;
            if let Some(i) = buf.iter().position(|&b| b == 0) {
                out.extend_from_slice(&buf[..i]);
                return Ok(out);
            }
            out.extend_from_slice(&buf);
            pos += chunk as u64;
        }
        err(libc::ENAMETOOLONG)
    }

    pub fn read_u64(&self, addr: u64) -> SysResult<u64> {
        let mut b = [0u8; 8];
        self.read(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Reads a plain-data value.
    pub fn read_obj<T: Copy>(&self, addr: u64) -> SysResult<T> {
        let mut buf = vec![0u8; std::mem::size_of::<T>()];
        self.read(addr, &mut buf)?;
        // SAFETY: callers use this only for plain C structs, for which any
        // bit pattern is valid; read_unaligned copes with the Vec's alignment.
        Ok(unsafe { std::ptr::read_unaligned(buf.as_ptr() as *const T) })
    }

    /// Writes a plain-data value.
    pub fn write_obj<T: Copy>(&self, addr: u64, v: &T) -> SysResult<()> {
        // SAFETY: T is a plain C struct; viewing it as bytes is sound.
        let bytes = unsafe {
            std::slice::from_raw_parts(v as *const T as *const u8, std::mem::size_of::<T>())
        };
        self.write(addr, bytes)
    }

    /// The /proc/PID/maps text.
    pub fn maps_text(&self) -> String {
        let mut s = String::new();
        for v in self.vmas.values() {
            let p = |bit: i32, c: char| if v.prot & bit != 0 { c } else { '-' };
            let shm_name: String;
            let (off, dev, ino, name) = match &v.kind {
                VmaKind::File {
                    path,
                    offset,
                    dev,
                    ino,
                } => (*offset, *dev, *ino, path.as_str()),
                VmaKind::Heap => (0, 0, 0, "[heap]"),
                VmaKind::Stack => (0, 0, 0, "[stack]"),
                VmaKind::Anon => (0, 0, 0, ""),
                VmaKind::Vdso => (0, 0, 0, "[vdso]"),
                VmaKind::Vvar => (0, 0, 0, "[vvar]"),
                VmaKind::SysvShm { key, id } => {
                    shm_name = super::sysv_shm::maps_name(*key);
                    let off = match &v.mem {
                        Memory::Own { off, .. }
                        | Memory::Cow { off, .. }
                        | Memory::File { off, .. } => *off,
                        Memory::Reserved => 0,
                    };
                    (off, 1, *id as u64, shm_name.as_str())
                }
            };
            let line = format!(
                "{:08x}-{:08x} {}{}{}{} {:08x} {:02x}:{:02x} {}",
                v.start,
                v.end,
                p(libc::PROT_READ, 'r'),
                p(libc::PROT_WRITE, 'w'),
                p(libc::PROT_EXEC, 'x'),
                // The data page is shared underneath but private to Linux.
                if v.shared && v.kind != VmaKind::Vvar {
                    's'
                } else {
                    'p'
                },
                off,
                (dev >> 8) & 0xfff,
                dev & 0xff,
                ino
            );
            if name.is_empty() {
                s.push_str(&line);
            } else {
                s.push_str(&format!("{line:<73}{name}"));
            }
            s.push('\n');
        }
        s
    }

    /// Total mapped bytes (VmSize).
    pub fn mapped_bytes(&self) -> u64 {
        self.vmas.values().map(|v| v.end - v.start).sum()
    }

    /// The address space RLIMIT_AS counts. The stack is mapped whole up
    /// to its limit here, where Linux's stack mapping starts at 128 KiB
    /// and grows on faults: it counts as Linux's initial size, so a large
    /// RLIMIT_STACK does not eat a small RLIMIT_AS.
    pub fn limited_bytes(&self) -> u64 {
        const LINUX_INITIAL_STACK: u64 = 128 << 10;
        self.vmas
            .values()
            .map(|v| match v.kind {
                VmaKind::Stack => (v.end - v.start).min(LINUX_INITIAL_STACK),
                _ => v.end - v.start,
            })
            .sum()
    }

    /// The bytes of `[start, end)` in mappings `pick` accepts.
    pub fn bytes_in(&self, start: u64, end: u64, pick: impl Fn(&Vma) -> bool) -> u64 {
        self.vmas
            .values()
            .filter(|v| pick(v))
            .map(|v| v.end.min(end).saturating_sub(v.start.max(start)))
            .sum()
    }
}

pub(super) fn platform_err(e: crate::platform::PlatformError) -> Errno {
    tracing::warn!("platform refused an address-space change: {e}");
    Errno(libc::ENOMEM)
}
