//! The guest kernel: the only code that runs in ring 0 of a sandbox's
//! virtual machine.
//!
//! It is deliberately almost nothing. On the machines this runs on (KVM on
//! PVM) every guest ring-0 instruction is emulated by the host, at about
//! 0.6 µs each, so the guest kernel does no work at all: each way into
//! ring 0 (the `syscall` entry and the 32 exception vectors) is one `out`
//! instruction, which exits to the VMM on the host with the reason encoded
//! in the port number, followed by one `iretq` that returns to user mode
//! through a frame the VMM wrote. Everything else — deciding what a system
//! call or fault means, choosing the registers to return with — happens in
//! the VMM and the Sentry.
//!
//! The crate holds that code ([`entry`]) and the layout of the x86-64
//! descriptor tables that make those entries reachable ([`tables`]): the
//! GDT with Linux's selector values, the TSS that gives the CPU a ring-0
//! stack, and the IDT. The VMM copies them into guest memory; only
//! architectural mechanisms are used, so the same guest runs on hardware
//! KVM (VT-x, AMD-V) and on PVM.

pub mod entry;
pub mod tables;

pub use entry::{Image, COMPAT_SYSCALL_PORT, EXCEPTION_PORT_BASE, FLUSH_PORT, SYSCALL_PORT};
