//! Where everything lives in the guest, physically and virtually.
//!
//! ```text
//! guest physical                               guest virtual
//! 0          ┌──────────────────────────┐       KERNEL_VA + gpa (ring 0 only)
//!            │ guest kernel code (1 pg) │  RX
//! 0x1000     │ IDT (1 pg)               │  R
//! 0x10000    │ vCPU 0: GDT+TSS │ stack  │  RW, NX
//!            │ vCPU 1: ...              │
//! 16 MiB     ├──────────────────────────┤
//!            │ page-table pool          │  not mapped: only the MMU reads it
//! 1 GiB      ├──────────────────────────┤
//!            │ (hole)                   │
//! 4 GiB      ├──────────────────────────┤       0 .. USER_MAX (user, per
//!            │ the memory file, offset  │       address space, built from
//!            │ 0 .. slot size           │       the Sentry's map calls)
//!            └──────────────────────────┘
//! ```
//!
//! The private part (below 1 GiB) is anonymous memory of the VMM, sparse:
//! pages exist once written. The memory file is the Sentry's memfd, mapped
//! a second time by the VMM: a mapping in the workload is a page-table entry
//! pointing at `MEMFILE_GPA + file offset`, never a memory-slot change.

pub const PAGE: u64 = 4096;

/// Guest-physical start of the VMM's private memory.
pub const PRIVATE_GPA: u64 = 0;
/// The guest kernel's code page.
pub const CODE_GPA: u64 = 0;
/// The IDT page.
pub const IDT_GPA: u64 = 0x1000;
/// The per-vCPU pages start here.
pub const CPU_AREA_GPA: u64 = 0x1_0000;
/// Each vCPU has a page with its GDT and TSS, and a page of ring-0 stack.
pub const CPU_AREA_STRIDE: u64 = 2 * PAGE;
/// Offset of the TSS in the vCPU's first page (the GDT is at 0).
pub const TSS_OFFSET: u64 = 0x100;
/// Offset of the flush list in the vCPU's first page (after the TSS).
pub const FLUSH_LIST_OFFSET: u64 = 0x200;
/// How many page addresses one run of the flush gadget takes.
pub const FLUSH_LIST_LEN: usize = ((PAGE - FLUSH_LIST_OFFSET) / 8) as usize;
/// The part of private memory that is mapped in the guest's kernel half.
pub const KERNEL_AREA_SIZE: u64 = 16 << 20;
/// How many vCPUs fit in the kernel area.
pub const MAX_VCPUS: usize = ((KERNEL_AREA_SIZE - CPU_AREA_GPA) / CPU_AREA_STRIDE) as usize;
/// Page-table pages are allocated from here to the end of private memory.
pub const PT_POOL_GPA: u64 = KERNEL_AREA_SIZE;
/// The size of private memory (sparse).
pub const PRIVATE_SIZE: u64 = 1 << 30;

/// Guest-physical address of offset 0 of the memory file.
pub const MEMFILE_GPA: u64 = 4 << 30;

/// The kernel half: PML4 slot 511, shared by every address space.
pub const KERNEL_VA: u64 = 0xffff_ff80_0000_0000;
/// Lowest user address the VMM maps (the Sentry's USER_MIN).
pub const USER_MIN: u64 = 0x1_0000;
/// One past the highest user address (the Sentry's USER_MAX).
pub const USER_MAX: u64 = 0x7fff_ffff_0000;

/// The guest-virtual address of a private guest-physical address.
pub const fn kernel_va(gpa: u64) -> u64 {
    KERNEL_VA + gpa
}

/// The private guest-physical address of vCPU `slot`'s GDT page.
pub const fn cpu_gpa(slot: usize) -> u64 {
    CPU_AREA_GPA + slot as u64 * CPU_AREA_STRIDE
}

/// The top of vCPU `slot`'s ring-0 stack (guest-virtual).
pub const fn stack_top(slot: usize) -> u64 {
    kernel_va(cpu_gpa(slot) + CPU_AREA_STRIDE)
}

/// Where the VMM writes the `iretq` frame (rip, cs, rflags, rsp, ss) on
/// vCPU `slot`'s stack (guest-virtual).
pub const fn frame_va(slot: usize) -> u64 {
    stack_top(slot) - 40
}

const _: () = assert!(MEMFILE_GPA >= PRIVATE_GPA + PRIVATE_SIZE);
const _: () = assert!(MAX_VCPUS >= 1024);
