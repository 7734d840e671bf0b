//! The Sentry: the sandbox's user-space kernel.
//!
//! The workload never talks to the host kernel. Its threads run on a
//! *platform* (see [`platform`]) that traps every system call and fault and
//! hands it to the Sentry, which services it from its own model of a Linux
//! kernel: tasks and thread groups ([`kernel`]), memory ([`mm`]), a virtual
//! file system ([`vfs`]) over its own file systems ([`fs`]), and the system
//! call table ([`syscalls`]).
//!
//! The runtime drives it through [`Sandbox`]: open host resources, enter the
//! jail, create the init process, then serve the control socket.

pub mod control;
pub mod errno;
pub mod error;
pub mod fs;
pub mod jail;
pub mod kernel;
pub mod mm;
pub mod net;
pub mod platform;
pub mod sandbox;
pub mod spec;
pub mod syscalls;
pub mod vdso;
pub mod vfs;

pub use error::Error;
pub use sandbox::Sandbox;
pub use spec::{
    Atime, Capabilities, CpuLimits, DevptsOptions, HostMount, MountFlags, MountKind, MountSpec,
    NetworkMode, PlatformKind, ProcessSpec, Rlimit, RootOverlay, SandboxSpec,
};
