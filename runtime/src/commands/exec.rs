//! `exec`: run another process in a running sandbox.
//!
//! The Sentry starts the process; on the host it has no pid of its own.
//! What stands for it is a small proxy process of ours that holds the
//! control connection and exits with the process's status, so the shim can
//! wait for "the exec'd pid" as it does with runc.

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::sys::signal::{SigSet, SigmaskHow};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use oci_spec::runtime::Process;
use sentry::ProcessSpec;
use tracing::error;

use super::{container, Error};
use crate::bundle::{process, Bundle};
use crate::cli::{ExecArgs, GlobalOpts};
use crate::console::{self, ConsoleError};
use crate::fsutil::write_atomic;
use crate::pod;
use crate::state::{State, Status};
use crate::sync::{Channel, Msg, SyncError};

pub fn command(g: &GlobalOpts, a: &ExecArgs) -> Result<i32, Error> {
    let c = container(g, &a.id)?;
    // No lock held: an exec lives as long as its process, and must not
    // block `kill` or `delete` of the container meanwhile.
    let state = State::load(&c)?;
    let status = state.current_status();
    if status != Status::Running && status != Status::Created {
        return Err(Error::CannotExec {
            id: a.id.clone(),
            status,
        });
    }
    let spec = process_spec(a, &state)?;
    let pty_slave = if spec.terminal {
        match &a.console_socket {
            Some(socket) => {
                let pty = console::open(None)?;
                console::send_master(socket, &pty.master)?;
                Some(pty.slave)
            }
            None if !a.detach => None,
            None => return Err(ConsoleError::NoSocket.into()),
        }
    } else {
        None
    };
    let stdio: [RawFd; 3] = match &pty_slave {
        Some(s) => [s.as_raw_fd(); 3],
        None => [0, 1, 2],
    };
    let addr = pod::address(&g.root, &c, &state)?;
    let (socket, target) = (&addr.socket, addr.container.as_str());

    if !a.detach {
        if let Some(p) = &a.pid_file {
            write_pid_file(p, std::process::id() as i32)?;
        }
        let session =
            sentry::control::exec(&socket.path, target, &spec, stdio).map_err(exec_error)?;
        drop(pty_slave);
        return wait_forwarding(session).map_err(|source| Error::Control {
            id: a.id.clone(),
            source,
        });
    }

    let (mut channel, child_channel) = Channel::pair()?;
    // SAFETY: the runtime is single-threaded; the child only talks over
    // the control socket and exits.
    match unsafe { fork() }.map_err(Error::sys("fork the exec proxy"))? {
        ForkResult::Child => {
            drop(channel);
            proxy(&socket.path, target, &spec, stdio, pty_slave, child_channel)
        }
        ForkResult::Parent { child } => {
            drop(child_channel);
            drop(pty_slave);
            match channel.recv() {
                Ok(Msg::Created) => {
                    if let Some(p) = &a.pid_file {
                        write_pid_file(p, child.as_raw())?;
                    }
                    Ok(0)
                }
                Ok(Msg::Failed { error }) => {
                    let _ = waitpid(child, None);
                    Err(Error::Init(error))
                }
                Ok(other) => Err(SyncError::Garbled(format!("{other:?}")).into()),
                Err(SyncError::Closed) => {
                    let how = match waitpid(child, None) {
                        Ok(WaitStatus::Exited(_, c)) => format!("exit status {c}"),
                        Ok(other) => format!("{other:?}"),
                        Err(e) => e.to_string(),
                    };
                    Err(Error::Init(format!(
                        "the exec proxy ended before reporting ({how})"
                    )))
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// Waits for an exec'd process, forwarding the signals we receive to it
/// (the shim signals the pid it knows: ours).
fn wait_forwarding(session: sentry::control::ExecSession) -> Result<i32, sentry::Error> {
    let mut set = SigSet::empty();
    for s in super::run::FORWARDED {
        set.add(*s);
    }
    // SIGCHLD is our own wake-up: the waiter raises it when the process ends.
    set.add(nix::sys::signal::Signal::SIGCHLD);
    // Blocked, they wait for sigtimedwait instead of killing us.
    let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None);
    let signaller = session.signaller()?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(session.wait());
        let _ = nix::sys::signal::kill(nix::unistd::getpid(), nix::sys::signal::Signal::SIGCHLD);
    });
    loop {
        if let Ok(result) = rx.try_recv() {
            return result;
        }
        let timeout = libc::timespec {
            tv_sec: 1,
            tv_nsec: 0,
        };
        // SAFETY: sigtimedwait reads the set and timeout from our stack and
        // writes no siginfo (null pointer).
        let sig = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &timeout) };
        if sig > 0 && sig != libc::SIGCHLD {
            if let Err(e) = signaller.signal(sig) {
                tracing::debug!("forwarding signal {sig}: {e}");
            }
        }
    }
}

