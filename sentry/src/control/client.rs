//! The runtime's side of the control socket.

use std::os::fd::RawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::wire::{recv_frame, send_frame, JoinSpec, Request, Response, SandboxStats};
use crate::error::Error;
use crate::spec::ProcessSpec;

/// How long a request may wait for the Sentry's answer: a Sentry that hangs
/// must not hang `start`, `kill` or `ps` with it.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

fn connect(socket: &Path) -> Result<UnixStream, Error> {
    let err = |source| Error::Control {
        path: socket.to_path_buf(),
        source,
    };
    let s = UnixStream::connect(socket).map_err(err)?;
    s.set_read_timeout(Some(ANSWER_TIMEOUT)).map_err(err)?;
    s.set_write_timeout(Some(ANSWER_TIMEOUT)).map_err(err)?;
    Ok(s)
}

fn call(socket: &Path, req: &Request) -> Result<Response, Error> {
    let s = connect(socket)?;
    send_frame(&s, req, &[])?;
    let (resp, _) = recv_frame::<Response>(&s)?;
    match resp {
        Response::Error { message } => Err(Error::Protocol(message)),
        other => Ok(other),
    }
}

/// Lets the init process of a created sandbox begin.
pub fn start(socket: &Path) -> Result<(), Error> {
    call(socket, &Request::Start).map(|_| ())
}

/// Delivers `signal` to a container's init, or to all its processes
/// (`container` "" is the sandbox's first container).
pub fn signal(socket: &Path, container: &str, signal: i32, all: bool) -> Result<(), Error> {
    let req = Request::Signal {
        signal,
        all,
        container: container.to_string(),
    };
    call(socket, &req).map(|_| ())
}

/// Lets a joined container's init begin.
pub fn start_container(socket: &Path, id: &str) -> Result<(), Error> {
    call(socket, &Request::StartContainer { id: id.to_string() }).map(|_| ())
}

/// Freezes the workload (`pause`) or thaws it.
pub fn pause(socket: &Path, pause: bool) -> Result<(), Error> {
    let req = if pause {
        Request::Pause
    } else {
        Request::Resume
    };
    call(socket, &req).map(|_| ())
}

/// Host pids of the processes that run a container's workload.
pub fn ps(socket: &Path, container: &str) -> Result<Vec<i32>, Error> {
    let req = Request::Ps {
        container: container.to_string(),
    };
    match call(socket, &req)? {
        Response::Pids { pids } => Ok(pids),
        other => Err(Error::Protocol(format!("unexpected answer {other:?}"))),
    }
}

/// The sandbox's figures: platform, processes, the platform's counters.
pub fn stats(socket: &Path) -> Result<SandboxStats, Error> {
    match call(socket, &Request::Stats)? {
        Response::Stats(s) => Ok(s),
        other => Err(Error::Protocol(format!("unexpected answer {other:?}"))),
    }
}

/// A process started by [`exec`], or a joined container's init made by
/// [`create_container`]; [`ExecSession::wait`] gives its status.
pub struct ExecSession {
    sock: UnixStream,
}

/// Starts `process` in `container` ("" for the sandbox's first) with
/// `stdio` as its fds 0, 1, 2. Returns once the Sentry has started it (or
/// refused, e.g. a missing program).
pub fn exec(
    socket: &Path,
    container: &str,
    process: &ProcessSpec,
    stdio: [RawFd; 3],
) -> Result<ExecSession, Error> {
    let req = Request::Exec {
        process: process.clone(),
        container: container.to_string(),
    };
    request_process(socket, &req, &stdio)
}

/// Makes a joining container's init in the sandbox (not started); `fds`
/// are its stdio, root and bind sources, as [`Request::CreateContainer`]
/// says. The session's wait gives the init's status.
pub fn create_container(
    socket: &Path,
    spec: &JoinSpec,
    fds: &[RawFd],
) -> Result<ExecSession, Error> {
    let req = Request::CreateContainer {
        spec: Box::new(spec.clone()),
    };
    request_process(socket, &req, fds)
}

fn request_process(socket: &Path, req: &Request, fds: &[RawFd]) -> Result<ExecSession, Error> {
    let sock = connect(socket)?;
    send_frame(&sock, req, fds)?;
    match recv_frame::<Response>(&sock)?.0 {
        Response::Started => {
            // The process may run for as long as it likes.
            sock.set_read_timeout(None)?;
            Ok(ExecSession { sock })
        }
        Response::Error { message } => Err(Error::Protocol(message)),
        other => Err(Error::Protocol(format!("unexpected answer {other:?}"))),
    }
}

/// Sends signals to a process started by [`exec`], from any thread.
pub struct ExecSignaller {
    sock: UnixStream,
}

impl ExecSignaller {
    /// Delivers `signal` to the exec'd process (as `kill` from outside would).
    pub fn signal(&self, signal: i32) -> Result<(), Error> {
        let req = Request::Signal {
            signal,
            all: false,
            container: String::new(),
        };
        send_frame(&self.sock, &req, &[])
    }
}

impl ExecSession {
    /// A handle that signals this process while another thread waits.
    pub fn signaller(&self) -> Result<ExecSignaller, Error> {
        Ok(ExecSignaller {
            sock: self.sock.try_clone()?,
        })
    }

    /// Waits for the process to end; returns its shell-style exit status.
    pub fn wait(self) -> Result<i32, Error> {
        match recv_frame::<Response>(&self.sock)?.0 {
            Response::Exited { status } => Ok(status),
            Response::Error { message } => Err(Error::Protocol(message)),
            other => Err(Error::Protocol(format!("unexpected answer {other:?}"))),
        }
    }
}
