//! A pod's containers: the sandbox's first container is built at boot;
//! each later one joins over the control socket (`CreateContainer`) with
//! its own root and mounts (descriptors the runtime opened, since the
//! jailed Sentry cannot open host paths), its own init, environment,
//! user, capabilities and rlimits, and shares the rest of the kernel:
//! the network stack and its loopback, IPC, the hostname and the pid
//! space (a container with a pid namespace of its own gets an init that
//! behaves as a namespace's init, see `Container::own_pid_namespace`).
//!
//! The runtime stands a host process (its proxy) for each joined
//! container's init: it holds the `CreateContainer` connection and exits
//! with the status the Sentry reports there when the init ends.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, OnceLock};

use super::boot::{spawn, Prepared, Program};
use super::container::{self, Container, HostRoots};
use super::control::{prepare_fresh, refuse, report_exit, stdio};
use super::process::{lock, Process};
use super::signal::{self, SigInfo};
use super::Kernel;
use crate::control::{recv_frame, send_frame, JoinSpec, Request, Response};
use crate::error::Error;
use crate::fs::host::{HandedFile, HostInode};
use crate::fs::host_fd::HostFd;
use crate::spec::{MountKind, RootOverlay};

/// A joined container while its init lives.
struct Member {
    container: Arc<Container>,
    init: Arc<Process>,
    /// What it will exec, until `StartContainer`.
    unstarted: Option<Program>,
}

static FIRST: OnceLock<Arc<Container>> = OnceLock::new();
static MEMBERS: Mutex<BTreeMap<String, Member>> = Mutex::new(BTreeMap::new());

/// Records the sandbox's first container (at boot).
pub(super) fn set_first(c: Arc<Container>) {
    let _ = FIRST.set(c);
}

/// The container `id` names ("" the first) while its init lives.
pub(super) fn container(id: &str) -> Option<Arc<Container>> {
    if id.is_empty() {
        return FIRST.get().cloned();
    }
    lock(&MEMBERS).get(id).map(|m| m.container.clone())
}

/// The init of container `id` ("" the first, pid 1).
pub(super) fn init_of(k: &Kernel, id: &str) -> Option<Arc<Process>> {
    if id.is_empty() {
        return k.process(1);
    }
    lock(&MEMBERS).get(id).map(|m| m.init.clone())
}

/// Forgets a joined container whose init never started: its process
/// leaves the table, and its proxy is told it was killed.
pub(super) fn discard_unstarted(k: &Kernel, id: &str) {
    let mut members = lock(&MEMBERS);
    if members.get(id).is_some_and(|m| m.unstarted.is_some()) {
        if let Some(m) = members.remove(id) {
            k.release(m.init.pid);
            // Dropping the process drops its exit notifier: the waiter
            // reports SIGKILL.
        }
    }
}

/// `CreateContainer`: builds the container and its init, answers
/// `Started`, and reports the init's end on `conn` later.
pub(super) fn create(
    k: &Arc<Kernel>,
    conn: UnixStream,
    spec: JoinSpec,
    fds: Vec<OwnedFd>,
) -> Result<(), Error> {
    if spec.id.is_empty() {
        return refuse(&conn, "a joining container needs an id");
    }
    if lock(&MEMBERS).contains_key(&spec.id) {
        return refuse(
            &conn,
            format!("container {} is already in the sandbox", spec.id),
        );
    }
    match build(k, &spec, fds) {
        Err(e) => refuse(&conn, e.to_string()),
        Ok((c, prepared)) => {
            let Prepared {
                proc,
                program,
                exit,
            } = prepared;
            let pid = proc.pid;
            c.set_init_pid(pid);
            let member = Member {
                container: c.clone(),
                init: proc,
                unstarted: Some(program),
            };
            lock(&MEMBERS).insert(spec.id.clone(), member);
            if let Err(e) = send_frame(&conn, &Response::Started, &[]) {
                // Nobody waits for it: it never starts.
                discard_unstarted(k, &spec.id);
                return Err(e);
            }
            if let Ok(reader) = conn.try_clone() {
                let (kc, id) = (k.clone(), spec.id.clone());
                std::thread::spawn(move || {
                    // Nothing more is sent on it: a read returns when the
                    // proxy is gone (or after the exit report).
                    while recv_frame::<Request>(&reader).is_ok() {}
                    proxy_gone(&kc, &id, pid);
                });
            }
            let (kc, id) = (k.clone(), spec.id.clone());
            std::thread::Builder::new()
                .name(format!("container-{}", spec.id))
                .spawn(move || report_exit(conn, exit, move || ended(&kc, &c, &id)))?;
            Ok(())
        }
    }
}

