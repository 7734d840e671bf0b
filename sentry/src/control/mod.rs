//! The control socket: how `sandbox start`, `exec`, `kill`, `ps`, `pause`,
//! `resume` and `events` talk to a running Sentry. One Unix stream socket
//! per sandbox, bound in the container's state directory before the jail; frames are a 4-byte length
//! and a JSON message; stdio descriptors of `exec` travel with SCM_RIGHTS.
//! An `exec` connection stays open while its process runs: the runtime may
//! send `Signal` frames on it (for that process), and the Sentry answers
//! `Exited` when the process ends. A pod's later container joins with
//! `CreateContainer` (its root and bind sources travel as descriptors too)
//! and its connection likewise reports its init's end; requests for it
//! name it by id.

mod client;
mod wire;

pub use client::{
    create_container, exec, pause, ps, signal, start, start_container, stats, ExecSession,
    ExecSignaller,
};
pub use wire::{recv_frame, send_frame, JoinSpec, Request, Response, SandboxStats, MAX_FDS};
