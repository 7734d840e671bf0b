//! Building a sandbox from its spec, and serving its control socket.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::sync::mpsc;
use std::sync::Arc;

use super::caps::CapSets;
use super::container::{self, clean_path, Container, HostRoots};
use super::creds::Creds;
use super::process::{lock, FsContext, ProcState, Process};
use super::signal::{SigInfo, SigState};
use super::task::Task;
use super::{events, exec, Kernel};
use crate::error::Error;
use crate::fs::host::HostInode;
use crate::fs::host_fd::HostFd;
use crate::fs::{dev, proc};
use crate::mm::{MemoryFile, MemoryManager, SharedMm};
use crate::platform::kvm::KvmPlatform;
use crate::platform::ptrace::PtracePlatform;
use crate::platform::seccomp::SeccompPlatform;
use crate::platform::{Platform, Regs};
use crate::spec::{MountKind, PlatformKind, ProcessSpec, RootOverlay, SandboxSpec};
use crate::vfs::{FdTable, FileType, Location, OpenFile, Resolver};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A process ready to start: what it will exec, and where its exit
/// status will arrive (it has no parent inside).
pub(super) struct Prepared {
    pub proc: Arc<Process>,
    pub program: Program,
    pub exit: mpsc::Receiver<i32>,
}

/// The resolved program a prepared process execs, with argv and envp.
pub(super) struct Program {
    pub path: String,
    pub argv: Vec<Vec<u8>>,
    pub envp: Vec<Vec<u8>>,
}

pub struct Boot {
    spec: SandboxSpec,
    host: HostRoots,
    /// The first container, once the kernel is built.
    first: Option<Arc<Container>>,
    kernel: Option<Arc<Kernel>>,
    init: Option<Prepared>,
    /// /dev/kvm, opened before the jail (kvm platform only).
    kvm: Option<vmm::Kvm>,
}

impl Boot {
    pub fn open(spec: &SandboxSpec) -> Result<Boot, Error> {
        // Host limits the sandbox inherits, read while getrlimit is allowed.
        super::rlimits::capture_host_limits();
        // Under a memory overlay the host rootfs is only ever read.
        let host_readonly = spec.root_readonly || spec.root_overlay == RootOverlay::Memory;
        let root = HostInode::open_root(&spec.rootfs, host_readonly).map_err(|source| {
            Error::OpenRootfs {
                path: spec.rootfs.clone(),
                source,
            }
        })?;
        let mut binds = Vec::new();
        for m in &spec.mounts {
            if let MountKind::Bind { source, .. } = &m.kind {
                let readonly = m.flags.readonly;
                let inode = HostInode::open_root(source, readonly).map_err(|source_err| {
                    Error::OpenBindSource {
                        path: source.clone(),
                        source: source_err,
                    }
                })?;
                binds.push((clean_path(&m.destination), inode, readonly));
            }
        }
        crate::net::sysctl::apply(&spec.sysctl)?;
        crate::kernel::resources::init(spec);
        crate::kernel::PIDS_MAX.store(
            spec.pids_limit.unwrap_or(0),
            std::sync::atomic::Ordering::Relaxed,
        );
        if spec.network == crate::spec::NetworkMode::Host {
            crate::net::hostnet::enable()?;
            crate::net::stack::takeover::describe()?;
        }
        if spec.network == crate::spec::NetworkMode::Sandbox {
            let links = crate::net::stack::takeover::take_over()?;
            if !links.is_empty() {
                crate::net::stack::install(links)?;
                // Docker's embedded DNS (user-defined networks) is reached
                // through the namespace's loopback; a namespace without it
                // just never answers.
                crate::net::dns::open()?;
            }
        }
        let kvm = match spec.platform {
            PlatformKind::Kvm => Some(crate::platform::kvm::open()?),
            PlatformKind::Ptrace | PlatformKind::Seccomp => None,
        };
        Ok(Boot {
            spec: spec.clone(),
            host: HostRoots { root, binds },
            first: None,
            kernel: None,
            init: None,
            kvm,
        })
    }

