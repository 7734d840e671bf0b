//! Signal-driven I/O: a descriptor with O_ASYNC (F_SETFL or FIOASYNC) and
//! an owner (F_SETOWN, F_SETOWN_EX, FIOSETOWN, SIOCSPGRP) makes its owner
//! process, or process group, receive SIGIO (or the F_SETSIG signal, with
//! si_fd and si_band) when it becomes readable or writable. nginx's master
//! and workers talk over such socket pairs.
//!
//! Files here have no wake-up callbacks: every change bumps the kernel's
//! event counter. So one watcher thread, started with the first O_ASYNC
//! descriptor, re-polls the registered descriptions after each change and
//! signals their owners on each new readiness (an edge, as Linux signals on
//! each new event rather than while a state lasts).

use std::sync::{Arc, Mutex, OnceLock, Weak};

use super::events;
use super::process::lock;
use super::signal::SigInfo;
use super::Kernel;
use crate::vfs::OpenFile;

/// si_code values of SIGIO (POLL_IN ...).
const POLL_IN: i32 = 1;
const POLL_OUT: i32 = 2;
const POLL_ERR: i32 = 4;
const POLL_HUP: i32 = 6;

struct Entry {
    file: Weak<OpenFile>,
    /// The descriptor number the owner knows it by (si_fd).
    fd: i32,
    last: i16,
    /// The file's event_seq at the last look: a change with input waiting
    /// is new input even when readiness never looked cleared in between
    /// (a read and the next write can both fall between two looks).
    seq: u64,
}

static ENTRIES: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
static WATCHER: OnceLock<()> = OnceLock::new();

/// Notes that `file` (descriptor `fd`) may signal its owner; starts the
/// watcher the first time.
pub fn register(kernel: &Arc<Kernel>, file: &Arc<OpenFile>, fd: i32) {
    {
        let mut e = lock(&ENTRIES);
        e.retain(|x| x.file.strong_count() > 0);
        if !e
            .iter()
            .any(|x| std::ptr::eq(x.file.as_ptr(), Arc::as_ptr(file)))
        {
            e.push(Entry {
                file: Arc::downgrade(file),
                fd,
                last: file.ops.poll(),
                seq: file.ops.event_seq(),
            });
        }
    }
    WATCHER.get_or_init(|| {
        let k = kernel.clone();
        // If the thread cannot start, O_ASYNC descriptors just never
        // signal: the calls that set them still succeed, as before.
        let _ = std::thread::Builder::new()
            .name("sigio".into())
            .spawn(move || watch(k));
    });
}

fn watch(k: Arc<Kernel>) {
    loop {
        let seen = events::generation();
        let mut due = Vec::new();
        {
            let mut entries = lock(&ENTRIES);
            entries.retain(|x| x.file.strong_count() > 0);
            for e in entries.iter_mut() {
                let Some(f) = e.file.upgrade() else { continue };
                let now = f.ops.poll();
                let seq = f.ops.event_seq();
                let mut new = now & !e.last;
                if seq != e.seq {
                    new |= now & (libc::POLLIN | libc::POLLPRI | libc::POLLERR | libc::POLLHUP);
                }
                e.last = now;
                e.seq = seq;
                if f.flags() & libc::O_ASYNC == 0 || new == 0 {
                    continue;
                }
                let owner = f.owner();
                if owner != 0 {
                    due.push((owner, f.sigio_signal(), e.fd, new));
                }
            }
        }
        for (owner, sig, fd, bits) in due {
            deliver(&k, owner, sig, fd, bits);
        }
        events::wait(seen, None);
    }
}

/// Sends the owner its signal for readiness `bits` of descriptor `fd`.
fn deliver(k: &Kernel, owner: i32, sig: i32, fd: i32, bits: i16) {
    let info = if sig == 0 {
        SigInfo::new(libc::SIGIO, libc::SI_KERNEL)
    } else {
        let code = if bits & libc::POLLERR != 0 {
            POLL_ERR
        } else if bits & libc::POLLHUP != 0 {
            POLL_HUP
        } else if bits & libc::POLLIN != 0 {
            POLL_IN
        } else {
            POLL_OUT
        };
        let mut info = SigInfo::new(sig, code);
        // struct siginfo's SIGPOLL fields: long si_band, then int si_fd.
        info.fields[0] = bits as u16 as u64;
        info.fields[1] = fd as u32 as u64;
        info
    };
    if owner > 0 {
        if let Some(p) = k.process(owner) {
            k.send_signal(&p, info, false);
        }
    } else {
        k.signal_group(-owner, info);
    }
}
