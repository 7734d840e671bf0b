//! /proc/PID and /proc/PID/task/TID: a process and its threads as the
//! Sentry knows them.

use std::sync::Arc;

use super::system::{mount_id_of, mountinfo_text, mounts_text};
use super::{current_pid, text, uptime_secs, HZ};
use crate::fs::pipe::PipeEnd;
use crate::fs::synthetic::{dir, file, link, magic_link, owned, Owner};
use crate::kernel::comm;
use crate::kernel::process::{lock, Process};
use crate::vfs::{Inode, OpenCtx};

type Entries = Vec<(String, Arc<dyn Inode>)>;

const PAGE: u64 = 4096;

fn state_of(p: &Process) -> (char, &'static str) {
    let st = lock(&p.state);
    if st.zombie.is_some() {
        ('Z', "zombie")
    } else if st.stopped {
        ('T', "stopped")
    } else if p.pid == current_pid() {
        ('R', "running")
    } else {
        ('S', "sleeping")
    }
}

/// A process's address space: the caller's own, or another live
/// process's (none for a zombie, whose maps read empty as on Linux).
fn mm_of(ctx: &OpenCtx, p: &Process) -> Option<Arc<crate::mm::SharedMm>> {
    if ctx.pid == p.pid {
        return None;
    }
    p.mm()
}

/// Memory figures of a process's address space, in bytes: (mapped,
/// resident, mlock'd). Every mapped page counts as resident, as mincore
/// says.
fn memory(ctx: &OpenCtx, p: &Process) -> (u64, u64, u64) {
    let figures = |mm: &crate::mm::SharedMm| {
        let m = mm.lock();
        let size = m.mapped_bytes();
        (size, size, m.locked_bytes())
    };
    if ctx.pid == p.pid {
        return figures(ctx.mm);
    }
    mm_of(ctx, p).map(|mm| figures(&mm)).unwrap_or((0, 0, 0))
}

/// /proc/PID/maps of a process (see `memory`).
fn vmas_text(ctx: &OpenCtx, p: &Process) -> String {
    if ctx.pid == p.pid {
        return ctx.mm.maps_text();
    }
    mm_of(ctx, p).map(|mm| mm.maps_text()).unwrap_or_default()
}

/// /proc/PID/auxv: the process's own, or another's it may trace (Linux
/// asks for ptrace read access; a zombie's is empty).
fn auxv(ctx: &OpenCtx, p: &Process) -> Vec<u8> {
    if ctx.pid == p.pid {
        return ctx.mm.auxv_bytes();
    }
    let allowed = crate::kernel::thread::current()
        .zip(crate::kernel::get())
        .is_some_and(|((me, _), k)| crate::kernel::ptrace::may_trace(k, &me, p));
    if !allowed {
        return Vec::new();
    }
    mm_of(ctx, p).map(|mm| mm.auxv_bytes()).unwrap_or_default()
}

fn sig_bits(p: &Process, ign: bool) -> u64 {
    let sig = lock(&p.sig);
    (1..=64usize)
        .filter(|&s| {
            let h = sig.actions[s].handler;
            if ign {
                h == 1
            } else {
                h > 1
            }
        })
        .fold(0u64, |m, s| m | 1 << (s - 1))
}

