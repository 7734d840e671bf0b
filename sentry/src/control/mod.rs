//! The control socket: how `sandbox start`, `exec`, `kill` and `ps` talk to a
//! running Sentry. One Unix stream socket per sandbox, bound in the
//! container's state directory before the jail; frames are a 4-byte length
//! and a JSON message; stdio descriptors of `exec` travel with SCM_RIGHTS.

mod client;
mod wire;

pub use client::{exec, ps, signal, start, ExecSession};
pub use wire::{recv_frame, send_frame, Request, Response};
