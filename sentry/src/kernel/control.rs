//! The Sentry's side of the control socket: one request per connection
//! (see `crate::control` for the wire), served by one thread.

use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::mpsc;
use std::sync::Arc;

use super::boot::{prepare, shell_status, spawn, Prepared};
use super::container::Container;
use super::process::{lock, Process};
use super::signal::{SigInfo, SI_USER};
use super::{pod, Kernel};
use crate::control::{recv_frame, send_frame, Request, Response};
use crate::error::Error;

pub(super) fn serve(k: Arc<Kernel>, listener: UnixListener, start: mpsc::Sender<()>) {
    let mut start = Some(start);
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        if let Err(e) = handle(&k, conn, &mut start) {
            tracing::warn!("control request failed: {e}");
        }
    }
}

pub(super) fn refuse(conn: &UnixStream, message: impl Into<String>) -> Result<(), Error> {
    let reply = Response::Error {
        message: message.into(),
    };
    send_frame(conn, &reply, &[])
}

/// The live processes of container `id`.
fn processes_of(k: &Kernel, id: &str) -> Vec<Arc<Process>> {
    k.all_processes()
        .into_iter()
        .filter(|p| p.container.id == id && !p.is_zombie())
        .collect()
}

fn handle(
    k: &Arc<Kernel>,
    conn: UnixStream,
    start: &mut Option<mpsc::Sender<()>>,
) -> Result<(), Error> {
    let (req, fds) = recv_frame::<Request>(&conn)?;
    match req {
        Request::Start => match start.take() {
            Some(tx) => {
                let _ = tx.send(());
                send_frame(&conn, &Response::Ok, &[])
            }
            None => refuse(&conn, "the container was already started"),
        },
        Request::Signal {
            signal,
            all,
            container,
        } => {
            if !(1..=64).contains(&signal) {
                return refuse(&conn, format!("invalid signal {signal}"));
            }
            let info = SigInfo::new(signal, SI_USER);
            if all {
                for p in processes_of(k, &container) {
                    k.send_signal(&p, info, true);
                }
            } else {
                let Some(init) = pod::init_of(k, &container) else {
                    return refuse(&conn, format!("container {container} is not running"));
                };
                k.send_signal(&init, info, true);
            }
            if signal == libc::SIGKILL {
                // A joined container killed before it started never runs.
                pod::discard_unstarted(k, &container);
            }
            send_frame(&conn, &Response::Ok, &[])
        }
        Request::Pause => {
            if super::freeze::pause_sandbox(k) {
                send_frame(&conn, &Response::Ok, &[])
            } else {
                refuse(&conn, "a thread of the workload did not stop within 2 s")
            }
        }
        Request::Resume => {
            super::freeze::resume_sandbox();
            send_frame(&conn, &Response::Ok, &[])
        }
        Request::Ps { container } => {
            let pids = processes_of(k, &container)
                .iter()
                .map(|p| lock(&p.state).host_pid)
                .filter(|&p| p > 0)
                .collect();
            send_frame(&conn, &Response::Pids { pids }, &[])
        }
        Request::Stats => {
            let processes = k.all_processes().iter().filter(|p| !p.is_zombie()).count() as u64;
            let stats = crate::control::SandboxStats {
                platform: k.platform.name().to_string(),
                processes,
                counters: k
                    .platform
                    .counters()
                    .into_iter()
                    .map(|(n, v)| (n.to_string(), v))
                    .collect(),
            };
            send_frame(&conn, &Response::Stats(stats), &[])
        }
        Request::Exec { process, container } => {
            let Some(c) = pod::container(&container) else {
                return refuse(&conn, format!("container {container} is not running"));
            };
            let Some(stdio) = stdio(fds) else {
                return refuse(&conn, "exec needs three stdio descriptors");
            };
            let p = match prepare_fresh(k, &c, &process, stdio, false) {
                Ok(p) => p,
                Err(e) => return refuse(&conn, e.to_string()),
            };
            let Prepared {
                proc,
                program,
                exit,
            } = p;
            let target = proc.clone();
            spawn(k, proc, program);
            send_frame(&conn, &Response::Started, &[])?;
            // Signals for this process arrive on the same connection.
            if let Ok(reader) = conn.try_clone() {
                let kc = k.clone();
                std::thread::spawn(move || {
                    while let Ok((Request::Signal { signal, .. }, _)) =
                        recv_frame::<Request>(&reader)
                    {
                        if (1..=64).contains(&signal) {
                            kc.send_signal(&target, SigInfo::new(signal, SI_USER), true);
                        }
                    }
                });
            }
            std::thread::spawn(move || report_exit(conn, exit, || {}));
            Ok(())
        }
        Request::CreateContainer { spec } => pod::create(k, conn, *spec, fds),
        Request::StartContainer { id } => match pod::start(k, &id) {
            Ok(()) => send_frame(&conn, &Response::Ok, &[]),
            Err(message) => refuse(&conn, message),
        },
    }
}

/// The first three descriptors of a frame: a process's stdio.
pub(super) fn stdio(fds: Vec<OwnedFd>) -> Option<[OwnedFd; 3]> {
    let mut it = fds.into_iter();
    Some([it.next()?, it.next()?, it.next()?])
}

/// A new process of container `c` under a fresh pid (no parent inside);
/// `is_init` for a joining container's first.
pub(super) fn prepare_fresh(
    k: &Arc<Kernel>,
    c: &Arc<Container>,
    process: &crate::spec::ProcessSpec,
    stdio: [OwnedFd; 3],
    is_init: bool,
) -> Result<Prepared, Error> {
    let pid = k
        .alloc_pid()
        .ok_or_else(|| Error::Protocol("no free pid".into()))?;
    prepare(k, c, process, stdio, (pid, 0), is_init).inspect_err(|_| k.release(pid))
}

/// Waits for a process with no parent inside to end, runs `then`, and
/// tells the connection's other end its status.
pub(super) fn report_exit(conn: UnixStream, exit: mpsc::Receiver<i32>, then: impl FnOnce()) {
    let status = exit.recv().unwrap_or(libc::SIGKILL);
    then();
    let _ = send_frame(
        &conn,
        &Response::Exited {
            status: shell_status(status),
        },
        &[],
    );
    let _ = conn.shutdown(std::net::Shutdown::Both);
}