    fn build_kernel(&mut self, console: Option<Arc<HostFd>>) -> Result<Arc<Kernel>, Error> {
        let (memfile, platform): (_, Box<dyn Platform>) = match &self.kvm {
            Some(kvm) => {
                let slot = crate::platform::kvm::slot_size(self.spec.memory_limit);
                let memfile = MemoryFile::init_global(slot)?;
                // SAFETY: the descriptor is open for the whole call (the
                // memory file owns it); the VM keeps a duplicate of its own.
                let fd = unsafe { BorrowedFd::borrow_raw(memfile.fd()) };
                let vm = KvmPlatform::new(kvm, fd, slot)?;
                (memfile, Box::new(vm))
            }
            None => {
                let memfile = MemoryFile::global()?;
                let platform: Box<dyn Platform> = match self.spec.platform {
                    PlatformKind::Seccomp => Box::new(SeccompPlatform::new(memfile.fd())?),
                    _ => Box::new(PtracePlatform::new(memfile.fd())),
                };
                (memfile, platform)
            }
        };
        crate::vdso::init(&memfile, platform.tsc_offset()).map_err(Error::Vdso)?;
        let first = container::build(
            "",
            (true, false),
            &self.spec.fs(),
            &self.host,
            console.as_ref(),
        )?;
        if let Some(fd) = &console {
            // The container's first process (pid 1, its own session) is
            // started on the runtime's terminal, its controlling terminal.
            crate::fs::pty::ctty::set(1, dev::terminal_node(fd, 0));
        }
        let first = Arc::new(first);
        super::pod::set_first(first.clone());
        self.first = Some(first);
        let k = Kernel::new(memfile, platform, self.spec.hostname.clone(), console);
        Kernel::install(k)
    }

    pub fn create_init(&mut self, stdio: [OwnedFd; 3]) -> Result<(), Error> {
        let [i, o, e] = stdio;
        let console = if self.spec.process.terminal {
            Some(HostFd::new(i.try_clone()?))
        } else {
            None
        };
        let k = self.build_kernel(console)?;
        self.kernel = Some(k.clone());
        let first = self
            .first
            .clone()
            .ok_or_else(|| Error::Protocol("the first container is missing".into()))?;
        let init = prepare(&k, &first, &self.spec.process, [i, o, e], (1, 0), true)?;
        self.init = Some(init);
        Ok(())
    }

    pub fn serve(mut self, control: UnixListener) -> Result<i32, Error> {
        let k = self
            .kernel
            .clone()
            .ok_or_else(|| Error::Protocol("serve before create_init".into()))?;
        let init = self
            .init
            .take()
            .ok_or_else(|| Error::Protocol("serve before create_init".into()))?;
        // Terminal signals arrive as host signals (the pty is the Sentry's
        // controlling terminal); block them in every thread so one thread
        // can take them and hand them to the workload.
        let tty_signals = tty_signal_set();
        let _ = tty_signals.thread_block();
        if let Some(console) = k.console.clone() {
            let kc = k.clone();
            std::thread::Builder::new()
                .name("tty-signals".into())
                .spawn(move || forward_tty_signals(kc, console, tty_signals))?;
        }
        crate::net::stack::driver::start()?;
        crate::net::hostnet::start()?;
        crate::syscalls::stats::init();
        crate::jail::install(&k.platform.jailed_ioctls(), crate::net::hostnet::enabled())?;
        let (start_tx, start_rx) = mpsc::channel::<()>();
        let kc = k.clone();
        std::thread::Builder::new()
            .name("control".into())
            .spawn(move || super::control::serve(kc, control, start_tx))?;
        // Signals to a created container (docker stop before start) still reach init.
        if start_rx.recv().is_err() {
            return Err(Error::Protocol(
                "the control socket closed before start".into(),
            ));
        }
        let Prepared {
            proc,
            program,
            exit,
        } = init;
        spawn(&k, proc, program);
        let status = exit.recv().unwrap_or(libc::SIGKILL);
        k.kill_all();
        // Give the other tasks a moment to tear down their stubs.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let seen = events::generation();
            if *lock(&k.live_tasks) == 0 || std::time::Instant::now() >= deadline {
                break;
            }
            events::wait(seen, Some(deadline));
        }
        tracing::debug!(
            "vDSO calls serviced as system calls: {}",
            crate::vdso::counters::summary()
        );
        if let Some(stats) = k.platform.stats() {
            tracing::info!("platform {}: {stats}", k.platform.name());
        }
        Ok(shell_status(status))
    }
}

fn tty_signal_set() -> nix::sys::signal::SigSet {
    use nix::sys::signal::Signal::*;
    let mut set = nix::sys::signal::SigSet::empty();
    for s in [SIGINT, SIGQUIT, SIGTSTP, SIGWINCH, SIGHUP] {
        set.add(s);
    }
    set
}

/// Hands signals the host terminal raised to the workload's foreground
/// process group, as the terminal's line discipline would inside.
fn forward_tty_signals(k: Arc<Kernel>, console: Arc<HostFd>, set: nix::sys::signal::SigSet) {
    loop {
        let Ok(sig) = set.wait() else { continue };
        let pgrp = console.foreground_pgrp();
        k.signal_group(pgrp, SigInfo::new(sig as i32, super::signal::SI_KERNEL));
    }
}

