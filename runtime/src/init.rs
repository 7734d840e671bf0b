//! The container's init process: the child `create` forks. It becomes the
//! Sentry's supervisor — enters the namespaces, opens the sandbox's host
//! resources, jails itself, loads the workload's first program, tells the
//! parent, and then serves the sandbox until the workload ends. Its exit
//! status is the workload's.

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;

use sentry::{Sandbox, SandboxSpec};
use tracing::error;

use crate::container::ContainerDir;
use crate::control;
use crate::jail::{self, namespaces, namespaces::Namespace, pivot};
use crate::sync::{Channel, Msg};

pub struct InitArgs {
    pub container: ContainerDir,
    pub spec: SandboxSpec,
    pub namespaces: Vec<Namespace>,
    /// The workload's stdio; taken when handed to the Sentry.
    pub stdio: Option<[OwnedFd; 3]>,
    pub channel: Channel,
}

/// Runs in the forked child; never returns.
pub fn run(mut args: InitArgs) -> ! {
    // Like runc's init, our own fds 0, 1, 2 become the workload's stdio, so
    // the runtime's stdio (pipes the caller waits on, e.g. containerd's shim
    // when a terminal replaces them) is not held open by the container.
    if let Some(stdio) = &args.stdio {
        for (target, fd) in stdio.iter().enumerate() {
            // SAFETY: dup2 onto 0..=2 of descriptors we own; single-threaded child.
            unsafe { libc::dup2(fd.as_raw_fd(), target as RawFd) };
        }
    }
    let mut keep: Vec<RawFd> = vec![0, 1, 2];
    keep.extend(args.stdio.iter().flatten().map(|f| f.as_raw_fd()));
    keep.extend(args.channel.raw_fds());
    keep.extend(crate::logging::file_fd());
    close_other_fds(&keep);

    let code = match prepare(&mut args) {
        Ok((sandbox, listener)) => {
            // Close our end before serving: the parent reads to EOF.
            drop(args.channel);
            match sandbox.serve(listener) {
                Ok(status) => status,
                Err(e) => {
                    error!("sandbox {}: {e}", args.container.id);
                    255
                }
            }
        }
        Err(msg) => {
            // The parent reports it; if it is gone there is no one to tell.
            let _ = args.channel.send(&Msg::Failed { error: msg });
            1
        }
    };
    std::process::exit(code)
}

fn prepare(args: &mut InitArgs) -> Result<(Sandbox, UnixListener), String> {
    let expect = |ch: &mut Channel, want: Msg| -> Result<(), String> {
        match ch.recv() {
            Ok(m) if m == want => Ok(()),
            Ok(other) => Err(format!("unexpected message {other:?} from the runtime")),
            Err(e) => Err(e.to_string()),
        }
    };
    // Wait until the parent has put us in the cgroup.
    expect(&mut args.channel, Msg::Go)?;
    namespaces::enter(&args.namespaces).map_err(|e| e.to_string())?;
    let new_netns = args
        .namespaces
        .iter()
        .any(|n| n.kind == oci_spec::runtime::LinuxNamespaceType::Network && n.path.is_none());
    if new_netns {
        namespaces::loopback_up()
            .map_err(|e| format!("cannot bring up lo in the new network namespace: {e}"))?;
    }
    nix::unistd::setsid().map_err(|e| format!("setsid: {e}"))?;
    if args.spec.process.terminal {
        // The pty becomes our controlling terminal, so ^C, ^\ and ^Z typed
        // into it raise SIGINT, SIGQUIT and SIGTSTP here; the Sentry hands
        // them to the workload's foreground process group. A terminal that
        // already belongs to another session (run in the foreground without
        // a console socket) stays that session's: the runtime forwards then.
        // SAFETY: TIOCSCTTY on fd 0 with argument 0 (do not steal).
        unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) };
    }
    args.channel
        .send(&Msg::NamespacesReady)
        .map_err(|e| e.to_string())?;
    // The parent runs the prestart hooks now.
    expect(&mut args.channel, Msg::Continue)?;

    pivot::make_root_private().map_err(|e| e.to_string())?;
    let name = control::socket_name(&args.container)
        .map_err(|e| format!("cannot open the state directory: {e}"))?;
    let listener = UnixListener::bind(&name.path).map_err(|e| {
        format!(
            "cannot listen on the control socket {}: {e}",
            args.container.control_socket().display()
        )
    })?;
    drop(name);
    let mut sandbox = Sandbox::open(&args.spec).map_err(|e| e.to_string())?;
    jail::enter(&args.container.jail_dir(), &args.spec.process.rlimits)
        .map_err(|e| e.to_string())?;
    let stdio = args.stdio.take().ok_or("the workload's stdio is missing")?;
    sandbox.create_init(stdio).map_err(|e| e.to_string())?;
    args.channel
        .send(&Msg::Created)
        .map_err(|e| e.to_string())?;
    Ok((sandbox, listener))
}

/// Closes every descriptor not in `keep`: the runtime's lock file (whose
/// flock must end with the runtime), the console master, anything the
/// caller leaked to us. The Sentry must start from a known set.
pub fn close_other_fds(keep: &[RawFd]) {
    let Ok(entries) = fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<RawFd> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in fds {
        if !keep.contains(&fd) {
            // SAFETY: closing descriptors nothing in this (single-threaded,
            // freshly forked) process will use again; the read_dir handle
            // is already closed, so EBADF for it is harmless.
            unsafe { libc::close(fd) };
        }
    }
}