fn status(p: &Process, tid: i32, ctx: &OpenCtx) -> Vec<u8> {
    let (_, state) = state_of(p);
    let (state_c, _) = state_of(p);
    let (vm, rss, locked) = memory(ctx, p);
    let threads = p.threads();
    let thread = threads.iter().find(|t| t.tid == tid);
    // One lock at a time: no order between these locks is imposed here.
    let umask = lock(&p.fs).umask;
    let fdsize = lock(&p.files)
        .list()
        .last()
        .map(|(fd, _)| (*fd as u64 + 1).div_ceil(64) * 64)
        .unwrap_or(64);
    let (shared, thread_pending, blocked) = {
        let sig = lock(&p.sig);
        let (tp, bl) = thread
            .map(|t| {
                let ts = lock(&t.sig);
                (ts.pending.mask(), ts.mask)
            })
            .unwrap_or((0, 0));
        (sig.pending.mask(), tp, bl)
    };
    let st = lock(&p.state);
    let c = &st.creds;
    let groups: Vec<String> = c.groups.iter().map(|g| g.to_string()).collect();
    let n = super::system::cpus();
    let kb = |b: u64| b / 1024;
    text(format!(
        "Name:\t{}\nUmask:\t{umask:04o}\nState:\t{state_c} ({state})\nTgid:\t{}\nNgid:\t0\nPid:\t{tid}\nPPid:\t{}\nTracerPid:\t0\n\
         Uid:\t{}\t{}\t{}\t{}\nGid:\t{}\t{}\t{}\t{}\nFDSize:\t{fdsize}\nGroups:\t{}\n\
         VmPeak:\t{:>8} kB\nVmSize:\t{:>8} kB\nVmLck:\t{:>8} kB\nVmRSS:\t{:>8} kB\nVmData:\t{:>8} kB\nVmStk:\t{:>8} kB\n\
         Threads:\t{}\nSigQ:\t0/{}\nSigPnd:\t{thread_pending:016x}\nShdPnd:\t{shared:016x}\nSigBlk:\t{blocked:016x}\n\
         SigIgn:\t{:016x}\nSigCgt:\t{:016x}\nCapInh:\t{:016x}\nCapPrm:\t{:016x}\nCapEff:\t{:016x}\nCapBnd:\t{:016x}\nCapAmb:\t{:016x}\nNoNewPrivs:\t{}\nSeccomp:\t0\n\
         Cpus_allowed_list:\t0-{}\nvoluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0\n",
        st.comm,
        p.pid,
        st.ppid,
        c.uid,
        c.euid,
        c.suid,
        c.euid,
        c.gid,
        c.egid,
        c.sgid,
        c.egid,
        groups.join(" "),
        kb(vm),
        kb(vm),
        kb(locked),
        kb(rss),
        kb(vm),
        kb(132 * 1024),
        threads.len().max(1),
        st.rlimit(libc::RLIMIT_SIGPENDING).0.min(i64::MAX as u64),
        sig_bits(p, true),
        sig_bits(p, false),
        c.caps.inheritable,
        c.caps.permitted,
        c.caps.effective,
        c.caps.bounding,
        c.caps.ambient,
        u8::from(st.no_new_privs),
        n - 1,
    ))
}

fn stat(p: &Process, tid: i32, ctx: &OpenCtx) -> Vec<u8> {
    let (state, _) = state_of(p);
    let (vm, rss, _) = memory(ctx, p);
    let threads = p.threads().len().max(1);
    let st = lock(&p.state);
    let tick = 1_000_000_000 / HZ;
    let utime = st.cpu_now() / tick;
    let cutime = st.children_cpu_ns / tick;
    // Ticks since boot when the process started (boot: CLOCK_BOOTTIME's zero).
    let start = ((uptime_secs() - p.start.elapsed().as_secs_f64()).max(0.0) * HZ as f64) as u64;
    let (soft_rss, _) = st.rlimit(libc::RLIMIT_RSS);
    let tty_nr = crate::fs::pty::ctty::rdev_of(st.sid);
    text(format!(
        "{tid} ({}) {state} {} {} {} {tty_nr} -1 4194560 0 0 0 0 {utime} 0 {cutime} 0 {} {} {threads} 0 {start} {vm} {} {soft_rss} 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
        st.comm,
        st.ppid,
        st.pgid,
        st.sid,
        20 + st.nice,
        st.nice,
        rss / PAGE,
    ))
}

fn statm(ctx: &OpenCtx, p: &Process) -> Vec<u8> {
    let (vm, rss, _) = memory(ctx, p);
    text(format!(
        "{} {} 0 0 0 {} 0\n",
        vm / PAGE,
        rss / PAGE,
        vm / PAGE
    ))
}

