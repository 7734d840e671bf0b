//! The entry points of the guest kernel, written in assembly.
//!
//! Every entry has the same two-instruction shape:
//!
//! ```text
//!     out PORT, al    ; exit to the VMM; PORT says which entry this is
//!     iretq           ; back to user mode through the frame at [rsp]
//! ```
//!
//! `out` changes no register and touches no memory, so the VMM sees the
//! application's registers exactly as the CPU left them on entry:
//!
//! - `syscall` (LSTAR): rcx holds the user rip, r11 the user rflags, rsp is
//!   still the *user* stack (syscall does not switch stacks) and the CPU is
//!   at CPL 0 with interrupts masked (SFMASK).
//! - an exception from user mode: the CPU switched to the ring-0 stack
//!   named in the TSS and pushed ss, rsp, rflags, cs, rip and, for some
//!   vectors, an error code.
//!
//! Before resuming, the VMM writes a fresh `iretq` frame (rip, cs, rflags,
//! rsp, ss) on this vCPU's ring-0 stack and points rsp at it, and sets every
//! other register to the value the application must see. The instruction
//! after `out` is then `iretq`, so the VMM never has to move rip while the
//! `out` is still being completed by KVM (moving it would race KVM's own
//! completion of the port write). `iretq` rather than `sysretq`: on PVM a
//! `sysretq` executed by an emulated ring-0 handler kills the guest.
//!
//! Nothing here reads or writes memory, so the guest kernel needs no data
//! of its own, and a wrong user rsp cannot make it fault.

use std::arch::global_asm;

/// The port of the `syscall` entry.
pub const SYSCALL_PORT: u16 = 0x60;
/// The port of the entry for `syscall` from 32-bit compatibility mode (CSTAR).
pub const COMPAT_SYSCALL_PORT: u16 = 0x61;
/// Exception vector `v` exits on port `EXCEPTION_PORT_BASE + v`.
pub const EXCEPTION_PORT_BASE: u16 = 0x40;
/// Distance between two exception entries in the image.
pub const VECTOR_STRIDE: usize = 8;
/// The length of `out imm8, al` (the iretq follows it).
pub const OUT_LEN: u64 = 2;
/// The port the flush gadget exits on when it is done.
pub const FLUSH_PORT: u16 = 0x62;

// The image is position independent: it contains no absolute address, so
// the VMM can copy it anywhere in the guest. The section keeps it out of
// the way of the host's own code; it is never executed on the host.
global_asm!(
    r#"
    .pushsection .text.sandbox_guest, "ax"
    // Every label Image::get names is global: in a release build that
    // function is inlined into other crates, which cannot see local labels.
    .balign 64
    .globl sandbox_guest_image
sandbox_guest_image:

    // LSTAR: a 64-bit `syscall` from user mode.
    .globl sandbox_guest_syscall
sandbox_guest_syscall:
    out 0x60, al
    iretq

    // CSTAR: `syscall` from 32-bit compatibility mode. The VMM refuses it.
    .balign 8
    .globl sandbox_guest_compat_syscall
sandbox_guest_compat_syscall:
    out 0x61, al
    iretq

    // The 32 exception vectors, VECTOR_STRIDE bytes apart. The CPU has
    // pushed the user frame (and maybe an error code) on the TSS stack.
    .balign 8
    .globl sandbox_guest_vectors
sandbox_guest_vectors:
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .balign 8
    out 0x40 + \n, al
    iretq
    .endr

    // Make the MMU forget page tables the VMM changed, then exit.
    // rsi: a list of rcx guest-virtual addresses of page-table pages.
    //
    // On hardware KVM the CPU walks the guest's page tables itself and the
    // CR3 reload below is all it takes. On KVM with shadow paging (PVM),
    // KVM keeps its own copy of every guest page table and only notices
    // changes made by the guest's own writes; the VMM's writes from the
    // host are invisible to it. A 2-byte locked write that changes nothing
    // is such a guest write, and one KVM cannot apply to an 8-byte entry,
    // so it drops its copy of that page table (and flushes every vCPU).
    .balign 8
    .globl sandbox_guest_flush
sandbox_guest_flush:
    test rcx, rcx
    jz 2f
1:
    mov rax, [rsi]
    lock or word ptr [rax], 0
    add rsi, 8
    dec rcx
    jnz 1b
2:
    mov rax, cr3        // reloading CR3 drops cached translations
    mov cr3, rax
    .globl sandbox_guest_flush_out
sandbox_guest_flush_out:
    out 0x62, al        // done: back to the VMM
    iretq

    .balign 8
    .globl sandbox_guest_image_end
sandbox_guest_image_end:
    .popsection
    "#
);

