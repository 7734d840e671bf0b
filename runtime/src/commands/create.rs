//! `create`: make the container's init process and leave it waiting for
//! `start`. Returns only when the pid file is written. Whatever fails
//! along the way, nothing is left behind: no process, cgroup or state.

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::time::{SystemTime, UNIX_EPOCH};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use oci_spec::runtime::LinuxNamespaceType;
use tracing::{debug, warn};

use super::Error;
use crate::bundle::Bundle;
use crate::cgroups::{self, Cgroup, Limits};
use crate::cli::{CreateArgs, GlobalOpts};
use crate::console::{self, ConsoleError};
use crate::container::ContainerDir;
use crate::hooks::{self, HookKind};
use crate::init::{self, InitArgs};
use crate::jail::namespaces::{self, PidNamespace};
use crate::overlay;
use crate::state::{State, Status};
use crate::sync::{Channel, Msg, SyncError};
use crate::{backend, logging, network, pod, procs};

pub fn command(g: &GlobalOpts, a: &CreateArgs) -> Result<(), Error> {
    create(g, a, false).map(|_| ())
}

/// A created container, as `run` needs it.
pub struct Created {
    pub pid: Pid,
}

/// `foreground`: `run` without --detach may give a terminal-wanting
/// process the runtime's own stdio when there is no console socket.
pub fn create(g: &GlobalOpts, a: &CreateArgs, foreground: bool) -> Result<Created, Error> {
    let cdir = ContainerDir::new(&g.root, &a.id)?;
    let mut bundle = Bundle::load(&a.bundle)?;
    bundle.sandbox.root_overlay = overlay::select(
        &g.overlay,
        &bundle.annotations(),
        &bundle.sandbox.rootfs,
        bundle.sandbox.root_readonly,
    )?;
    // What the container's mountinfo shows for the root and bind mounts.
    let spec_mounts = bundle.spec.mounts().clone().unwrap_or_default();
    crate::bundle::mounts::describe_host(&mut bundle.sandbox, &spec_mounts);
    if let Some(owner) = pod::sandbox_to_join(&g.root, &bundle.spec, &bundle.annotations())? {
        // The sandbox's network and platform are the owner's.
        return super::join::create(g, a, bundle, owner).map(|pid| Created { pid });
    }
    bundle.sandbox.network = network::select(&g.network, &bundle.annotations(), &bundle.spec)?;
    let backend = backend::select(&g.backend, &g.platform, &bundle.annotations())?;
    bundle.sandbox.platform = backend.platform();
    if a.preserve_fds > 0 {
        warn!(
            "--preserve-fds {}: extra descriptors are not passed to the container yet",
            a.preserve_fds
        );
    }
    let lock = cdir.create(&g.root)?;
    let mut cleanup = Cleanup::new(&cdir);
    let pid = build(a, &bundle, &cdir, &mut cleanup, foreground)?;
    cleanup.armed = false;
    drop(lock);
    Ok(Created { pid })
}

