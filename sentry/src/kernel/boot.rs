//! Building a sandbox from its spec, and serving its control socket.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::mpsc;
use std::sync::Arc;

use super::caps::CapSets;
use super::creds::Creds;
use super::process::{lock, FsContext, ProcState, Process};
use super::signal::{SigInfo, SigState, SI_USER};
use super::task::Task;
use super::{events, exec, Kernel};
use crate::control::{recv_frame, send_frame, Request, Response};
use crate::error::Error;
use crate::fs::host::HostInode;
use crate::fs::host_fd::HostFd;
use crate::fs::overlay::OverlayFs;
use crate::fs::{dev, proc, synthetic, tmpfs::TmpFs};
use crate::mm::{MemoryFile, MemoryManager, SharedMm};
use crate::platform::kvm::KvmPlatform;
use crate::platform::ptrace::PtracePlatform;
use crate::platform::seccomp::SeccompPlatform;
use crate::platform::{Platform, Regs};
use crate::spec::{
    DevptsOptions, MountFlags, MountKind, PlatformKind, ProcessSpec, RootOverlay, SandboxSpec,
};
use crate::vfs::mount::Mount;
use crate::vfs::{FdTable, FileType, Inode, Location, Mounts, OpenFile, Resolver};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A process ready to start: its resolved program and arguments.
struct Prepared {
    proc: Arc<Process>,
    path: String,
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
    exit: mpsc::Receiver<i32>,
}

pub struct Boot {
    spec: SandboxSpec,
    root: Arc<HostInode>,
    binds: Vec<(String, Arc<HostInode>, bool)>,
    kernel: Option<Arc<Kernel>>,
    init: Option<Prepared>,
    /// /dev/kvm, opened before the jail (kvm platform only).
    kvm: Option<vmm::Kvm>,
}

