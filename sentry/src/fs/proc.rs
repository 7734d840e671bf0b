//! /proc: the Sentry's own view of the sandbox. Pids are sandbox pids, and
//! nothing here reads the host's /proc: every file is rendered from the
//! Sentry's state.

use std::cell::Cell;
use std::sync::Arc;

use super::synthetic::{dir, file, link};
use crate::kernel::process::{lock, Process};
use crate::vfs::Inode;

/// The kernel version the workload sees.
pub const RELEASE: &str = "6.1.0-sandbox";
pub const VERSION: &str = "#1 SMP sandbox Sentry";

thread_local! {
    /// The sandbox pid of the task this Sentry thread runs (for /proc/self).
    pub static CURRENT_PID: Cell<i32> = const { Cell::new(0) };
}

fn current_pid() -> i32 {
    CURRENT_PID.with(|c| c.get())
}

fn text(s: String) -> Vec<u8> {
    s.into_bytes()
}

fn proc_state_char(p: &Process) -> char {
    if p.is_zombie() {
        'Z'
    } else if lock(&p.state).stopped {
        'T'
    } else if p.pid == current_pid() {
        'R'
    } else {
        'S'
    }
}

fn pid_dir(dev: u64, p: Arc<Process>) -> Arc<dyn Inode> {
    let pid = p.pid;
    let salt = pid as u64;
    dir(dev, "pid", salt, move || {
        let mut v: Vec<(String, Arc<dyn Inode>)> = Vec::new();
        let p1 = p.clone();
        v.push(("status".into(), file(dev, "status", salt, move |_| {
            let st = lock(&p1.state);
            let sig = lock(&p1.sig);
            let state = if st.zombie.is_some() {
                "Z (zombie)"
            } else if st.stopped {
                "T (stopped)"
            } else if p1.pid == current_pid() {
                "R (running)"
            } else {
                "S (sleeping)"
            };
            let umask = lock(&p1.fs).umask;
            text(format!(
                "Name:\t{}\nUmask:\t{:04o}\nState:\t{}\nTgid:\t{}\nNgid:\t0\nPid:\t{}\nPPid:\t{}\nTracerPid:\t0\nUid:\t{u}\t{eu}\t{su}\t{eu}\nGid:\t{g}\t{eg}\t{sg}\t{eg}\nFDSize:\t64\nGroups:\t{}\nThreads:\t{}\nSigQ:\t0/0\nSigPnd:\t0000000000000000\nShdPnd:\t{:016x}\nSigBlk:\t{:016x}\nSigIgn:\t{:016x}\nSigCgt:\t{:016x}\nNoNewPrivs:\t1\nSeccomp:\t0\n",
                st.comm, umask, state, p1.pid, p1.pid, st.ppid,
                st.creds.groups.iter().map(|g| g.to_string()).collect::<Vec<_>>().join(" "),
                p1.threads().len().max(1),
                sig.pending.mask(), p1.threads().first().map(|t| t.mask()).unwrap_or(0),
                (1..=64).filter(|&s| sig.actions[s].handler == 1).fold(0u64, |m, s| m | 1 << (s - 1)),
                (1..=64).filter(|&s| sig.actions[s].handler > 1).fold(0u64, |m, s| m | 1 << (s - 1)),
                u = st.creds.uid, eu = st.creds.euid, su = st.creds.suid, g = st.creds.gid, eg = st.creds.egid, sg = st.creds.sgid,
            ))
        })));
        let p2 = p.clone();
        v.push(("stat".into(), file(dev, "stat", salt, move |_| {
            let st = lock(&p2.state);
            let start = crate::kernel::get().map(|k| p2.start.duration_since(k.boot_time).as_millis() as u64 / 10).unwrap_or(0);
            text(format!(
                "{} ({}) {} {} {} {} 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 {} 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
                p2.pid, st.comm, proc_state_char(&p2), st.ppid, st.pgid, st.sid, start
            ))
        })));
        let p3 = p.clone();
        v.push((
            "cmdline".into(),
            file(dev, "cmdline", salt, move |_| {
                lock(&p3.state).cmdline.clone()
            }),
        ));
        let p4 = p.clone();
        v.push((
            "comm".into(),
            file(dev, "comm", salt, move |_| {
                text(format!("{}\n", lock(&p4.state).comm))
            }),
        ));
        let p5 = p.clone();
        v.push((
            "environ".into(),
            file(dev, "environ", salt, move |_| {
                lock(&p5.state).environ.clone()
            }),
        ));
        v.push((
            "maps".into(),
            file(dev, "maps", salt, move |ctx| {
                if ctx.pid == pid {
                    text(ctx.mm.maps_text())
                } else {
                    Vec::new()
                }
            }),
        ));
        let p6 = p.clone();
        v.push((
            "exe".into(),
            link(dev, "exe", salt, move || lock(&p6.state).exe.clone()),
        ));
        let p7 = p.clone();
        v.push((
            "cwd".into(),
            link(dev, "cwd", salt, move || lock(&p7.fs).cwd.path.clone()),
        ));
        v.push(("root".into(), link(dev, "root", salt, || "/".into())));
        let p8 = p.clone();
        v.push((
            "fd".into(),
            dir(dev, "fd", salt, move || {
                lock(&p8.files)
                    .list()
                    .into_iter()
                    .map(|(fd, f)| {
                        let path = f.path.clone();
                        (
                            fd.to_string(),
                            link(dev, "fdlink", salt ^ (fd as u64) << 20, move || {
                                path.clone()
                            }),
                        )
                    })
                    .collect()
            }),
        ));
        v
    })
}