fn build(
    a: &CreateArgs,
    bundle: &Bundle,
    cdir: &ContainerDir,
    cleanup: &mut Cleanup,
    foreground: bool,
) -> Result<Pid, Error> {
    let stdio = container_stdio(a, bundle, foreground)?;
    let cgroup = container_cgroup(a, bundle, cleanup)?;

    let jail = cdir.jail_dir();
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&jail)
        .map_err(|source| Error::Io {
            what: "create the jail directory",
            path: jail.clone(),
            source,
        })?;

    let nss = namespaces::from_spec(&bundle.spec);
    let pid_ns = nss.iter().find(|n| n.kind == LinuxNamespaceType::Pid);
    let (mut channel, child_channel) = Channel::pair()?;
    super::flush_stdio();

    let pid_ns_guard = pid_ns.map(PidNamespace::prepare).transpose()?;
    // SAFETY: the runtime is single-threaded (nothing we use spawns
    // threads), so the child may run arbitrary code after fork.
    let forked = unsafe { fork() };
    let child = match forked {
        Ok(ForkResult::Child) => init::run(InitArgs {
            container: cdir.clone(),
            spec: bundle.sandbox.clone(),
            namespaces: nss.clone(),
            stdio: Some(stdio),
            channel: child_channel,
        }),
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => {
            if let Some(g) = pid_ns_guard {
                let _ = g.restore();
            }
            return Err(Error::sys("fork the container's init")(e));
        }
    };
    cleanup.child = Some(child);
    if let Some(g) = pid_ns_guard {
        g.restore()?;
    }
    // process.oomScoreAdj: runc gives it to the container's process; the
    // host's OOM killer sees the Sentry (the workload's own processes are
    // the Sentry's, which shows the value inside).
    let adj = bundle.sandbox.process.oom_score_adj;
    if adj != 0 {
        let path = format!("/proc/{}/oom_score_adj", child.as_raw());
        fs::write(&path, adj.to_string()).map_err(|source| Error::Io {
            what: "set the sandbox's oom_score_adj (process.oomScoreAdj)",
            path: path.into(),
            source,
        })?;
    }
    drop(child_channel);
    drop(stdio);

    let mut state = creating_state(a, bundle, child, cleanup, &cgroup, pid_ns.is_some(), None)?;
    state.save(cdir)?;
    cgroup.add(child.as_raw())?;

    channel.send(&Msg::Go)?;
    expect(&mut channel, Msg::NamespacesReady, child, cleanup)?;
    run_create_hooks(bundle, &state)?;
    channel.send(&Msg::Continue)?;
    expect(&mut channel, Msg::Created, child, cleanup)?;

    if let Some(p) = &a.pid_file {
        super::exec::write_pid_file(p, child.as_raw())?;
    }
    state.status = Status::Created;
    state.save(cdir)?;
    debug!(id = %a.id, pid = child.as_raw(), "created");
    Ok(child)
}

/// The container's cgroup (`linux.cgroupsPath`) with the spec's limits;
/// `cleanup` removes it if create fails.
pub(super) fn container_cgroup(
    a: &CreateArgs,
    bundle: &Bundle,
    cleanup: &mut Cleanup,
) -> Result<Cgroup, Error> {
    let linux = bundle.spec.linux().as_ref();
    let rel = cgroups::relative_path(linux.and_then(|l| l.cgroups_path().as_deref()), &a.id)?;
    let cgroup = Cgroup::create(
        &rel,
        &Limits::from_spec(linux.and_then(|l| l.resources().as_ref())),
    )?;
    cleanup.cgroups = cgroup.created.clone();
    Ok(cgroup)
}

/// The state of a container whose pid-file process is `child`, as
/// `create` first saves it; `sandbox` names the owner of the sandbox a
/// pod's later container joined.
pub(super) fn creating_state(
    a: &CreateArgs,
    bundle: &Bundle,
    child: Pid,
    cleanup: &mut Cleanup,
    cgroup: &Cgroup,
    pid_namespace: bool,
    sandbox: Option<String>,
) -> Result<State, Error> {
    let Some((start_time, _)) = procs::stat(child.as_raw()) else {
        return Err(died(child, cleanup));
    };
    Ok(State {
        id: a.id.clone(),
        status: Status::Creating,
        pid: child.as_raw(),
        pid_start_time: start_time,
        bundle: bundle.dir.clone(),
        rootfs: bundle.sandbox.rootfs.clone(),
        annotations: bundle.annotations(),
        created: now(),
        cgroup_paths: cgroup.created.clone(),
        pid_namespace,
        hooks: bundle.spec.hooks().clone(),
        sandbox,
    })
}

/// The hooks `create` runs once the container exists: prestart,
/// createRuntime, createContainer, with its state on stdin.
pub(super) fn run_create_hooks(bundle: &Bundle, state: &State) -> Result<(), Error> {
    let oci = state.oci();
    let hooks = bundle.spec.hooks().as_ref();
    hooks::run(hooks, HookKind::Prestart, &oci)?;
    hooks::run(hooks, HookKind::CreateRuntime, &oci)?;
    hooks::run(hooks, HookKind::CreateContainer, &oci)?;
    Ok(())
}

