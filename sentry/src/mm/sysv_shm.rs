//! Attaching and detaching SysV shared memory segments (shmat, shmdt). A
//! segment is a range of the memory file (a [`Backing`]) that lives in the
//! IPC namespace (kernel/ipc/shm.rs); an attachment is a shared mapping of
//! it, so fork shares it, exec and exit drop it, and the segment's memory
//! goes when neither the namespace nor any mapping holds it.

use std::sync::Arc;

use super::address_space::{Memory, MemoryManager, VmaKind};
use super::memfile::Backing;
use super::{page_up, PAGE_SIZE};
use crate::errno::{err, Errno, SysResult};
use crate::platform::{Context, Prot, USER_MAX, USER_MIN};

/// The name /proc/PID/maps gives an attached segment.
pub fn maps_name(key: i32) -> String {
    format!("/SYSV{:08x} (deleted)", key as u32)
}

impl MemoryManager {
    /// Maps all of `backing` shared with `prot`: at `at` (replacing what is
    /// there unless `no_replace`, then EINVAL on overlap), or where there
    /// is room. Returns the address.
    pub fn attach_shared(
        &mut self,
        ctx: &mut dyn Context,
        at: Option<u64>,
        no_replace: bool,
        prot: Prot,
        backing: Arc<Backing>,
        kind: VmaKind,
    ) -> SysResult<u64> {
        let len = page_up(backing.len).ok_or(Errno(libc::EINVAL))?;
        let start = match at {
            Some(addr) => {
                let end = addr.checked_add(len).ok_or(Errno(libc::EINVAL))?;
                if !addr.is_multiple_of(PAGE_SIZE) || addr < USER_MIN || end > USER_MAX {
                    return err(libc::EINVAL);
                }
                if no_replace && self.vmas().any(|v| v.start < end && addr < v.end) {
                    return err(libc::EINVAL);
                }
                self.unmap(ctx, addr, len)?;
                addr
            }
            None => self
                .find_gap(len, self.mmap_top)
                .ok_or(Errno(libc::ENOMEM))?,
        };
        self.insert_own(ctx, start, len, prot, true, kind, backing)
    }

    /// shmdt: removes the attachment that starts at `addr` (a mapping of
    /// the segment's first page for which `is_segment` holds) and every
    /// other piece of the same attachment. Returns the segment's memory.
    pub fn detach_shared(
        &mut self,
        ctx: &mut dyn Context,
        addr: u64,
        is_segment: impl Fn(&Arc<Backing>) -> bool,
    ) -> SysResult<Arc<Backing>> {
        let backing = match self.vma_at(addr).map(|v| (v.start, &v.mem)) {
            Some((start, Memory::Own { backing, off: 0 }))
                if start == addr && is_segment(backing) =>
            {
                backing.clone()
            }
            _ => return err(libc::EINVAL),
        };
        let end = addr.saturating_add(page_up(backing.len).unwrap_or(backing.len));
        let pieces: Vec<(u64, u64)> = self
            .vmas
            .range(addr..end)
            .map(|(_, v)| v)
            .filter(|v| match &v.mem {
                Memory::Own { backing: b, off } => {
                    Arc::ptr_eq(b, &backing) && *off == v.start - addr
                }
                Memory::Cow { .. } | Memory::File { .. } | Memory::Reserved => false,
            })
            .map(|v| (v.start, v.end - v.start))
            .collect();
        for (start, len) in pieces {
            self.unmap(ctx, start, len)?;
        }
        Ok(backing)
    }
}