/// Builds the root of /proc.
pub fn new_procfs() -> Arc<dyn Inode> {
    let dev = super::new_fs_id() as u64;
    dir(dev, "/proc", 0, move || {
        let mut v: Vec<(String, Arc<dyn Inode>)> = Vec::new();
        v.push((
            "self".into(),
            link(dev, "self", 0, || current_pid().to_string()),
        ));
        v.push((
            "thread-self".into(),
            link(dev, "thread-self", 0, || {
                format!("{0}/task/{0}", current_pid())
            }),
        ));
        v.push((
            "version".into(),
            file(dev, "version", 0, |_| {
                text(format!(
                    "Linux version {RELEASE} (sandbox@sentry) {VERSION}\n"
                ))
            }),
        ));
        v.push((
            "uptime".into(),
            file(dev, "uptime", 0, |_| {
                let up = crate::kernel::get()
                    .map(|k| k.boot_time.elapsed().as_secs_f64())
                    .unwrap_or(0.0);
                text(format!("{up:.2} {up:.2}\n"))
            }),
        ));
        v.push((
            "loadavg".into(),
            file(dev, "loadavg", 0, |_| text("0.00 0.00 0.00 1/1 1\n".into())),
        ));
        v.push((
            "filesystems".into(),
            file(dev, "filesystems", 0, |_| {
                text("nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tdevpts\n".into())
            }),
        ));
        v.push(("meminfo".into(), file(dev, "meminfo", 0, |_| {
            // SAFETY: sysinfo fills the struct.
            let mut si: libc::sysinfo = unsafe { std::mem::zeroed() };
            // SAFETY: as above.
            unsafe { libc::sysinfo(&mut si) };
            let kb = |x: u64| x * si.mem_unit as u64 / 1024;
            text(format!("MemTotal:       {:>8} kB\nMemFree:        {:>8} kB\nMemAvailable:   {:>8} kB\nBuffers:               0 kB\nCached:                0 kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\n", kb(si.totalram), kb(si.freeram), kb(si.freeram)))
        })));
        v.push((
            "mounts".into(),
            file(dev, "mounts", 0, |_| {
                let mut s = String::new();
                if let Some(k) = crate::kernel::get() {
                    for (path, m) in k.mounts.iter() {
                        s.push_str(&format!(
                            "{} {} {} {} 0 0\n",
                            m.fstype,
                            path,
                            m.fstype,
                            if m.readonly { "ro" } else { "rw" }
                        ));
                    }
                }
                text(s)
            }),
        ));
        let sys = dir(dev, "sys", 0, move || {
            let kernel = dir(dev, "sys/kernel", 0, move || {
                vec![
                    (
                        "hostname".into(),
                        file(dev, "hostname", 0, |_| {
                            text(format!(
                                "{}\n",
                                crate::kernel::get()
                                    .map(|k| lock(&k.hostname).clone())
                                    .unwrap_or_default()
                            ))
                        }),
                    ),
                    (
                        "osrelease".into(),
                        file(dev, "osrelease", 0, |_| text(format!("{RELEASE}\n"))),
                    ),
                    (
                        "ostype".into(),
                        file(dev, "ostype", 0, |_| text("Linux\n".into())),
                    ),
                    (
                        "pid_max".into(),
                        file(dev, "pid_max", 0, |_| {
                            text(format!("{}\n", crate::kernel::PID_MAX))
                        }),
                    ),
                ]
            });
            vec![("kernel".to_string(), kernel)]
        });
        v.push(("sys".into(), sys));
        if let Some(k) = crate::kernel::get() {
            for p in k.all_processes() {
                v.push((p.pid.to_string(), pid_dir(dev, p)));
            }
        }
        v
    })
}