/// The workload's fds 0, 1, 2: a pty slave when it wants a terminal,
/// otherwise the runtime's own (the shim's pipes).
pub(super) fn container_stdio(
    a: &CreateArgs,
    bundle: &Bundle,
    foreground: bool,
) -> Result<[OwnedFd; 3], Error> {
    if !bundle.sandbox.process.terminal {
        return inherit_stdio();
    }
    let Some(socket) = &a.console_socket else {
        return if foreground {
            inherit_stdio()
        } else {
            Err(ConsoleError::NoSocket.into())
        };
    };
    let size = bundle
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.console_size())
        .map(|b| (clamp_u16(b.height()), clamp_u16(b.width())));
    let pty = console::open(size)?;
    console::send_master(socket, &pty.master)?;
    // Our copy of the master goes; the receiver keeps the terminal alive.
    drop(pty.master);
    let dup = |fd: &OwnedFd| {
        fd.try_clone().map_err(|source| Error::Io {
            what: "duplicate the pty slave",
            path: "/dev/pts".into(),
            source,
        })
    };
    Ok([dup(&pty.slave)?, dup(&pty.slave)?, pty.slave])
}

fn clamp_u16(v: u64) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

fn inherit_stdio() -> Result<[OwnedFd; 3], Error> {
    let one = |fd: i32| -> Result<OwnedFd, Error> {
        // SAFETY: borrowing a standard descriptor for the duration of a dup.
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        match borrowed.try_clone_to_owned() {
            Ok(f) => Ok(f),
            // A caller may start us with a standard descriptor closed.
            Err(_) => fs::File::options()
                .read(true)
                .write(true)
                .open("/dev/null")
                .map(|f| f.as_fd().try_clone_to_owned())
                .and_then(|r| r)
                .map_err(|source| Error::Io {
                    what: "open",
                    path: "/dev/null".into(),
                    source,
                }),
        }
    };
    Ok([one(0)?, one(1)?, one(2)?])
}

/// Reads the next message from the child; its failure report becomes our error.
pub(super) fn expect(
    ch: &mut Channel,
    want: Msg,
    child: Pid,
    cleanup: &mut Cleanup,
) -> Result<(), Error> {
    match ch.recv() {
        Ok(m) if m == want => Ok(()),
        Ok(Msg::Failed { error }) => Err(Error::Init(error)),
        Ok(other) => Err(SyncError::Garbled(format!("expected {want:?}, got {other:?}")).into()),
        Err(SyncError::Closed) => Err(died(child, cleanup)),
        Err(e) => Err(e.into()),
    }
}

/// Describes how the child ended (reaping it).
pub(super) fn died(child: Pid, cleanup: &mut Cleanup) -> Error {
    let how = match waitpid(child, None) {
        Ok(WaitStatus::Exited(_, code)) => format!("exit status {code}"),
        Ok(WaitStatus::Signaled(_, sig, _)) => format!("killed by {sig}"),
        Ok(other) => format!("{other:?}"),
        Err(e) => format!("wait: {e}"),
    };
    cleanup.child = None;
    Error::InitDied(how)
}

pub fn now() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    logging::rfc3339(d.as_secs(), d.subsec_nanos())
}

/// Undoes a failed create: kill and reap the child, remove the cgroup and
/// the state directory.
pub(super) struct Cleanup {
    pub container: ContainerDir,
    pub cgroups: Vec<std::path::PathBuf>,
    pub child: Option<Pid>,
    pub armed: bool,
}

impl Cleanup {
    /// Armed, for container `cdir`, with nothing made yet.
    pub(super) fn new(cdir: &ContainerDir) -> Cleanup {
        Cleanup {
            container: cdir.clone(),
            cgroups: Vec::new(),
            child: None,
            armed: true,
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(child) = self.child.take() {
            let _ = kill(child, Signal::SIGKILL);
            let _ = waitpid(child, None);
        }
        if let Err(e) = cgroups::remove(&self.cgroups) {
            warn!("cleaning up after a failed create: {e}");
        }
        if let Err(e) = self.container.remove() {
            warn!("cleaning up after a failed create: {e}");
        }
    }
}