/// A wait status as a shell reports it: the code, or 128 + the signal.
pub(super) fn shell_status(status: i32) -> i32 {
    if status & 0x7f == 0 {
        (status >> 8) & 0xff
    } else {
        128 + (status & 0x7f)
    }
}

fn fd_path(fd: &HostFd) -> String {
    match crate::vfs::FileOps::stat(fd) {
        Ok(st) => match st.file_type() {
            FileType::Fifo => format!("pipe:[{}]", st.ino),
            FileType::Socket => format!("socket:[{}]", st.ino),
            FileType::CharDevice if st.rdev == 0x103 => "/dev/null".into(),
            _ => format!("host:[{}]", st.ino),
        },
        Err(_) => "host:[0]".into(),
    }
}

/// Creates a process (not yet running) of `container` for `spec` with
/// `stdio`; `is_init` when it is the container's first (which gets the
/// container's terminal, if it asked for one).
pub(super) fn prepare(
    k: &Arc<Kernel>,
    container: &Arc<Container>,
    spec: &ProcessSpec,
    stdio: [OwnedFd; 3],
    (pid, ppid): (i32, i32),
    is_init: bool,
) -> Result<Prepared, Error> {
    let first = spec.args.first().ok_or(Error::NoArgs)?;
    let mut files = FdTable::default();
    // The terminal of the process, if it asked for one: the container's
    // console for init, else the pty the runtime made for this exec (its
    // three stdio descriptors are the same terminal), which appears in
    // /dev/pts and becomes the new session's controlling terminal.
    let terminal: Option<(Arc<HostFd>, String)> = match (&container.console, is_init) {
        (Some(c), true) if spec.terminal => Some((c.clone(), "/dev/pts/0".into())),
        _ if spec.terminal => stdio.first().and_then(|fd| {
            let host = HostFd::new(fd.try_clone().ok()?);
            let path = crate::fs::pty::attach_host_terminal(&host, pid)?;
            Some((host, path))
        }),
        _ => None,
    };
    for (n, fd) in stdio.into_iter().enumerate() {
        let (host, path) = match &terminal {
            Some((t, path)) => (t.clone(), path.clone()),
            None => {
                let host = HostFd::new(fd);
                let path = fd_path(&host);
                (host, path)
            }
        };
        let file = OpenFile::new(host, None, path, libc::O_RDWR);
        let _ = files.install_at(n as i32, file, false, 3);
    }
    let resolver = Resolver {
        mounts: &container.mounts,
        root: &container.root,
        searcher: None,
    };
    let cwd = resolver
        .resolve(
            &container.root,
            &clean_path(if spec.cwd.is_empty() { "/" } else { &spec.cwd }),
            true,
        )
        .unwrap_or_else(|_| container.root.clone());
    let path_env = spec
        .env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH)
        .to_string();
    let program = find_program(container, &cwd, first, &path_env)?;
    let (tx, rx) = mpsc::channel();
    let state = ProcState {
        ppid,
        pgid: pid,
        sid: pid,
        children: Default::default(),
        zombie: None,
        comm: first
            .rsplit('/')
            .next()
            .unwrap_or("")
            .chars()
            .take(15)
            .collect(),
        cmdline: Vec::new(),
        environ: Vec::new(),
        exe: program.clone(),
        creds: Creds::new(
            spec.uid,
            spec.gid,
            spec.additional_gids.clone(),
            initial_caps(spec),
        ),
        vfork_done: false,
        has_execed: true,
        execs: 0,
        dumpable: true,
        stopped: false,
        job_report: None,
        pdeathsig: 0,
        no_new_privs: spec.no_new_privs,
        oom_score_adj: spec.oom_score_adj,
        oom_score_adj_min: 0,
        nice: 0,
        personality: 0,
        cpu_ns: 0,
        sentry_cpu_ns: 0,
        app_cpu_ns: 0,
        children_cpu_ns: 0,
        exit_notify: Some(tx),
        rlimits: spec.rlimits.clone(),
        host_pid: 0,
    };
    let fs = FsContext { cwd, umask: 0o022 };
    let proc = Process::new(
        pid,
        container.clone(),
        state,
        SigState::default(),
        files,
        fs,
    )?;
    lock(&k.procs).insert(pid, proc.clone());
    Ok(Prepared {
        proc,
        program: Program {
            path: program,
            argv: spec.args.iter().map(|a| a.clone().into_bytes()).collect(),
            envp: spec.env.iter().map(|a| a.clone().into_bytes()).collect(),
        },
        exit: rx,
    })
}