fn smaps_rollup(ctx: &OpenCtx, p: &Process) -> Vec<u8> {
    let (_, rss, _) = memory(ctx, p);
    let maps = vmas_text(ctx, p);
    let (lo, hi) = maps
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.split_once('-'))
        .filter_map(|(a, b)| {
            Some((
                u64::from_str_radix(a, 16).ok()?,
                u64::from_str_radix(b, 16).ok()?,
            ))
        })
        .fold((u64::MAX, 0), |(lo, hi), (a, b)| (lo.min(a), hi.max(b)));
    let mut s = if lo <= hi {
        format!("{lo:08x}-{hi:08x} ---p 00000000 00:00 0                          [rollup]\n")
    } else {
        "00000000-00000000 ---p 00000000 00:00 0                          [rollup]\n".to_string()
    };
    let kb = |b: u64| b / 1024;
    for (name, v) in [
        ("Rss", rss),
        ("Pss", rss),
        ("Pss_Anon", rss),
        ("Pss_File", 0),
        ("Pss_Shmem", 0),
        ("Shared_Clean", 0),
        ("Shared_Dirty", 0),
        ("Private_Clean", 0),
        ("Private_Dirty", rss),
        ("Referenced", rss),
        ("Anonymous", rss),
        ("LazyFree", 0),
        ("AnonHugePages", 0),
        ("ShmemPmdMapped", 0),
        ("FilePmdMapped", 0),
        ("Shared_Hugetlb", 0),
        ("Private_Hugetlb", 0),
        ("Swap", 0),
        ("SwapPss", 0),
        ("Locked", 0),
    ] {
        s.push_str(&format!("{:<16}{:>8} kB\n", format!("{name}:"), kb(v)));
    }
    text(s)
}

/// /proc/PID/limits, from the process's own resource limits.
fn limits(p: &Process) -> Vec<u8> {
    const ROWS: [(&str, u32, &str); 16] = [
        ("Max cpu time", libc::RLIMIT_CPU, "seconds"),
        ("Max file size", libc::RLIMIT_FSIZE, "bytes"),
        ("Max data size", libc::RLIMIT_DATA, "bytes"),
        ("Max stack size", libc::RLIMIT_STACK, "bytes"),
        ("Max core file size", libc::RLIMIT_CORE, "bytes"),
        ("Max resident set", libc::RLIMIT_RSS, "bytes"),
        ("Max processes", libc::RLIMIT_NPROC, "processes"),
        ("Max open files", libc::RLIMIT_NOFILE, "files"),
        ("Max locked memory", libc::RLIMIT_MEMLOCK, "bytes"),
        ("Max address space", libc::RLIMIT_AS, "bytes"),
        ("Max file locks", libc::RLIMIT_LOCKS, "locks"),
        ("Max pending signals", libc::RLIMIT_SIGPENDING, "signals"),
        ("Max msgqueue size", libc::RLIMIT_MSGQUEUE, "bytes"),
        ("Max nice priority", libc::RLIMIT_NICE, ""),
        ("Max realtime priority", libc::RLIMIT_RTPRIO, ""),
        ("Max realtime timeout", libc::RLIMIT_RTTIME, "us"),
    ];
    let st = lock(&p.state);
    let show = |v: u64| {
        if v == u64::MAX {
            "unlimited".to_string()
        } else {
            v.to_string()
        }
    };
    let mut s = format!(
        "{:<26}{:<21}{:<21}{:<10}\n",
        "Limit", "Soft Limit", "Hard Limit", "Units"
    );
    for (name, res, unit) in ROWS {
        let (soft, hard) = st.rlimit(res);
        s.push_str(&format!(
            "{name:<26}{:<21}{:<21}{unit:<10}\n",
            show(soft),
            show(hard)
        ));
    }
    text(s)
}