extern "C" {
    static sandbox_guest_image: u8;
    static sandbox_guest_syscall: u8;
    static sandbox_guest_compat_syscall: u8;
    static sandbox_guest_vectors: u8;
    static sandbox_guest_flush: u8;
    static sandbox_guest_flush_out: u8;
    static sandbox_guest_image_end: u8;
}

/// The guest kernel's code and where its entries are, as offsets into it.
#[derive(Debug, Clone, Copy)]
pub struct Image {
    pub bytes: &'static [u8],
    /// The LSTAR entry.
    pub syscall: u64,
    /// The CSTAR entry.
    pub compat_syscall: u64,
    /// The entry of exception vector 0; vector `v` is `VECTOR_STRIDE * v`
    /// further.
    pub vectors: u64,
    /// The flush gadget (see the assembly); it ends with `out FLUSH_PORT`
    /// and an `iretq`.
    pub flush: u64,
    /// The `out` at its end.
    pub flush_out: u64,
}

impl Image {
    pub fn get() -> Image {
        // SAFETY: the symbols are defined by the global_asm! above, in one
        // section, in this order; we only take their addresses and read the
        // bytes between start and end, which are initialised code bytes.
        unsafe {
            let start = &raw const sandbox_guest_image as usize;
            let end = &raw const sandbox_guest_image_end as usize;
            let off = |p: *const u8| (p as usize - start) as u64;
            Image {
                bytes: std::slice::from_raw_parts(start as *const u8, end - start),
                syscall: off(&raw const sandbox_guest_syscall),
                compat_syscall: off(&raw const sandbox_guest_compat_syscall),
                vectors: off(&raw const sandbox_guest_vectors),
                flush: off(&raw const sandbox_guest_flush),
                flush_out: off(&raw const sandbox_guest_flush_out),
            }
        }
    }

    /// Offset of the entry of exception `vector`.
    pub fn vector(&self, vector: u8) -> u64 {
        self.vectors + VECTOR_STRIDE as u64 * vector as u64
    }

    /// Whether `off` is an `iretq` (each entry's `out` plus [`OUT_LEN`]).
    pub fn is_iretq(&self, off: u64) -> bool {
        self.entry_at(off.wrapping_sub(OUT_LEN)).is_some()
    }

    /// Which entry's `out` instruction is at `off`, as its port.
    pub fn entry_at(&self, off: u64) -> Option<u16> {
        if off == self.syscall {
            return Some(SYSCALL_PORT);
        }
        if off == self.compat_syscall {
            return Some(COMPAT_SYSCALL_PORT);
        }
        if off == self.flush_out {
            return Some(FLUSH_PORT);
        }
        let rel = off.checked_sub(self.vectors)?;
        let v = rel / VECTOR_STRIDE as u64;
        if rel % VECTOR_STRIDE as u64 == 0 && v < 32 {
            return Some(EXCEPTION_PORT_BASE + v as u16);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes are what the module documentation says they are.
    #[test]
    fn entries_are_out_then_iretq() {
        let img = Image::get();
        let at = |off: u64| &img.bytes[off as usize..off as usize + 4];
        // out imm8, al = E6 ib; iretq = 48 CF.
        assert_eq!(at(img.syscall), &[0xe6, SYSCALL_PORT as u8, 0x48, 0xcf]);
        assert_eq!(
            at(img.compat_syscall),
            &[0xe6, COMPAT_SYSCALL_PORT as u8, 0x48, 0xcf]
        );
        for v in 0..32u8 {
            assert_eq!(
                at(img.vector(v)),
                &[0xe6, EXCEPTION_PORT_BASE as u8 + v, 0x48, 0xcf],
                "vector {v}"
            );
            assert_eq!(
                img.entry_at(img.vector(v)),
                Some(EXCEPTION_PORT_BASE + v as u16)
            );
            assert!(img.is_iretq(img.vector(v) + 2));
        }
        assert_eq!(img.entry_at(img.syscall + 1), None);
        let f = img.flush_out as usize;
        assert_eq!(&img.bytes[f..f + 4], &[0xe6, FLUSH_PORT as u8, 0x48, 0xcf]);
        // mov cr3, rax just before it; the locked 16-bit or in the loop.
        assert_eq!(&img.bytes[f - 3..f], &[0x0f, 0x22, 0xd8]);
        let flush = &img.bytes[img.flush as usize..f];
        assert!(flush
            .windows(5)
            .any(|w| w == [0x66, 0xf0, 0x83, 0x08, 0x00]));
        assert!(img.bytes.len() < 4096);
    }
}
