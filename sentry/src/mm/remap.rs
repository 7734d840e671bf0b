//! mremap: shrinking, growing in place, and moving a mapping. A move keeps
//! the mapping's memory-file pages (nothing is copied): the same backing is
//! mapped at the new address. Growth is fresh zeroed memory of the same
//! kind, as anonymous memory grows on Linux.

use std::sync::Arc;

use super::address_space::{platform_err, MemoryManager, Vma, VmaKind};
use super::file_pages::Mappable;
use super::{page_up, PAGE_SIZE};
use crate::errno::{err, Errno, SysResult};
use crate::platform::Context;

/// Where a mapping may go.
pub enum Placement {
    /// Stay, or fail with ENOMEM if it cannot grow in place.
    InPlace,
    /// Stay if possible, else move anywhere (MREMAP_MAYMOVE).
    MayMove,
    /// Move to exactly this address (MREMAP_FIXED).
    Fixed(u64),
    /// Move anywhere else, even when the mapping could stay
    /// (MREMAP_DONTUNMAP without MREMAP_FIXED).
    Elsewhere,
}

impl MemoryManager {
    pub fn remap(
        &mut self,
        ctx: &mut dyn Context,
        old: u64,
        old_len: u64,
        new_len: u64,
        placement: Placement,
    ) -> SysResult<u64> {
        if !old.is_multiple_of(PAGE_SIZE) {
            return err(libc::EINVAL);
        }
        let old_len = page_up(old_len).ok_or(Errno(libc::EINVAL))?;
        let new_len = page_up(new_len).ok_or(Errno(libc::EINVAL))?;
        if new_len == 0 || old_len == 0 {
            return err(libc::EINVAL);
        }
        let old_end = old.checked_add(old_len).ok_or(Errno(libc::EFAULT))?;
        // The old range must be mapped throughout. (Linux wants one VMA;
        // the Sentry does not merge neighbours, so adjacent ones count.)
        let mut pos = old;
        let mut last = None;
        let mut file = None;
        while pos < old_end {
            let v = self.vma_at(pos).ok_or(Errno(libc::EFAULT))?;
            last = Some((v.prot, v.shared, v.kind.clone()));
            // A shared file mapping grows over the file's next pages.
            file = v
                .file_at(v.start)
                .and_then(|(f, off)| Some((f, off.checked_sub(v.start - old)?)));
            pos = v.end;
        }
        let (prot, shared, kind) = last.ok_or(Errno(libc::EFAULT))?;
        // The vDSO's data page is one page and stays so (Linux's is
        // VM_DONTEXPAND: growing it is EFAULT).
        if kind == VmaKind::Vvar && new_len > old_len {
            return err(libc::EFAULT);
        }
        let grown_kind = |at: u64| match &kind {
            VmaKind::File {
                path,
                offset,
                dev,
                ino,
            } => VmaKind::File {
                path: path.clone(),
                offset: offset + at,
                dev: *dev,
                ino: *ino,
            },
            other => other.clone(),
        };
        let fixed = match placement {
            Placement::Fixed(to) => {
                if !to.is_multiple_of(PAGE_SIZE) {
                    return err(libc::EINVAL);
                }
                let to_end = to.checked_add(new_len).ok_or(Errno(libc::EINVAL))?;
                if to < old_end && old < to_end {
                    return err(libc::EINVAL);
                }
                Some(to)
            }
            _ => None,
        };
        if fixed.is_none() && !matches!(placement, Placement::Elsewhere) {
            if new_len <= old_len {
                if new_len < old_len {
                    self.unmap(ctx, old + new_len, old_len - new_len)?;
                }
                return Ok(old);
            }
            if self.is_free(old_end, old + new_len) {
                self.grow(
                    ctx,
                    old_end,
                    new_len - old_len,
                    prot,
                    shared,
                    grown_kind(old_len),
                    file.clone().map(|(f, off)| (f, off + old_len)),
                )?;
                return Ok(old);
            }
            if matches!(placement, Placement::InPlace) {
                return err(libc::ENOMEM);
            }
        }
        let dest = match fixed {
            Some(to) => {
                self.unmap(ctx, to, new_len)?;
                to
            }
            None => self
                .find_gap(new_len, self.mmap_top)
                .ok_or(Errno(libc::ENOMEM))?,
        };
        // Carry the pages that stay (all of them, or the first new_len).
        let keep = old_len.min(new_len);
        if keep < old_len {
            self.unmap(ctx, old + keep, old_len - keep)?;
        }
        self.split_at(old);
        self.split_at(old + keep);
        let moving: Vec<u64> = self.vmas.range(old..old + keep).map(|(&k, _)| k).collect();
        ctx.unmap(old, keep).map_err(platform_err)?;
        for k in moving {
            let Some(mut vma) = self.vmas.remove(&k) else {
                continue;
            };
            let len = vma.end - vma.start;
            let mapped = vma.mapped_end - vma.start;
            vma.start = dest + (k - old);
            vma.end = vma.start + len;
            vma.mapped_end = vma.start + mapped;
            vma.map_into(ctx, vma.start, vma.mapped_end)?;
            self.vmas.insert(vma.start, vma);
        }
        if new_len > keep {
            self.grow(
                ctx,
                dest + keep,
                new_len - keep,
                prot,
                shared,
                grown_kind(keep),
                file.map(|(f, off)| (f, off + keep)),
            )?;
        }
        Ok(dest)
    }