/// /proc/PID/fd: one magic link per descriptor.
fn fd_dir(dev: u64, p: Arc<Process>, salt: u64) -> Arc<dyn Inode> {
    dir(dev, "fd", salt, move || {
        lock(&p.files)
            .list()
            .into_iter()
            .map(|(fd, f)| {
                let name = fd.to_string();
                // A rootfs file reopens through its description once its
                // name is gone. An anonymous pipe has no inode in a file
                // system, but opening its link opens the same pipe.
                let inode = crate::fs::host::HostInode::reopenable(&f)
                    .or_else(|| f.inode.clone())
                    .or_else(|| {
                        f.ops
                            .as_any()
                            .and_then(|a| a.downcast_ref::<PipeEnd>())
                            .map(PipeEnd::reopenable)
                    })
                    .or_else(|| f.ops.reopenable());
                let node = magic_link(
                    dev,
                    "fdlink",
                    salt ^ (fd as u64) << 20,
                    f.path.clone(),
                    inode,
                );
                (name, node)
            })
            .collect()
    })
}

/// /proc/PID/fdinfo: position, flags and mount of each descriptor.
fn fdinfo_dir(dev: u64, p: Arc<Process>, salt: u64) -> Arc<dyn Inode> {
    dir(dev, "fdinfo", salt, move || {
        let files = lock(&p.files);
        files
            .list()
            .into_iter()
            .map(|(fd, f)| {
                let cloexec = files.cloexec(fd).unwrap_or(false);
                let owner = p.clone();
                let node = file(dev, "fdinfo", salt ^ (fd as u64) << 20, move |_| {
                    let mut flags = f.flags();
                    if cloexec {
                        flags |= libc::O_CLOEXEC;
                    }
                    // Files opened by name are opened large on x86-64.
                    if f.inode.is_some() {
                        flags |= libc::O_LARGEFILE;
                    }
                    let ino = f.ops.stat().map(|s| s.ino).unwrap_or(0);
                    let mnt = if f.inode.is_some() {
                        mount_id_of(&owner, &f.path)
                    } else {
                        // Pipes, sockets and anonymous files: a mount of
                        // their own that the mount table does not show.
                        15
                    };
                    let mut s = format!(
                        "pos:\t{}\nflags:\t0{flags:o}\nmnt_id:\t{mnt}\nino:\t{ino}\n",
                        *lock(&f.pos)
                    );
                    if let Some(extra) = crate::fs::inotify::fdinfo(&*f.ops) {
                        s.push_str(&extra);
                    }
                    text(s)
                });
                (fd.to_string(), node)
            })
            .collect()
    })
}

/// /proc/PID/oom_score_adj: -1000..=1000 (EINVAL otherwise); going below
/// the floor a CAP_SYS_RESOURCE holder last set needs that capability
/// (EACCES), as Linux's __set_oom_adj.
fn oom_score_adj(dev: u64, p: &Arc<Process>, salt: u64) -> Arc<dyn Inode> {
    let (r, w) = (Arc::downgrade(p), Arc::downgrade(p));
    crate::fs::synthetic::writable_file(
        dev,
        "oom_score_adj",
        salt,
        move |_| {
            let v = r.upgrade().map_or(0, |p| lock(&p.state).oom_score_adj);
            text(format!("{v}\n"))
        },
        move |buf| {
            let s = std::str::from_utf8(buf).map_err(|_| crate::errno::Errno(libc::EINVAL))?;
            let v: i32 = s
                .trim()
                .parse()
                .map_err(|_| crate::errno::Errno(libc::EINVAL))?;
            if !(-1000..=1000).contains(&v) {
                return Err(crate::errno::Errno(libc::EINVAL));
            }
            // The writer's capability, before the target's lock (the
            // writer is often the target).
            let admin = crate::kernel::thread::current().is_some_and(|(cur, _)| {
                lock(&cur.state)
                    .creds
                    .has(crate::kernel::caps::SYS_RESOURCE)
            });
            let p = w.upgrade().ok_or(crate::errno::Errno(libc::ESRCH))?;
            let mut st = lock(&p.state);
            if v < st.oom_score_adj_min && !admin {
                return Err(crate::errno::Errno(libc::EACCES));
            }
            st.oom_score_adj = v;
            if admin {
                st.oom_score_adj_min = v;
            }
            Ok(buf.len())
        },
    )
}