/// The first process's capability sets: the spec's (none at all when it
/// names none, as with runc) as the exec of the program leaves them, as
/// under runc, which sets them before its execve: root regains its
/// bounding set unless no_new_privs forbids gaining anything, anyone else
/// keeps only the ambient set.
fn initial_caps(spec: &ProcessSpec) -> CapSets {
    let mut caps = spec
        .capabilities
        .map(|c| {
            CapSets::from_spec(CapSets {
                bounding: c.bounding,
                effective: c.effective,
                permitted: c.permitted,
                inheritable: c.inheritable,
                ambient: c.ambient,
            })
        })
        .unwrap_or_default();
    caps.exec(spec.uid, spec.uid, 0, spec.no_new_privs);
    caps
}

/// Finds a program the way execvp does: a name with a '/' as is, else in $PATH.
/// The program the spec names: a path is taken as it is (and refused as
/// runc refuses it: missing, or not an executable file), a bare name is
/// looked up in PATH (the first executable file).
fn find_program(
    c: &Container,
    cwd: &Location,
    name: &str,
    path_env: &str,
) -> Result<String, Error> {
    let resolver = Resolver {
        mounts: &c.mounts,
        root: &c.root,
        searcher: None,
    };
    let stat = |p: &str| {
        resolver
            .resolve(cwd, p, true)
            .ok()
            .and_then(|l| l.inode.stat().ok())
    };
    let ok = |p: &str| {
        stat(p).is_some_and(|s| s.file_type() == FileType::Regular && s.mode & 0o111 != 0)
    };
    if name.contains('/') {
        return match stat(name) {
            None => Err(Error::Exec {
                path: name.to_string(),
                reason: format!("stat {name}: no such file or directory"),
            }),
            Some(_) if !ok(name) => Err(Error::Exec {
                path: name.to_string(),
                reason: "permission denied".into(),
            }),
            Some(_) => Ok(name.to_string()),
        };
    }
    path_env
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| format!("{}/{}", d.trim_end_matches('/'), name))
        .find(|p| ok(p))
        .ok_or_else(|| Error::ExecutableNotFound {
            name: name.to_string(),
        })
}

/// Starts a prepared process on its own Sentry thread.
pub(super) fn spawn(k: &Arc<Kernel>, proc: Arc<Process>, program: Program) {
    let Program { path, argv, envp } = program;
    *lock(&k.live_tasks) += 1;
    let kc = k.clone();
    let pid = proc.pid;
    let ipc_ns = proc.container.ipc_ns;
    let result = std::thread::Builder::new()
        .name(format!("task-{pid}"))
        .stack_size(1 << 20)
        .spawn(move || {
            proc::CURRENT_PID.with(|c| c.set(pid));
            super::ipc::set_current_ns(ipc_ns);
            let parts = kc
                .platform
                .new_context()
                .map_err(|e| e.to_string())
                .and_then(|ctx| {
                    let thread = super::thread::Thread::new(pid, 0).map_err(|e| e.to_string())?;
                    Ok((ctx, thread))
                });
            let (ctx, thread) = match parts {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!("cannot start pid {pid}: {e}");
                    super::exit::exit_process(&kc, &proc, super::task::Exit::Code(127));
                    *lock(&kc.live_tasks) -= 1;
                    events::notify();
                    return;
                }
            };
            let mm = Arc::new(SharedMm::new(MemoryManager::new(kc.memfile.clone())));
            // SAFETY: user_regs_struct is plain data; exec fills it in.
            let mut regs: Regs = unsafe { std::mem::zeroed() };
            regs.cs = 0x33;
            regs.ss = 0x2b;
            let mut task = Task::new(kc.clone(), proc, thread, regs, mm, ctx);
            match exec::execve(&mut task, &path, argv, envp) {
                Err(e) if e == crate::errno::Errno::EJUSTRETURN => {}
                Err(e) => {
                    let msg = format!(
                        "sandbox: exec {path}: {}\n",
                        std::io::Error::from_raw_os_error(e.0)
                    );
                    if let Ok(f) = lock(&task.proc.files).get(2) {
                        let _ = f.ops.write(msg.as_bytes(), 0);
                    }
                    task.exit = Some(super::task::Exit::Code(if e.0 == libc::ENOENT {
                        127
                    } else {
                        126
                    }));
                }
                Ok(_) => {}
            }
            task.run();
        });
    if let Err(e) = result {
        tracing::error!("cannot start a Sentry thread: {e}");
    }
}
