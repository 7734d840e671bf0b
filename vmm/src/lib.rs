//! The sandbox's microVM.
//!
//! One KVM virtual machine per sandbox. Its guest physical memory is the
//! Sentry's memory file (one memory slot) plus a small private region with
//! the guest kernel (see the `guest` crate) and the page tables. Each
//! application thread runs on a vCPU, in guest user mode; every system call
//! and exception enters the guest kernel, which exits to this VMM at once
//! with one `out` instruction. The VMM decodes the exit into the
//! application's registers and a [`vcpu::Exit`], the caller (the Sentry's
//! kvm platform) services it, and the VMM returns to user mode with the
//! result.
//!
//! See `layout` for the memory map and `vcpu` for the exit protocol.

pub mod error;
pub mod fault;
pub mod ioctls;
pub mod kick;
pub mod layout;
pub mod memory;
pub mod pagetable;
pub mod vcpu;
pub mod vm;

pub use error::{Error, Result};
pub use fault::Signal;
pub use kick::Kick;
pub use kvm_ioctls::Kvm;
pub use vcpu::{Exit, FpRegs, Regs, Vcpu};
pub use vm::{open_kvm, probe, AddressSpace, StatsSnapshot, Vm};
