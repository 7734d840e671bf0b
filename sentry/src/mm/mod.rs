//! Application memory: the memory file that holds every byte of it, the
//! address spaces that map ranges of that file, copying to and from the
//! application, and the ELF loader that builds a fresh address space.

pub mod address_space;
pub mod elf;
pub mod file_pages;
pub mod image_cache;
pub mod memfile;
pub mod remap;
pub mod shared;
pub mod stack;
pub mod sysv_shm;

pub use address_space::{MemoryManager, Vma, VmaKind};
pub use file_pages::{FilePages, Mappable};
pub use memfile::MemoryFile;
pub use shared::SharedMm;

pub const PAGE_SIZE: u64 = 4096;

pub fn page_down(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

pub fn page_up(x: u64) -> Option<u64> {
    x.checked_add(PAGE_SIZE - 1).map(page_down)
}
