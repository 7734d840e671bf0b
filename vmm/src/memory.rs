//! Guest physical memory: the VMM's private region (guest kernel, page
//! tables) and the memory file, registered with KVM as two memory slots.

use std::fs::File;
use std::os::fd::BorrowedFd;

use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::VmFd;
use vm_memory::{
    FileOffset, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestRegionMmap, MmapRegion,
};

use crate::error::{Error, Result};
use crate::layout::{MEMFILE_GPA, PRIVATE_GPA, PRIVATE_SIZE};

pub struct Memory {
    mem: GuestMemoryMmap,
    private: *mut u8,
    memfile_size: u64,
}

// SAFETY: the raw pointer is the host address of the private mapping owned
// by `mem`, which lives as long as Memory; concurrent access is organised
// by the callers (page tables under their own lock, per-vCPU pages by the
// vCPU that owns them).
unsafe impl Send for Memory {}
// SAFETY: see Send.
unsafe impl Sync for Memory {}

impl Memory {
    /// Maps `memfile_size` bytes of the memory file `memfile` (a second
    /// mapping of it, beside the Sentry's) and a sparse private region, and
    /// registers both with the VM.
    pub fn new(vm: &VmFd, memfile: BorrowedFd<'_>, memfile_size: u64) -> Result<Memory> {
        let merr = |e: &dyn std::fmt::Display| Error::Memory(e.to_string());
        let private = MmapRegion::new(PRIVATE_SIZE as usize).map_err(|e| merr(&e))?;
        let file: File = memfile.try_clone_to_owned().map_err(|e| merr(&e))?.into();
        let shared = MmapRegion::from_file(FileOffset::new(file, 0), memfile_size as usize)
            .map_err(|e| merr(&e))?;
        let regions = vec![
            GuestRegionMmap::new(private, GuestAddress(PRIVATE_GPA))
                .ok_or_else(|| Error::Memory("private region overflows".into()))?,
            GuestRegionMmap::new(shared, GuestAddress(MEMFILE_GPA))
                .ok_or_else(|| Error::Memory("memory-file region overflows".into()))?,
        ];
        let mem = GuestMemoryMmap::from_regions(regions).map_err(|e| merr(&e))?;
        for (slot, (gpa, size)) in [(PRIVATE_GPA, PRIVATE_SIZE), (MEMFILE_GPA, memfile_size)]
            .into_iter()
            .enumerate()
        {
            let host = mem
                .get_host_address(GuestAddress(gpa))
                .map_err(|e| merr(&e))?;
            let region = kvm_userspace_memory_region {
                slot: slot as u32,
                flags: 0,
                guest_phys_addr: gpa,
                memory_size: size,
                userspace_addr: host as u64,
            };
            // SAFETY: `host` is a mapping of `size` bytes owned by `mem`,
            // which the VM's owner keeps alive as long as the VM (Memory is
            // dropped after the VmFd in VmShared).
            unsafe { vm.set_user_memory_region(region) }
                .map_err(Error::kvm("SET_USER_MEMORY_REGION"))?;
        }
        let private = mem
            .get_host_address(GuestAddress(PRIVATE_GPA))
            .map_err(|e| merr(&e))?;
        Ok(Memory {
            mem,
            private,
            memfile_size,
        })
    }

    /// The size of the memory-file slot: file offsets at or above it cannot
    /// be mapped into the guest.
    pub fn memfile_size(&self) -> u64 {
        self.memfile_size
    }

    /// The host address of private guest-physical address `gpa`.
    ///
    /// # Safety
    /// `gpa` must lie in the private region.
    pub unsafe fn private_ptr(&self, gpa: u64) -> *mut u8 {
        debug_assert!(gpa < PRIVATE_SIZE);
        self.private.add((gpa - PRIVATE_GPA) as usize)
    }

    /// Copies `bytes` to private guest-physical address `gpa`.
    pub fn write_private(&self, gpa: u64, bytes: &[u8]) -> Result<()> {
        if gpa
            .checked_add(bytes.len() as u64)
            .is_none_or(|e| e > PRIVATE_SIZE)
        {
            return Err(Error::Memory(format!(
                "private write at {gpa:#x} out of range"
            )));
        }
        // SAFETY: the range was checked to lie inside the private mapping;
        // the region written is owned by the caller (a vCPU's pages or the
        // shared kernel pages during setup).
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.private_ptr(gpa), bytes.len())
        };
        Ok(())
    }

    /// Reads a u64 at private guest-physical address `gpa`.
    pub fn read_private_u64(&self, gpa: u64) -> Result<u64> {
        if gpa.checked_add(8).is_none_or(|e| e > PRIVATE_SIZE) {
            return Err(Error::Memory(format!(
                "private read at {gpa:#x} out of range"
            )));
        }
        // SAFETY: in range (checked); unaligned read of plain data.
        Ok(unsafe { std::ptr::read_unaligned(self.private_ptr(gpa) as *const u64) })
    }

    /// The vm-memory view of all guest memory (for tests and tools).
    pub fn guest_memory(&self) -> &GuestMemoryMmap {
        &self.mem
    }
}
