//! An address space shared by the threads of a process. Reads and writes of
//! application memory lock it briefly; changes to the mappings name the
//! platform context of the calling thread, which mirrors them into the
//! (shared) host address space.

use std::sync::{Mutex, MutexGuard};

use super::address_space::{MemoryManager, MmSnapshot, Vma};
use crate::errno::SysResult;

pub struct SharedMm(Mutex<MemoryManager>);

impl SharedMm {
    pub fn new(mm: MemoryManager) -> SharedMm {
        SharedMm(Mutex::new(mm))
    }

    /// The address space, for changes and multi-step reads.
    pub fn lock(&self) -> MutexGuard<'_, MemoryManager> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn read(&self, addr: u64, buf: &mut [u8]) -> SysResult<()> {
        self.lock().read(addr, buf)
    }

    pub fn read_append(&self, addr: u64, len: usize, out: &mut Vec<u8>) -> SysResult<()> {
        self.lock().read_append(addr, len, out)
    }

    pub fn write(&self, addr: u64, data: &[u8]) -> SysResult<()> {
        self.lock().write(addr, data)
    }

    pub fn write_force(
        &self,
        ctx: &mut dyn crate::platform::Context,
        addr: u64,
        data: &[u8],
    ) -> SysResult<()> {
        self.lock().write_force(ctx, addr, data)
    }

    pub fn compare_exchange_u32(&self, addr: u64, old: u32, new: u32) -> SysResult<u32> {
        self.lock().compare_exchange_u32(addr, old, new)
    }

    pub fn read_cstr(&self, addr: u64, max: usize) -> SysResult<Vec<u8>> {
        self.lock().read_cstr(addr, max)
    }

    pub fn read_u64(&self, addr: u64) -> SysResult<u64> {
        self.lock().read_u64(addr)
    }

    pub fn read_obj<T: Copy>(&self, addr: u64) -> SysResult<T> {
        self.lock().read_obj(addr)
    }

    pub fn write_obj<T: Copy>(&self, addr: u64, v: &T) -> SysResult<()> {
        self.lock().write_obj(addr, v)
    }

    pub fn find(&self, addr: u64) -> Option<Vma> {
        self.lock().find(addr).cloned()
    }

    pub fn snapshot(&self) -> SysResult<MmSnapshot> {
        self.lock().snapshot()
    }

    pub fn maps_text(&self) -> String {
        self.lock().maps_text()
    }

    /// The auxiliary vector as /proc/PID/auxv shows it: (type, value)
    /// pairs of native words, AT_NULL last.
    pub fn auxv_bytes(&self) -> Vec<u8> {
        self.lock()
            .auxv
            .iter()
            .flat_map(|(k, v)| k.to_le_bytes().into_iter().chain(v.to_le_bytes()))
            .collect()
    }
}
