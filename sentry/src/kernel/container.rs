//! A container of the sandbox: the file system view its processes share.
//!
//! A sandbox holds one container, or several when it is a pod's: the first
//! is built at boot, the others join later over the control socket
//! (`kernel/pod.rs`). Each has its own root and mount table, built here
//! from its spec; every process belongs to one container for life (fork
//! keeps it) and resolves paths, /proc/PID/mounts and statfs in that
//! container's table. The rest of the kernel (network stack, IPC,
//! hostname, pid space) is the sandbox's.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use crate::error::Error;
use crate::fs::host::HostInode;
use crate::fs::host_fd::HostFd;
use crate::fs::overlay::OverlayFs;
use crate::fs::{dev, proc, synthetic, tmpfs::TmpFs};
use crate::spec::{ContainerFsSpec, DevptsOptions, MountFlags, MountKind, RootOverlay};
use crate::vfs::mount::Mount;
use crate::vfs::{Inode, Location, Mounts, Resolver};

pub struct Container {
    /// The runtime's container id; empty for the sandbox's first container
    /// (the runtime addresses it without an id, as before pods).
    pub id: String,
    pub mounts: Mounts,
    pub root: Location,
    /// Its init's pid once made (1 for the first container).
    init_pid: AtomicI32,
    /// Whether it has a pid namespace of its own: its init then adopts
    /// its orphans, ignores signals it has no handler for, and takes the
    /// container's other processes with it when it ends. Otherwise it
    /// shares the sandbox's (pid 1's).
    pub own_pid_namespace: bool,
    /// Its IPC namespace (`kernel::ipc`): 0, the sandbox's, unless it
    /// has one of its own.
    pub ipc_ns: u64,
    /// The terminal the runtime gave the container (its /dev/console and
    /// /dev/pts/0), when its process asked for one.
    pub console: Option<Arc<HostFd>>,
}

impl Container {
    pub fn init_pid(&self) -> i32 {
        self.init_pid.load(Ordering::Acquire)
    }

    pub fn set_init_pid(&self, pid: i32) {
        self.init_pid.store(pid, Ordering::Release);
    }

    /// Whether this container's processes see `other`'s in /proc: all of
    /// the pod's when it shares the sandbox's pid space, else only its own.
    pub fn sees(&self, other: &Container) -> bool {
        !self.own_pid_namespace || std::ptr::eq(self, other)
    }

    /// Whether `pid` is a pid namespace's init: the sandbox's (1), or
    /// this container's when it has its own namespace.
    pub fn is_namespace_init(&self, pid: i32) -> bool {
        pid == 1 || (self.own_pid_namespace && pid == self.init_pid())
    }
}

/// The host side of a container's file system: its root and the sources
/// of its bind mounts (destination, inode, read-only), in spec order.
pub struct HostRoots {
    pub root: Arc<HostInode>,
    pub binds: Vec<(String, Arc<HostInode>, bool)>,
}