/// The container's file system and its init, not started.
fn build(
    k: &Arc<Kernel>,
    spec: &JoinSpec,
    fds: Vec<OwnedFd>,
) -> Result<(Arc<Container>, Prepared), Error> {
    let mut fds = fds.into_iter();
    let stdio = stdio(fds.by_ref().take(3).collect()).ok_or_else(|| {
        Error::Protocol("a joining container needs three stdio descriptors".into())
    })?;
    let root = fds
        .next()
        .ok_or_else(|| Error::Protocol("a joining container needs its root".into()))?;
    let host_readonly = spec.fs.root_readonly || spec.fs.root_overlay == RootOverlay::Memory;
    let root = HostInode::from_handed(HandedFile::Dir(root), host_readonly).map_err(|source| {
        Error::OpenRootfs {
            path: "(the joining container's root)".into(),
            source,
        }
    })?;
    let mut binds = Vec::new();
    let mut names = spec.bind_files.iter();
    for m in &spec.fs.mounts {
        let MountKind::Bind { source, .. } = &m.kind else {
            continue;
        };
        let (Some(fd), Some(name)) = (fds.next(), names.next()) else {
            return Err(Error::Protocol(format!(
                "the source of the bind mount {} did not come",
                m.destination
            )));
        };
        let handed = match name {
            None => HandedFile::Dir(fd),
            Some(name) => HandedFile::File {
                dir: fd,
                name: name.clone(),
            },
        };
        let inode = HostInode::from_handed(handed, m.flags.readonly).map_err(|e| {
            Error::OpenBindSource {
                path: source.clone(),
                source: e,
            }
        })?;
        binds.push((
            container::clean_path(&m.destination),
            inode,
            m.flags.readonly,
        ));
    }
    let console = if spec.process.terminal {
        Some(HostFd::new(stdio[0].try_clone()?))
    } else {
        None
    };
    let host = HostRoots { root, binds };
    let c = container::build(
        &spec.id,
        (spec.own_pid_namespace, spec.own_ipc_namespace),
        &spec.fs,
        &host,
        console.as_ref(),
    )?;
    let c = Arc::new(c);
    let prepared = prepare_fresh(k, &c, &spec.process, stdio, true)?;
    if let Some(fd) = &c.console {
        // Its terminal is its session's controlling terminal, as the
        // first container's is pid 1's.
        crate::fs::pty::ctty::set(prepared.proc.pid, crate::fs::dev::terminal_node(fd, 0));
    }
    Ok((c, prepared))
}

/// The proxy standing for container `id`'s init (`pid`) went away: the
/// host can no longer learn how the container ends, so it ends now, as a
/// runc container whose init is killed.
fn proxy_gone(k: &Kernel, id: &str, pid: i32) {
    let init = {
        let members = lock(&MEMBERS);
        match members.get(id) {
            Some(m) if m.init.pid == pid => m.init.clone(),
            _ => return,
        }
    };
    k.send_signal(&init, SigInfo::new(libc::SIGKILL, signal::SI_KERNEL), true);
    discard_unstarted(k, id);
}

/// `StartContainer`: lets a joined container's init run.
pub(super) fn start(k: &Arc<Kernel>, id: &str) -> Result<(), String> {
    let (init, program) = {
        let mut members = lock(&MEMBERS);
        let m = members
            .get_mut(id)
            .ok_or_else(|| format!("container {id} is not in the sandbox"))?;
        let unstarted = m
            .unstarted
            .take()
            .ok_or_else(|| format!("container {id} was already started"))?;
        (m.init.clone(), unstarted)
    };
    spawn(k, init, program);
    Ok(())
}

/// A joined container's init ended: the container is gone, and with a
/// pid namespace of its own, so are its other processes.
fn ended(k: &Kernel, c: &Container, id: &str) {
    lock(&MEMBERS).remove(id);
    if !c.own_pid_namespace {
        return;
    }
    for p in k.all_processes() {
        if p.container.id == c.id && !p.is_zombie() {
            lock(&p.sig)
                .pending
                .queue(SigInfo::new(libc::SIGKILL, signal::SI_KERNEL));
            p.wake();
        }
    }
}