/// /proc/PID/comm and /proc/PID/task/TID/comm: the thread's name, which
/// the process's own threads may set by writing it (others: EINVAL, as
/// Linux's comm_write).
fn comm_file(dev: u64, p: &Arc<Process>, tid: i32, salt: u64) -> Arc<dyn Inode> {
    let (r, w) = (Arc::downgrade(p), Arc::downgrade(p));
    crate::fs::synthetic::writable_file(
        dev,
        "comm",
        salt,
        move |_| {
            let name = r.upgrade().map(|p| comm::name(&p, tid)).unwrap_or_default();
            text(format!("{name}\n"))
        },
        move |buf| {
            let p = w.upgrade().ok_or(crate::errno::Errno(libc::ESRCH))?;
            if current_pid() != p.pid {
                return Err(crate::errno::Errno(libc::EINVAL));
            }
            comm::set(&p, tid, buf);
            Ok(buf.len())
        },
    )
}

/// The entries a process directory and its threads' directories share;
/// `tid` is the thread a task directory describes (the pid for /proc/PID).
fn entries(dev: u64, p: &Arc<Process>, tid: i32, salt: u64) -> Entries {
    let (pm1, pm2, pm3) = (p.clone(), p.clone(), p.clone());
    let (p8, p9) = (p.clone(), p.clone());
    let (p1, p2, p3, p4, p5, p6, p7) = (
        p.clone(),
        p.clone(),
        p.clone(),
        p.clone(),
        p.clone(),
        p.clone(),
        p.clone(),
    );
    vec![
        ("mem".into(), super::mem::mem_file(dev, salt, p)),
        ("auxv".into(), {
            let p = p.clone();
            file(dev, "auxv", salt, move |ctx| auxv(ctx, &p))
        }),
        (
            "status".into(),
            file(dev, "status", salt, move |ctx| status(&p1, tid, ctx)),
        ),
        (
            "stat".into(),
            file(dev, "stat", salt, move |ctx| stat(&p2, tid, ctx)),
        ),
        (
            "statm".into(),
            file(dev, "statm", salt, move |ctx| statm(ctx, &pm1)),
        ),
        (
            "cmdline".into(),
            file(dev, "cmdline", salt, move |_| {
                lock(&p3.state).cmdline.clone()
            }),
        ),
        ("comm".into(), comm_file(dev, &p4, tid, salt)),
        (
            "environ".into(),
            file(dev, "environ", salt, move |_| {
                lock(&p5.state).environ.clone()
            }),
        ),
        (
            "maps".into(),
            file(dev, "maps", salt, move |ctx| text(vmas_text(ctx, &pm2))),
        ),
        (
            "smaps_rollup".into(),
            file(dev, "smaps_rollup", salt, move |ctx| {
                smaps_rollup(ctx, &pm3)
            }),
        ),
        (
            "limits".into(),
            file(dev, "limits", salt, move |_| limits(&p6)),
        ),
        (
            "cgroup".into(),
            // The sandbox is its own cgroup namespace: its root.
            file(dev, "cgroup", salt, |_| text("0::/\n".into())),
        ),
        (
            "mounts".into(),
            file(dev, "mounts", salt, move |_| mounts_text(&p8)),
        ),
        (
            "mountinfo".into(),
            file(dev, "mountinfo", salt, move |_| mountinfo_text(&p9)),
        ),
        ("oom_score_adj".into(), oom_score_adj(dev, p, salt)),
        ("mem".into(), super::mem::mem_file(dev, salt ^ 0x6d656d, p)),
        (
            "exe".into(),
            link(dev, "exe", salt, move || lock(&p7.state).exe.clone()),
        ),
        {
            let p = p.clone();
            (
                "cwd".into(),
                link(dev, "cwd", salt, move || lock(&p.fs).cwd.path.clone()),
            )
        },
        ("root".into(), link(dev, "root", salt, || "/".into())),
        ("fd".into(), fd_dir(dev, p.clone(), salt)),
        ("ns".into(), ns_dir(dev, salt)),
        ("children".into(), children_file(dev, p, tid, salt)),
        {
            let p = p.clone();
            (
                "io".into(),
                file(dev, "io", salt, move |_| text(p.io.text())),
            )
        },
        ("fdinfo".into(), fdinfo_dir(dev, p.clone(), salt)),
        ("net".into(), super::net::net_dir(dev, salt)),
    ]
}

