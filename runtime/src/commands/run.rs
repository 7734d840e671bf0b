//! `run`: create, start, wait, delete. The runtime stays the parent of the
//! container's init, forwards the signals it receives into the sandbox,
//! and exits with the workload's status.

use std::time::Duration;

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tracing::debug;

use super::{container, create, delete, start, Error};
use crate::cli::{GlobalOpts, RunArgs};
use crate::pod;
use crate::state::State;

pub(crate) const FORWARDED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

pub fn command(g: &GlobalOpts, a: &RunArgs) -> Result<i32, Error> {
    let id = &a.create.id;
    let created = create::create(g, &a.create, !a.detach)?;
    if let Err(e) = start::command(g, id) {
        let _ = delete::command(g, id, true);
        let _ = waitpid(created.pid, None);
        return Err(e);
    }
    if a.detach {
        return Ok(0);
    }
    let status = wait_forwarding(g, id, created.pid)?;
    delete::command(g, id, true)?;
    Ok(status)
}

/// Waits for `pid` (our child), forwarding signals to the sandbox.
fn wait_forwarding(g: &GlobalOpts, id: &str, pid: Pid) -> Result<i32, Error> {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(*s);
    }
    set.add(Signal::SIGCHLD);
    // Blocked signals stay pending for sigtimedwait below instead of
    // running their default action (which would kill `run`).
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
        .map_err(Error::sys("block signals"))?;
    // Where the container is reached: its own sandbox, or the one it
    // joined (a pod's).
    let target = container(g, id)
        .and_then(|c| {
            let state = State::load(&c)?;
            Ok(pod::address(&g.root, &c, &state)?)
        })
        .ok();
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("wait for the container's init")(e)),
        }
        // A timeout bounds the wait even if a SIGCHLD went missing.
        let timeout = libc::timespec {
            tv_sec: 1,
            tv_nsec: 0,
        };
        // SAFETY: sigtimedwait reads the set and timeout from our stack and
        // writes no siginfo (null pointer).
        let sig = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &timeout) };
        if sig <= 0 || sig == libc::SIGCHLD {
            continue;
        }
        if let Some(t) = &target {
            if let Err(e) = sentry::control::signal(&t.socket.path, &t.container, sig, false) {
                debug!("forwarding signal {sig}: {e}");
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
