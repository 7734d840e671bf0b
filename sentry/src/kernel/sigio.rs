//! Signal-driven I/O: a descriptor with O_ASYNC (F_SETFL or FIOASYNC) and
//! an owner (F_SETOWN, F_SETOWN_EX, FIOSETOWN, SIOCSPGRP) makes its owner
//! process, or process group, receive SIGIO (or the F_SETSIG signal, with
//! si_fd and si_band) when it becomes readable or writable. nginx's master
//! and workers talk over such socket pairs.
//!
//! Files here have no wake-up callbacks: a change bumps the file's own
//! counter (`FileOps::wait_seq`) or, for files without one, the kernel's
//! event counter. So one watcher thread, started with the first O_ASYNC
//! descriptor, re-polls the registered descriptions after each change and
//! signals their owners on each new readiness (an edge, as Linux signals on
//! each new event rather than while a state lasts). While every registered
//! file keeps its own counter, the watcher watches those alone: woken by
//! every change anywhere, it cost a thread wake-up per network frame.

use std::sync::{Arc, Mutex, OnceLock, Weak};

use super::events;
use super::process::lock;
use super::signal::SigInfo;
use super::thread::Thread;
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
/// The watcher's wake-up (a Thread for its wake descriptor only; it
/// runs no task). Set once the watcher runs.
static WATCHER: OnceLock<Arc<Thread>> = OnceLock::new();

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
    if let Some(w) = WATCHER.get() {
        // A new file to watch: let the watcher choose its wait anew.
        w.unpark();
        return;
    }
    // If the thread cannot start, O_ASYNC descriptors just never signal:
    // the calls that set them still succeed, as before.
    let Ok(me) = Thread::new(0, 0) else { return };
    if WATCHER.set(me.clone()).is_ok() {
        let k = kernel.clone();
        let _ = std::thread::Builder::new()
            .name("sigio".into())
            .spawn(move || watch(k, me));
    }
}

fn watch(k: Arc<Kernel>, me: Arc<Thread>) {
    loop {
        let seen = events::generation();
        let files: Vec<Arc<OpenFile>> = {
            let mut entries = lock(&ENTRIES);
            entries.retain(|x| x.file.strong_count() > 0);
            entries.iter().filter_map(|e| e.file.upgrade()).collect()
        };
        // Watch before looking, so that a change after the look wakes us.
        let own = files.iter().all(|f| f.ops.wait_seq().is_some());
        if own {
            for f in &files {
                if let Some(s) = f.ops.wait_seq() {
                    s.watch(&me);
                }
            }
        }
        let mut due = Vec::new();
        {
            let mut entries = lock(&ENTRIES);
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
        if own {
            let mut pfd = libc::pollfd {
                fd: me.wake_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: poll on one valid pollfd of our own.
            unsafe { libc::poll(&mut pfd, 1, -1) };
            me.drain_wake();
            for f in &files {
                if let Some(s) = f.ops.wait_seq() {
                    s.unwatch(&me);
                }
            }
        } else {
            events::wait(seen, None);
        }
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