    /// MREMAP_DONTUNMAP: moves the `len` bytes at `old` (mapped
    /// throughout) as `remap` does, then maps the old range again: shared
    /// mappings keep showing the same pages (a shared anonymous region's,
    /// a file's), private ones read as fresh zeroed memory. Returns where
    /// the pages went.
    pub fn remap_keep_old(
        &mut self,
        ctx: &mut dyn Context,
        old: u64,
        len: u64,
        placement: Placement,
    ) -> SysResult<u64> {
        if !old.is_multiple_of(PAGE_SIZE) {
            return err(libc::EINVAL);
        }
        let len = page_up(len).ok_or(Errno(libc::EINVAL))?;
        let end = old.checked_add(len).ok_or(Errno(libc::EFAULT))?;
        let mut pos = old;
        while pos < end {
            let v = self.vma_at(pos).ok_or(Errno(libc::EFAULT))?;
            // Linux refuses the mappings that cannot grow (VM_DONTEXPAND).
            if v.kind == VmaKind::Vvar {
                return err(libc::EINVAL);
            }
            pos = v.end;
        }
        self.split_at(old);
        self.split_at(end);
        let before: Vec<Vma> = self.vmas.range(old..end).map(|(_, v)| v.clone()).collect();
        let dest = self.remap(ctx, old, len, len, placement)?;
        for mut v in before {
            if v.shared {
                v.locked = false;
                v.map_into(ctx, v.start, v.mapped_end)?;
                self.vmas.insert(v.start, v);
            } else {
                let vlen = v.end - v.start;
                self.map_anon(ctx, v.start, vlen, v.prot, true, false, v.kind)?;
            }
        }
        Ok(dest)
    }

    /// Maps the grown part of a mapping at `at`: more of the same file for
    /// a shared file mapping, fresh memory for everything else.
    #[allow(clippy::too_many_arguments)]
    fn grow(
        &mut self,
        ctx: &mut dyn Context,
        at: u64,
        len: u64,
        prot: i32,
        shared: bool,
        kind: VmaKind,
        file: Option<(Arc<dyn Mappable>, u64)>,
    ) -> SysResult<()> {
        match file {
            Some((f, off)) => self.map_file(ctx, at, len, prot, true, f, off, kind),
            None => self.map_anon(ctx, at, len, prot, true, shared, kind),
        }
        .map(|_| ())
    }
}