/// The proxy: start the process, report, wait, exit with its status.
fn proxy(
    socket: &std::path::Path,
    container: &str,
    spec: &ProcessSpec,
    stdio: [RawFd; 3],
    pty_slave: Option<OwnedFd>,
    mut channel: Channel,
) -> ! {
    let session = match sentry::control::exec(socket, container, spec, stdio) {
        Ok(s) => s,
        Err(e) => {
            let _ = channel.send(&Msg::Failed {
                error: exec_error(e).to_string(),
            });
            std::process::exit(1);
        }
    };
    drop(pty_slave);
    // Let go of the caller's stdio: the process has its own copies now,
    // and whoever reads them should see EOF when the process ends.
    detach_stdio();
    let _ = channel.send(&Msg::Created);
    drop(channel);
    let code = match wait_forwarding(session) {
        Ok(status) => status,
        Err(e) => {
            error!("exec: lost the process: {e}");
            255
        }
    };
    std::process::exit(code)
}

pub(super) fn detach_stdio() {
    if let Ok(null) = fs::File::options().read(true).write(true).open("/dev/null") {
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors; `null` stays valid.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
}

/// The Sentry's refusal (e.g. a missing program) is the user's message.
fn exec_error(e: sentry::Error) -> Error {
    match e {
        sentry::Error::Protocol(msg) => Error::Init(msg),
        other => Error::Init(other.to_string()),
    }
}

pub(super) fn write_pid_file(p: &std::path::Path, pid: i32) -> Result<(), Error> {
    write_atomic(p, pid.to_string().as_bytes()).map_err(|source| Error::Io {
        what: "write the pid file",
        path: p.to_path_buf(),
        source,
    })
}

/// From --process, or from the arguments on top of the container's own
/// process (its env, user and cwd are the defaults, as with runc).
fn process_spec(a: &ExecArgs, state: &State) -> Result<ProcessSpec, Error> {
    if let Some(path) = &a.process {
        let text = fs::read_to_string(path).map_err(|source| Error::Io {
            what: "read the process file",
            path: path.clone(),
            source,
        })?;
        let p: Process = serde_json::from_str(&text).map_err(|e| {
            Error::Usage(format!(
                "{} is not a valid OCI process: {e}",
                path.display()
            ))
        })?;
        return Ok(process::translate(&p)?);
    }
    if a.args.is_empty() {
        return Err(Error::Usage(
            "exec needs a program: give --process FILE or the command after the container id"
                .into(),
        ));
    }
    let mut spec = Bundle::load(&state.bundle)
        .map(|b| b.sandbox.process)
        .unwrap_or_else(|_| ProcessSpec {
            env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
            cwd: "/".into(),
            ..ProcessSpec::default()
        });
    spec.args = a.args.clone();
    spec.terminal = a.tty;
    if let Some(cwd) = &a.cwd {
        spec.cwd = cwd.clone();
    }
    process::check_env(&a.env)?;
    for kv in &a.env {
        let key = kv.split('=').next().unwrap_or_default();
        spec.env.retain(|e| e.split('=').next() != Some(key));
        spec.env.push(kv.clone());
    }
    if let Some(user) = &a.user {
        let (uid, gid) = parse_user(user)?;
        spec.uid = uid;
        spec.gid = gid.unwrap_or(spec.gid);
    }
    Ok(spec)
}

fn parse_user(s: &str) -> Result<(u32, Option<u32>), Error> {
    let bad = || Error::Usage(format!("--user {s:?}: use uid or uid:gid (numbers)"));
    let (u, g) = match s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (s, None),
    };
    let uid = u.parse().map_err(|_| bad())?;
    let gid = g.map(|g| g.parse().map_err(|_| bad())).transpose()?;
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users() {
        assert_eq!(parse_user("1000").unwrap(), (1000, None));
        assert_eq!(parse_user("1000:100").unwrap(), (1000, Some(100)));
        assert!(parse_user("bob").is_err());
    }
}
