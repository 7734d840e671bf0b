//! The x86-64 descriptor tables of the guest: the GDT (code and data
//! segments, the TSS descriptor), the TSS (the ring-0 stack the CPU
//! switches to on an exception from user mode) and the IDT (where each
//! exception vector enters the guest kernel).
//!
//! The selectors are Linux's, so the application sees the `cs` and `ss`
//! values it would see on Linux (0x33 and 0x2b), and `syscall`/`sysret`
//! selector arithmetic (STAR) matches the GDT order.

/// Kernel 64-bit code.
pub const KERNEL_CS: u16 = 0x10;
/// Kernel data (and stack).
pub const KERNEL_SS: u16 = 0x18;
/// User 32-bit code (STAR's sysret base; never used to run code here).
pub const USER32_CS: u16 = 0x23;
/// User data and stack.
pub const USER_SS: u16 = 0x2b;
/// User 64-bit code.
pub const USER_CS: u16 = 0x33;
/// The TSS (a 16-byte system descriptor: GDT slots 8 and 9).
pub const TSS_SEL: u16 = 0x40;
/// GDT entries (8 bytes each, the TSS counting twice).
pub const GDT_ENTRIES: usize = 10;
/// The size of the TSS (no I/O permission bitmap).
pub const TSS_SIZE: usize = 104;
/// The size of the IDT: 32 exception vectors, 16 bytes each.
pub const IDT_SIZE: usize = 32 * 16;

/// Access byte and flags of a code or data segment descriptor.
const fn segment(access: u64, flags: u64) -> u64 {
    // Base 0, limit 0xfffff (ignored in 64-bit mode for code/data, kept
    // for the 32-bit user code segment).
    0xffff | (access << 40) | (0xf << 48) | (flags << 52)
}
/// Present, DPL 0, code, readable, accessed.
const KCODE: u64 = segment(0x9b, 0xa); // flags: G | L
/// Present, DPL 0, data, writable, accessed.
const KDATA: u64 = segment(0x93, 0xc); // flags: G | D/B
/// Present, DPL 3, code, readable, accessed (32-bit).
const UCODE32: u64 = segment(0xfb, 0xc);
/// Present, DPL 3, data, writable, accessed.
const UDATA: u64 = segment(0xf3, 0xc);
/// Present, DPL 3, code, readable, accessed (64-bit).
const UCODE64: u64 = segment(0xfb, 0xa);

/// The GDT of one vCPU, whose TSS is at guest-virtual `tss`.
pub fn gdt(tss: u64) -> [u64; GDT_ENTRIES] {
    let limit = (TSS_SIZE - 1) as u64;
    // A 64-bit available TSS (type 9), present, DPL 0.
    let tss_low = (limit & 0xffff)
        | ((tss & 0xff_ffff) << 16)
        | (0x89 << 40)
        | (((limit >> 16) & 0xf) << 48)
        | (((tss >> 24) & 0xff) << 56);
    let tss_high = tss >> 32;
    [
        0, 0, KCODE, KDATA, UCODE32, UDATA, UCODE64, 0, tss_low, tss_high,
    ]
}

/// A TSS whose ring-0 stack pointer is `rsp0`. The I/O map base lies past
/// the limit, so there is no I/O permission bitmap: with IOPL 0 every port
/// access from user mode faults, and the application can never reach the
/// VMM's exit ports itself.
pub fn tss(rsp0: u64) -> [u8; TSS_SIZE] {
    let mut t = [0u8; TSS_SIZE];
    t[4..12].copy_from_slice(&rsp0.to_le_bytes());
    t[102..104].copy_from_slice(&(TSS_SIZE as u16).to_le_bytes());
    t
}

/// The IDT: vector `v` enters at `entry(v)`, an interrupt gate (interrupts
/// stay masked in the guest kernel). Only `int3` (#BP) and `into` (#OF) may
/// be raised from user mode with an `int` instruction, as on Linux; `int n`
/// for any other vector is a #GP.
pub fn idt(entry: impl Fn(u8) -> u64) -> [u8; IDT_SIZE] {
    let mut idt = [0u8; IDT_SIZE];
    for v in 0..32u8 {
        let off = entry(v);
        let dpl: u8 = if v == 3 || v == 4 { 3 } else { 0 };
        let gate = &mut idt[v as usize * 16..v as usize * 16 + 16];
        gate[0..2].copy_from_slice(&(off as u16).to_le_bytes());
        gate[2..4].copy_from_slice(&KERNEL_CS.to_le_bytes());
        gate[4] = 0; // no IST: exceptions from user mode use TSS.rsp0
        gate[5] = 0x80 | (dpl << 5) | 0xe; // present, DPL, 64-bit interrupt gate
        gate[6..8].copy_from_slice(&((off >> 16) as u16).to_le_bytes());
        gate[8..12].copy_from_slice(&((off >> 32) as u32).to_le_bytes());
    }
    idt
}

/// Whether exception `vector` pushes an error code.
pub fn has_error_code(vector: u8) -> bool {
    matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_match_the_architecture() {
        let g = gdt(0xffff_ff80_0001_0100);
        // The well-known encodings of flat 64-bit segments.
        assert_eq!(g[(KERNEL_CS >> 3) as usize], 0x00af_9b00_0000_ffff);
        assert_eq!(g[(KERNEL_SS >> 3) as usize], 0x00cf_9300_0000_ffff);
        assert_eq!(g[(USER_CS >> 3) as usize], 0x00af_fb00_0000_ffff);
        assert_eq!(g[(USER_SS >> 3) as usize], 0x00cf_f300_0000_ffff);
        // STAR arithmetic: sysret takes ss = base + 8, cs = base + 16.
        assert_eq!(USER32_CS + 8, USER_SS);
        assert_eq!(USER32_CS + 16, USER_CS);
        let t = g[(TSS_SEL >> 3) as usize];
        assert_eq!(t & 0xffff, 103);
        assert_eq!((t >> 16) & 0xff_ffff, 0x01_0100);
        assert_eq!((t >> 40) & 0xff, 0x89);
        assert_eq!(g[(TSS_SEL >> 3) as usize + 1], 0xffff_ff80);
        let i = idt(|v| 0xffff_ff80_0000_0000 + 0x1234_5678 + v as u64);
        assert_eq!(
            &i[16 * 3..16 * 3 + 8],
            &[0x7b, 0x56, 0x10, 0, 0, 0xee, 0x34, 0x12]
        );
        assert_eq!(i[16 * 14 + 5], 0x8e);
        let tss = tss(0xdead_beef);
        assert_eq!(&tss[4..8], &[0xef, 0xbe, 0xad, 0xde]);
    }
}