fn clean_path(p: &str) -> String {
    let parts: Vec<&str> = p
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

/// A tmpfs's super block options as Linux prints them: the size (when
/// given) in KiB of whole pages, the mode unless 1777.
fn tmpfs_options(rw: &str, size: Option<u64>, mode: Option<u32>) -> String {
    let mut s = rw.to_string();
    if let Some(size) = size {
        s.push_str(&format!(",size={}k", size.div_ceil(4096) * 4));
    }
    if let Some(mode) = mode.filter(|&m| m & 0o7777 != 0o1777) {
        s.push_str(&format!(",mode={:03o}", mode & 0o7777));
    }
    s
}

/// devpts's super block options as Linux prints them.
fn devpts_options(rw: &str, o: &DevptsOptions) -> String {
    let gid = o.gid.map(|g| format!(",gid={g}")).unwrap_or_default();
    format!(
        "{rw}{gid},mode={:03o},ptmxmode={:03o}",
        o.mode & 0o7777,
        o.ptmxmode & 0o7777
    )
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
            root,
            binds,
            kernel: None,
            init: None,
            kvm,
        })
    }

    /// The root's mount: runc's bind of the rootfs as the host shows it
    /// (its directory within the host file system, type, source and
    /// options), with the spec's `root.readonly`. Under a memory overlay,
    /// or when the runtime did not say, an overlay or rootfs of its own.
    fn root_mount(&self, inode: Arc<dyn Inode>) -> Mount {
        let readonly = self.spec.root_readonly;
        let rw = if readonly { "ro" } else { "rw" };
        let flags = MountFlags {
            readonly,
            ..MountFlags::default()
        };
        match (&self.spec.root_host, self.spec.root_overlay) {
            (Some(h), RootOverlay::None) => Mount {
                root: inode,
                flags: MountFlags {
                    readonly,
                    ..h.flags
                },
                fstype: h.fstype.clone(),
                source: h.source.clone(),
                fs_root: h.root.clone(),
                super_options: h.super_options.clone(),
            },
            (_, RootOverlay::Memory) => Mount::new(inode, flags, "overlay", "overlay", rw.into()),
            (None, RootOverlay::None) => Mount::new(inode, flags, "rootfs", "rootfs", rw.into()),
        }
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
        let root_inode: Arc<dyn Inode> = match self.spec.root_overlay {
            RootOverlay::None => self.root.clone(),
            RootOverlay::Memory => {
                OverlayFs::new_root(self.root.clone(), None).map_err(|e| Error::Overlay(e.0))?
            }
        };
        let root = Location {
            path: "/".into(),
            inode: root_inode.clone(),
            readonly: self.spec.root_readonly,
        };
        let mut mounts = Mounts::default();
        mounts.add("/", self.root_mount(root_inode));
        let mut binds = self.binds.clone().into_iter();
        for m in &self.spec.mounts {
            let dest = clean_path(&m.destination);
            let rw = if m.flags.readonly { "ro" } else { "rw" };
            let new = |inode: Arc<dyn Inode>, fstype: &str, super_options: String| {
                Mount::new(inode, m.flags, fstype, &m.source, super_options)
            };
            let mount = match &m.kind {
                MountKind::Proc => new(proc::new_procfs(), "proc", rw.into()),
                MountKind::Sysfs => new(crate::fs::sysfs::new_sysfs(), "sysfs", rw.into()),
                MountKind::Tmpfs { size, mode } => {
                    let inode: Arc<dyn Inode> = if dest == "/dev" {
                        dev::new_devfs(console.as_ref())
                    } else {
                        TmpFs::new_root(*size, mode.unwrap_or(0o1777))
                    };
                    new(inode, "tmpfs", tmpfs_options(rw, *size, *mode))
                }
                MountKind::Devpts(o) => new(
                    crate::fs::pty::new_devpts(console.as_ref(), *o),
                    "devpts",
                    devpts_options(rw, o),
                ),
                MountKind::Mqueue => new(TmpFs::new_root(Some(0), 0o1777), "mqueue", rw.into()),
                MountKind::Bind { source, host } => {
                    let Some((_, inode, _)) = binds.next() else {
                        continue;
                    };
                    match host {
                        Some(h) => Mount {
                            root: inode,
                            flags: m.flags,
                            fstype: h.fstype.clone(),
                            source: h.source.clone(),
                            fs_root: h.root.clone(),
                            super_options: h.super_options.clone(),
                        },
                        // Not described by the runtime: the host path.
                        None => Mount {
                            fs_root: source.to_string_lossy().into_owned(),
                            ..new(inode, "none", rw.into())
                        },
                    }
                }
            };
            mounts.add(&dest, mount);
        }
        // No /dev or /dev/pts in the spec: the Sentry still provides them,
        // as Docker's spec would mount them.
        if mounts.get("/dev").is_none() {
            let flags = MountFlags::with_options(MountFlags::default(), &["nosuid", "strictatime"]);
            let options = tmpfs_options("rw", Some(65536 << 10), Some(0o755));
            let devfs = dev::new_devfs(console.as_ref());
            mounts.add("/dev", Mount::new(devfs, flags, "tmpfs", "tmpfs", options));
        }
        if mounts.get("/dev/pts").is_none() {
            let flags = MountFlags::with_options(MountFlags::default(), &["nosuid", "noexec"]);
            let o = DevptsOptions {
                gid: Some(5),
                mode: 0o620,
                ptmxmode: 0o666,
            };
            let devpts = crate::fs::pty::new_devpts(console.as_ref(), o);
            let options = devpts_options("rw", &o);
            mounts.add(
                "/dev/pts",
                Mount::new(devpts, flags, "devpts", "devpts", options),
            );
        }
        if let Some(fd) = &console {
            // The container's first process (pid 1, its own session) is
            // started on the runtime's terminal, its controlling terminal.
            crate::fs::pty::ctty::set(1, dev::terminal_node(fd, 0));
        }
        // As runc: read-only paths are bound over themselves read-only,
        // then masked directories get an empty read-only tmpfs and masked
        // files the container's /dev/null.
        let mut extra = Vec::new();
        let resolver = Resolver {
            mounts: &mounts,
            root: &root,
            searcher: None,
        };
        let bind_of = |loc: &Location, readonly: bool| {
            let (mp, on) = mounts.containing(&loc.path)?;
            let rel = loc.path[mp.len()..].trim_start_matches('/');
            let mut flags = on.flags;
            flags.readonly |= readonly;
            Some(on.bind_of(loc.inode.clone(), rel, flags))
        };
        for p in &self.spec.readonly_paths {
            let p = clean_path(p);
            if let Ok(loc) = resolver.resolve(&root, &p, true) {
                if let Some(m) = bind_of(&loc, true) {
                    extra.push((p, m));
                }
            }
        }
        let dev_null = resolver
            .resolve(&root, "/dev/null", true)
            .ok()
            .and_then(|loc| bind_of(&loc, false));
        for p in &self.spec.masked_paths {
            let p = clean_path(p);
            let Ok(loc) = resolver.resolve(&root, &p, true) else {
                continue;
            };
            let ro = MountFlags {
                readonly: true,
                ..MountFlags::default()
            };
            let m = if loc.is_dir() {
                let empty = TmpFs::new_root(Some(0), 0o1777);
                Mount::new(empty, ro, "tmpfs", "tmpfs", "ro".into())
            } else if let Some(null) = &dev_null {
                null.clone()
            } else {
                let empty = synthetic::file(0x2, &p, 0, |_| Vec::new());
                Mount::new(empty, ro, "tmpfs", "tmpfs", "ro".into())
            };
            extra.push((p, m));
        }
        for (p, m) in extra {
            mounts.add(&p, m);
        }
        let k = Kernel::new(
            memfile,
            platform,
            mounts,
            root,
            self.spec.hostname.clone(),
            console,
        );
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
        let init = prepare(&k, &self.spec.process, [i, o, e], 1, 0)?;
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
            .spawn(move || control_loop(kc, control, start_tx))?;
        // Signals to a created container (docker stop before start) still reach init.
        if start_rx.recv().is_err() {
            return Err(Error::Protocol(
                "the control socket closed before start".into(),
            ));
        }
        let Prepared {
            proc,
            path,
            argv,
            envp,
            exit,
        } = init;
        spawn(&k, proc, path, argv, envp);
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
fn shell_status(status: i32) -> i32 {
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

/// Creates a process (not yet running) for `spec` with `stdio`.
fn prepare(
    k: &Arc<Kernel>,
    spec: &ProcessSpec,
    stdio: [OwnedFd; 3],
    pid: i32,
    ppid: i32,
) -> Result<Prepared, Error> {
    let first = spec.args.first().ok_or(Error::NoArgs)?;
    let mut files = FdTable::default();
    // The terminal of the process, if it asked for one: the container's
    // console for init, else the pty the runtime made for this exec (its
    // three stdio descriptors are the same terminal), which appears in
    // /dev/pts and becomes the new session's controlling terminal.
    let terminal: Option<(Arc<HostFd>, String)> = match (&k.console, pid) {
        (Some(c), 1) if spec.terminal => Some((c.clone(), "/dev/pts/0".into())),
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
        mounts: &k.mounts,
        root: &k.root,
        searcher: None,
    };
    let cwd = resolver
        .resolve(
            &k.root,
            &clean_path(if spec.cwd.is_empty() { "/" } else { &spec.cwd }),
            true,
        )
        .unwrap_or_else(|_| k.root.clone());
    let path_env = spec
        .env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH)
        .to_string();
    let program = find_program(k, &cwd, first, &path_env)?;
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
    let proc = Process::new(pid, state, SigState::default(), files, fs)?;
    lock(&k.procs).insert(pid, proc.clone());
    Ok(Prepared {
        proc,
        path: program,
        argv: spec.args.iter().map(|a| a.clone().into_bytes()).collect(),
        envp: spec.env.iter().map(|a| a.clone().into_bytes()).collect(),
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
fn find_program(k: &Kernel, cwd: &Location, name: &str, path_env: &str) -> Result<String, Error> {
    let resolver = Resolver {
        mounts: &k.mounts,
        root: &k.root,
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
fn spawn(
    k: &Arc<Kernel>,
    proc: Arc<Process>,
    path: String,
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
) {
    *lock(&k.live_tasks) += 1;
    let kc = k.clone();
    let pid = proc.pid;
    let result = std::thread::Builder::new()
        .name(format!("task-{pid}"))
        .stack_size(1 << 20)
        .spawn(move || {
            proc::CURRENT_PID.with(|c| c.set(pid));
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

fn control_loop(k: Arc<Kernel>, listener: UnixListener, start: mpsc::Sender<()>) {
    let mut start = Some(start);
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        if let Err(e) = handle(&k, conn, &mut start) {
            tracing::warn!("control request failed: {e}");
        }
    }
}

fn handle(
    k: &Arc<Kernel>,
    conn: UnixStream,
    start: &mut Option<mpsc::Sender<()>>,
) -> Result<(), Error> {
    let (req, fds) = recv_frame::<Request>(&conn)?;
    match req {
        Request::Start => {
            let reply = match start.take() {
                Some(tx) => {
                    let _ = tx.send(());
                    Response::Ok
                }
                None => Response::Error {
                    message: "the container was already started".into(),
                },
            };
            send_frame(&conn, &reply, &[])
        }
        Request::Signal { signal, all } => {
            if !(1..=64).contains(&signal) {
                return send_frame(
                    &conn,
                    &Response::Error {
                        message: format!("invalid signal {signal}"),
                    },
                    &[],
                );
            }
            let info = SigInfo::new(signal, SI_USER);
            if all {
                for p in k.all_processes() {
                    k.send_signal(&p, info, true);
                }
            } else if let Some(init) = k.process(1) {
                k.send_signal(&init, info, true);
            }
            send_frame(&conn, &Response::Ok, &[])
        }
        Request::Pause => {
            let reply = if super::freeze::pause_sandbox(k) {
                Response::Ok
            } else {
                Response::Error {
                    message: "a thread of the workload did not stop within 2 s".into(),
                }
            };
            send_frame(&conn, &reply, &[])
        }
        Request::Resume => {
            super::freeze::resume_sandbox();
            send_frame(&conn, &Response::Ok, &[])
        }
        Request::Ps => {
            let pids = k
                .all_processes()
                .iter()
                .filter(|p| !p.is_zombie())
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
        Request::Exec { process } => {
            let mut it = fds.into_iter();
            let (Some(i), Some(o), Some(e)) = (it.next(), it.next(), it.next()) else {
                return send_frame(
                    &conn,
                    &Response::Error {
                        message: "exec needs three stdio descriptors".into(),
                    },
                    &[],
                );
            };
            let Some(pid) = k.alloc_pid() else {
                return send_frame(
                    &conn,
                    &Response::Error {
                        message: "no free pid".into(),
                    },
                    &[],
                );
            };
            match prepare(k, &process, [i, o, e], pid, 0) {
                Err(err) => {
                    k.release(pid);
                    send_frame(
                        &conn,
                        &Response::Error {
                            message: err.to_string(),
                        },
                        &[],
                    )
                }
                Ok(p) => {
                    let Prepared {
                        proc,
                        path,
                        argv,
                        envp,
                        exit,
                    } = p;
                    let target = proc.clone();
                    spawn(k, proc, path, argv, envp);
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
                    std::thread::spawn(move || {
                        let status = exit.recv().unwrap_or(libc::SIGKILL);
                        let _ = send_frame(
                            &conn,
                            &Response::Exited {
                                status: shell_status(status),
                            },
                            &[],
                        );
                        let _ = conn.shutdown(std::net::Shutdown::Both);
                    });
                    Ok(())
                }
            }
        }
    }
}

#[cfg(test)]
mod mount_option_tests {
    use super::*;

    #[test]
    fn tmpfs_and_devpts_options_as_linux_prints_them() {
        assert_eq!(
            tmpfs_options("rw", Some(65536 << 10), Some(0o755)),
            "rw,size=65536k,mode=755"
        );
        assert_eq!(
            tmpfs_options("rw", Some(1 << 20), Some(0o1777)),
            "rw,size=1024k"
        );
        assert_eq!(tmpfs_options("ro", Some(1000), None), "ro,size=4k");
        assert_eq!(tmpfs_options("rw", None, Some(0o700)), "rw,mode=700");
        let docker = DevptsOptions {
            gid: Some(5),
            mode: 0o620,
            ptmxmode: 0o666,
        };
        assert_eq!(
            devpts_options("rw", &docker),
            "rw,gid=5,mode=620,ptmxmode=666"
        );
        assert_eq!(
            devpts_options("rw", &DevptsOptions::default()),
            "rw,mode=600,ptmxmode=000"
        );
    }
}