pub fn clean_path(p: &str) -> String {
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

/// The root's mount: runc's bind of the rootfs as the host shows it
/// (its directory within the host file system, type, source and
/// options), with the spec's `root.readonly`. Under a memory overlay,
/// or when the runtime did not say, an overlay or rootfs of its own.
fn root_mount(spec: &ContainerFsSpec, inode: Arc<dyn Inode>) -> Mount {
    let readonly = spec.root_readonly;
    let rw = if readonly { "ro" } else { "rw" };
    let flags = MountFlags {
        readonly,
        ..MountFlags::default()
    };
    match (&spec.root_host, spec.root_overlay) {
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

/// Builds container `id`'s root and mount table from its spec and the
/// host files the runtime opened for it. `console` is the terminal its
/// /dev/console and /dev/pts/0 stand for.
pub fn build(
    id: &str,
    (own_pid_namespace, own_ipc_namespace): (bool, bool),
    spec: &ContainerFsSpec,
    host: &HostRoots,
    console: Option<&Arc<HostFd>>,
) -> Result<Container, Error> {
    let root_inode: Arc<dyn Inode> = match spec.root_overlay {
        RootOverlay::None => host.root.clone(),
        RootOverlay::Memory => {
            OverlayFs::new_root(host.root.clone(), None).map_err(|e| Error::Overlay(e.0))?
        }
    };
    let root = Location {
        path: "/".into(),
        inode: root_inode.clone(),
        readonly: spec.root_readonly,
    };
    let mut mounts = Mounts::default();
    mounts.add("/", root_mount(spec, root_inode));
    let mut binds = host.binds.iter();
    for m in &spec.mounts {
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
                    dev::new_devfs(console)
                } else {
                    TmpFs::new_root(*size, mode.unwrap_or(0o1777))
                };
                new(inode, "tmpfs", tmpfs_options(rw, *size, *mode))
            }
            MountKind::Devpts(o) => new(
                crate::fs::pty::new_devpts(console, *o),
                "devpts",
                devpts_options(rw, o),
            ),
            MountKind::Mqueue => new(TmpFs::new_root(Some(0), 0o1777), "mqueue", rw.into()),
            MountKind::Cgroup => new(crate::fs::cgroupfs::new_cgroupfs(), "cgroup2", rw.into()),
            MountKind::Bind { source, host } => {
                let Some((_, inode, _)) = binds.next() else {
                    continue;
                };
                let inode: Arc<dyn Inode> = inode.clone();
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
        let devfs = dev::new_devfs(console);
        mounts.add("/dev", Mount::new(devfs, flags, "tmpfs", "tmpfs", options));
    }
    if mounts.get("/dev/pts").is_none() {
        let flags = MountFlags::with_options(MountFlags::default(), &["nosuid", "noexec"]);
        let o = DevptsOptions {
            gid: Some(5),
            mode: 0o620,
            ptmxmode: 0o666,
        };
        let devpts = crate::fs::pty::new_devpts(console, o);
        let options = devpts_options("rw", &o);
        mounts.add(
            "/dev/pts",
            Mount::new(devpts, flags, "devpts", "devpts", options),
        );
    }
    mask_and_protect(spec, &mut mounts, &root);
    Ok(Container {
        id: id.to_string(),
        mounts,
        root,
        init_pid: AtomicI32::new(if id.is_empty() { 1 } else { 0 }),
        own_pid_namespace,
        ipc_ns: if own_ipc_namespace { next_ipc_ns() } else { 0 },
        console: console.cloned(),
    })
}

/// A fresh IPC namespace id (0 is the sandbox's).
fn next_ipc_ns() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// As runc: read-only paths are bound over themselves read-only, then
/// masked directories get an empty read-only tmpfs and masked files the
/// container's /dev/null.
fn mask_and_protect(spec: &ContainerFsSpec, mounts: &mut Mounts, root: &Location) {
    let mut extra = Vec::new();
    let resolver = Resolver {
        mounts,
        root,
        searcher: None,
    };
    let bind_of = |loc: &Location, readonly: bool| {
        let (mp, on) = mounts.containing(&loc.path)?;
        let rel = loc.path[mp.len()..].trim_start_matches('/');
        let mut flags = on.flags;
        flags.readonly |= readonly;
        Some(on.bind_of(loc.inode.clone(), rel, flags))
    };
    for p in &spec.readonly_paths {
        let p = clean_path(p);
        if let Ok(loc) = resolver.resolve(root, &p, true) {
            if let Some(m) = bind_of(&loc, true) {
                extra.push((p, m));
            }
        }
    }
    let dev_null = resolver
        .resolve(root, "/dev/null", true)
        .ok()
        .and_then(|loc| bind_of(&loc, false));
    for p in &spec.masked_paths {
        let p = clean_path(p);
        let Ok(loc) = resolver.resolve(root, &p, true) else {
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