/// /proc/PID/task/TID/children: the thread's children's pids, each
/// followed by a space. The Sentry records a child's parent process, not
/// the thread that forked it: the leader's file lists them all.
fn children_file(dev: u64, p: &Arc<Process>, tid: i32, salt: u64) -> Arc<dyn Inode> {
    let pid = p.pid;
    file(dev, "children", salt, move |_| {
        if tid != pid {
            return Vec::new();
        }
        let mut kids: Vec<i32> = crate::kernel::get()
            .map(|k| k.all_processes())
            .unwrap_or_default()
            .iter()
            .filter(|c| lock(&c.state).ppid == pid)
            .map(|c| c.pid)
            .collect();
        kids.sort_unstable();
        text(kids.iter().map(|k| format!("{k} ")).collect())
    })
}

/// /proc/PID/ns: one namespace of each kind for the whole sandbox, named
/// as Linux names them (`pid:[4026531836]`). Reading the links works;
/// setns(2) to them does not.
fn ns_dir(dev: u64, salt: u64) -> Arc<dyn Inode> {
    const NAMESPACES: [(&str, &str, u64); 10] = [
        ("cgroup", "cgroup", 4026531835),
        ("ipc", "ipc", 4026531839),
        ("mnt", "mnt", 4026531841),
        ("net", "net", 4026531840),
        ("pid", "pid", 4026531836),
        ("pid_for_children", "pid", 4026531836),
        ("time", "time", 4026531834),
        ("time_for_children", "time", 4026531834),
        ("user", "user", 4026531837),
        ("uts", "uts", 4026531838),
    ];
    dir(dev, "ns", salt, move || {
        NAMESPACES
            .iter()
            .map(|&(name, kind, ino)| {
                let node = link(dev, name, salt, move || format!("{kind}:[{ino}]"));
                (name.to_string(), node)
            })
            .collect()
    })
}

/// Who owns a process's /proc files: its effective ids while it is
/// dumpable, root once it is not (Linux's task_dump_owner).
fn owner_of(p: &Arc<Process>) -> Owner {
    let w = Arc::downgrade(p);
    Arc::new(move || {
        w.upgrade().map_or((0, 0), |p| {
            let st = lock(&p.state);
            if st.dumpable {
                (st.creds.euid, st.creds.egid)
            } else {
                (0, 0)
            }
        })
    })
}

/// `entries`, each owned by the process.
fn owned_entries(v: Entries, owner: &Owner) -> Entries {
    v.into_iter()
        .map(|(name, inode)| (name, owned(inode, owner.clone())))
        .collect()
}

/// /proc/PID.
pub(super) fn pid_dir(dev: u64, p: Arc<Process>) -> Arc<dyn Inode> {
    let salt = p.pid as u64;
    let owner = owner_of(&p);
    let inner = owner.clone();
    let node = dir(dev, "pid", salt, move || {
        let mut v = entries(dev, &p, p.pid, salt);
        let p2 = p.clone();
        v.push((
            "task".into(),
            dir(dev, "task", salt, move || {
                p2.threads()
                    .iter()
                    .map(|t| (t.tid.to_string(), task_dir(dev, p2.clone(), t.tid)))
                    .collect()
            }),
        ));
        owned_entries(v, &inner)
    });
    owned(node, owner)
}

/// /proc/PID/task/TID.
fn task_dir(dev: u64, p: Arc<Process>, tid: i32) -> Arc<dyn Inode> {
    let salt = (p.pid as u64) << 32 | tid as u64;
    let owner = owner_of(&p);
    let inner = owner.clone();
    let node = dir(dev, "tid", salt, move || {
        owned_entries(entries(dev, &p, tid, salt), &inner)
    });
    owned(node, owner)
}
