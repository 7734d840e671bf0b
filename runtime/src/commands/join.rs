//! `create` of a container that joins a running sandbox (a pod's later
//! container, see `crate::pod`): its root and bind sources are opened
//! here and handed to the Sentry, which makes its init; a proxy process
//! of ours holds the request's connection and exits with the init's
//! status, so the pid file names a process that lives exactly as long as
//! the container's init. Whatever fails, nothing is left behind.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use nix::unistd::{fork, ForkResult, Pid};
use oci_spec::runtime::LinuxNamespaceType;
use sentry::control::JoinSpec;
use sentry::fs::host::HandedFile;
use sentry::MountKind;
use tracing::debug;

use super::create::{
    container_cgroup, container_stdio, creating_state, expect, run_create_hooks, Cleanup,
};
use super::Error;
use crate::bundle::Bundle;
use crate::cli::{CreateArgs, GlobalOpts};
use crate::container::ContainerDir;
use crate::control;
use crate::jail::namespaces;
use crate::state::Status;
use crate::sync::{Channel, Msg};

/// Status reported when the sandbox vanished under the container (its
/// Sentry was killed): as if its init had been SIGKILLed.
const SANDBOX_GONE: i32 = 128 + libc::SIGKILL;

pub fn create(g: &GlobalOpts, a: &CreateArgs, bundle: Bundle, owner: String) -> Result<Pid, Error> {
    let cdir = ContainerDir::new(&g.root, &a.id)?;
    let lock = cdir.create(&g.root)?;
    let mut cleanup = Cleanup::new(&cdir);
    let pid = build(g, a, &bundle, &cdir, &owner, &mut cleanup)?;
    cleanup.armed = false;
    drop(lock);
    Ok(pid)
}

fn build(
    g: &GlobalOpts,
    a: &CreateArgs,
    bundle: &Bundle,
    cdir: &ContainerDir,
    owner: &str,
    cleanup: &mut Cleanup,
) -> Result<Pid, Error> {
    let stdio = container_stdio(a, bundle, false)?;
    // Its own cgroup, as the spec says; it holds the proxy (the workload
    // is the sandbox's, in the first container's cgroup).
    let cgroup = container_cgroup(a, bundle, cleanup)?;
    // A pid namespace of its own unless the spec names an existing one
    // (Kubernetes' shareProcessNamespace gives the pause container's).
    // Likewise its IPC namespace: Kubernetes gives the pause container's,
    // Docker a new one unless --ipc=container:X.
    let nss = namespaces::from_spec(&bundle.spec);
    let new = |kind| nss.iter().any(|n| n.kind == kind && n.path.is_none());
    let own_pid_namespace = new(LinuxNamespaceType::Pid);
    let own_ipc_namespace = new(LinuxNamespaceType::Ipc);
    let sandbox_dir = ContainerDir::new(&g.root, owner)?;
    let request = Request {
        sandbox: sandbox_dir,
        id: a.id.clone(),
        bundle,
        own_pid_namespace,
        own_ipc_namespace,
    };
    let (mut channel, child_channel) = Channel::pair()?;
    super::flush_stdio();
    // SAFETY: the runtime is single-threaded; the child only opens files,
    // talks over the control socket and exits.
    let child = match unsafe { fork() }.map_err(Error::sys("fork the container's proxy"))? {
        ForkResult::Child => {
            drop(channel);
            proxy(&request, stdio, child_channel)
        }
        ForkResult::Parent { child } => child,
    };
    cleanup.child = Some(child);
    drop(child_channel);
    drop(stdio);
    expect(&mut channel, Msg::Created, child, cleanup)?;
    cgroup.add(child.as_raw())?;
    let owner_id = Some(owner.to_string());
    let mut state = creating_state(
        a,
        bundle,
        child,
        cleanup,
        &cgroup,
        own_pid_namespace,
        owner_id,
    )?;
    state.save(cdir)?;
    run_create_hooks(bundle, &state)?;
    if let Some(p) = &a.pid_file {
        super::exec::write_pid_file(p, child.as_raw())?;
    }
    state.status = Status::Created;
    state.save(cdir)?;
    debug!(id = %a.id, sandbox = owner, proxy = child.as_raw(), "created in a pod");
    Ok(child)
}

/// What the proxy asks the sandbox for.
struct Request<'a> {
    sandbox: ContainerDir,
    id: String,
    bundle: &'a Bundle,
    own_pid_namespace: bool,
    own_ipc_namespace: bool,
}

/// The proxy (a forked child): hand the container to the sandbox, report,
/// then wait for its init and exit with its status.
fn proxy(req: &Request, stdio: [OwnedFd; 3], mut channel: Channel) -> ! {
    let mut keep: Vec<RawFd> = vec![0, 1, 2];
    keep.extend(stdio.iter().map(|f| f.as_raw_fd()));
    keep.extend(channel.raw_fds());
    keep.extend(crate::logging::file_fd());
    // The container's lock (and anything else the caller gave us) must
    // not live as long as the container.
    crate::init::close_other_fds(&keep);
    let session = match hand_over(req, stdio) {
        Ok(s) => s,
        Err(error) => {
            let _ = channel.send(&Msg::Failed { error });
            std::process::exit(1);
        }
    };
    // The workload has its own copies of the caller's stdio now; whoever
    // reads them should see EOF when it ends, not when we do.
    super::exec::detach_stdio();
    let _ = channel.send(&Msg::Created);
    drop(channel);
    let code = session.wait().unwrap_or(SANDBOX_GONE);
    std::process::exit(code)
}

/// Opens the container's root and bind sources and asks the sandbox to
/// make its init.
fn hand_over(req: &Request, stdio: [OwnedFd; 3]) -> Result<sentry::control::ExecSession, String> {
    let sandbox = &req.bundle.sandbox;
    let open = |p: &PathBuf, what: &str| {
        HandedFile::open(p).map_err(|e| format!("cannot open {what} {}: {e}", p.display()))
    };
    let HandedFile::Dir(root) = open(&sandbox.rootfs, "the root filesystem")? else {
        return Err(format!(
            "the root filesystem {} is not a directory",
            sandbox.rootfs.display()
        ));
    };
    let mut fds: Vec<OwnedFd> = stdio.into_iter().collect();
    fds.push(root);
    let mut bind_files = Vec::new();
    for m in &sandbox.mounts {
        if let MountKind::Bind { source, .. } = &m.kind {
            match open(source, "the source of the bind mount")? {
                HandedFile::Dir(fd) => {
                    fds.push(fd);
                    bind_files.push(None);
                }
                HandedFile::File { dir, name } => {
                    fds.push(dir);
                    bind_files.push(Some(name));
                }
            }
        }
    }
    if fds.len() > sentry::control::MAX_FDS {
        return Err(format!(
            "too many bind mounts for a container joining a sandbox ({}; at most {})",
            bind_files.len(),
            sentry::control::MAX_FDS - 4
        ));
    }
    let spec = JoinSpec {
        id: req.id.clone(),
        fs: sandbox.fs(),
        process: sandbox.process.clone(),
        bind_files,
        own_pid_namespace: req.own_pid_namespace,
        own_ipc_namespace: req.own_ipc_namespace,
    };
    let socket = control::socket_name(&req.sandbox).map_err(|e| {
        format!(
            "cannot reach sandbox {}: {e} (is it running?)",
            req.sandbox.id
        )
    })?;
    let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
    sentry::control::create_container(&socket.path, &spec, &raw).map_err(|e| match e {
        sentry::Error::Protocol(msg) => msg,
        other => format!("sandbox {}: {other}", req.sandbox.id),
    })
}
