//! Process system calls: fork/clone, execve, exit, wait, kill, process
//! groups and sessions, credentials, prctl, arch_prctl, rlimits.

use std::sync::mpsc;

use super::Args;
use crate::errno::{err, Errno, SysResult};
use crate::kernel::caps;
use crate::kernel::creds::Creds;
use crate::kernel::process::{lock, ProcState, Process};
use crate::kernel::signal::{SigInfo, SigState};
use crate::kernel::task::{Exit, Task};
use crate::kernel::thread::Thread;
use crate::kernel::{comm, events, exec, ptrace};
use crate::mm::{MemoryManager, SharedMm};
use crate::vfs::FileType;
use std::sync::Arc;

const MAX_ARGS: usize = 1 << 17;
const MAX_ARG_BYTES: usize = 2 << 20;

/// The registers a new task starts with: the caller's, returning 0.
fn child_regs(t: &Task, flags: i32, newsp: u64, tls: u64) -> SysResult<crate::platform::Regs> {
    let mut regs = t.regs;
    regs.rax = 0;
    if newsp != 0 {
        regs.rsp = newsp;
    }
    if flags & libc::CLONE_SETTLS != 0 {
        if tls >= crate::platform::USER_MAX {
            return err(libc::EPERM);
        }
        regs.fs_base = tls;
    }
    Ok(regs)
}

pub fn clone(
    t: &mut Task,
    flags: u64,
    newsp: u64,
    ptid: u64,
    ctid: u64,
    tls: u64,
) -> SysResult<u64> {
    let f = flags as i32;
    // No pidfds in the Sentry: glibc (up to 2.38) never asks for one.
    if f & libc::CLONE_PIDFD != 0 {
        return err(libc::EINVAL);
    }
    crate::kernel::rlimits::nproc_check(&t.kernel, &t.proc)?;
    if f & libc::CLONE_THREAD != 0 {
        return clone_thread(t, f, newsp, ptid, ctid, tls);
    }
    let k = t.kernel.clone();
    // CLONE_PARENT: the child is the caller's sibling, its parent's to
    // wait for; init may not make one (EINVAL, as Linux's unkillable init).
    let parent = if f & libc::CLONE_PARENT != 0 {
        if t.pid() == 1 {
            return err(libc::EINVAL);
        }
        let ppid = lock(&t.proc.state).ppid;
        Some(k.process(ppid).ok_or(Errno(libc::EINVAL))?)
    } else {
        None
    };
    let pid = k.alloc_pid().ok_or(Errno(libc::EAGAIN))?;
    let child_state = {
        let st = lock(&t.proc.state);
        ProcState {
            ppid: parent.as_ref().map_or(t.pid(), |p| p.pid),
            pgid: st.pgid,
            sid: st.sid,
            children: Default::default(),
            zombie: None,
            comm: st.comm.clone(),
            cmdline: st.cmdline.clone(),
            environ: st.environ.clone(),
            exe: st.exe.clone(),
            creds: st.creds.clone(),
            vfork_done: false,
            has_execed: false,
            execs: 0,
            dumpable: st.dumpable,
            stopped: false,
            job_report: None,
            // The death signal is not inherited; the nice value is.
            pdeathsig: 0,
            no_new_privs: st.no_new_privs,
            oom_score_adj: st.oom_score_adj,
            oom_score_adj_min: st.oom_score_adj_min,
            nice: st.nice,
            personality: st.personality,
            cpu_ns: 0,
            sentry_cpu_ns: 0,
            app_cpu_ns: 0,
            children_cpu_ns: 0,
            exit_notify: None,
            rlimits: st.rlimits.clone(),
            host_pid: 0,
        }
    };
    let mut actions = lock(&t.proc.sig).actions;
    if flags & super::clone3::CLONE_CLEAR_SIGHAND != 0 {
        // clone3's CLONE_CLEAR_SIGHAND: handlers reset, ignored stays ignored.
        for a in actions
            .iter_mut()
            .filter(|a| a.handler != crate::kernel::signal::SIG_IGN)
        {
            *a = Default::default();
        }
    }
    let sig = SigState {
        actions,
        pending: Default::default(),
    };
    let files = lock(&t.proc.files).clone();
    let fs = lock(&t.proc.fs).clone();
    let child = Process::new(pid, t.proc.container.clone(), child_state, sig, files, fs)
        .map_err(|_| Errno(libc::EAGAIN))?;
    let thread = Thread::new(pid, t.mask()).map_err(|_| Errno(libc::EAGAIN))?;
    let regs = child_regs(t, f, newsp, tls)?;
    // A tracer that asked to follow forks traces the child from its start.
    let event = ptrace::clone_event(&t.thread, f);
    if event.is_some() {
        ptrace::inherit(&k, &t.thread, &thread);
    }
    let child_thread = thread.clone();
    // CLONE_VM (vfork, posix_spawn): the child runs on a new platform
    // thread in the parent's address space until it execs or exits.
    // Otherwise private memory is copied now, while the caller is stopped.
    let memory = if f & libc::CLONE_VM != 0 {
        let seed = t.ctx.spawn_thread().map_err(|e| {
            tracing::warn!(pid = t.pid(), "cannot start a stub thread for vfork: {e}");
            Errno(libc::EAGAIN)
        })?;
        ChildMemory::Borrowed(t.mm.clone(), seed)
    } else {
        // The other threads stay out of application code during the copy.
        let _frozen = crate::kernel::freeze::Frozen::new(&t.proc, &t.thread);
        ChildMemory::Copied(t.mm.snapshot()?)
    };
    lock(&k.procs).insert(pid, child.clone());
    let started = start_task(
        &k,
        &child,
        thread,
        move |kc| match memory {
            ChildMemory::Borrowed(mm, seed) => {
                let ctx = seed.attach().map_err(|e| {
                    tracing::warn!("cannot attach to the vfork stub thread of {pid}: {e}");
                    Errno(libc::EAGAIN)
                })?;
                Ok((mm, ctx, regs))
            }
            ChildMemory::Copied(snap) => {
                let mut ctx = kc.platform.new_context().map_err(|e| {
                    tracing::warn!("cannot create a stub for pid {pid}: {e}");
                    Errno(libc::EAGAIN)
                })?;
                let mm = MemoryManager::from_snapshot(kc.memfile.clone(), &mut *ctx, snap)?;
                Ok((Arc::new(SharedMm::new(mm)), ctx, regs))
            }
        },
        f,
        ctid,
        // The alternate signal stack is inherited, unless the child shares
        // the memory without vfork (Linux's copy_process: sas_ss_reset).
        if f & (libc::CLONE_VM | libc::CLONE_VFORK) == libc::CLONE_VM {
            NO_ALTSTACK
        } else {
            t.altstack
        },
    );
    if let Err(e) = started {
        lock(&k.procs).remove(&pid);
        ptrace::abandon(&k, &child_thread);
        return Err(e);
    }
    match &parent {
        Some(p) => lock(&p.state).children.insert(pid),
        None => lock(&t.proc.state).children.insert(pid),
    };
    if f & libc::CLONE_PARENT_SETTID != 0 {
        let _ = t.mm.write(ptid, &pid.to_le_bytes());
    }
    if let Some(ev) = event {
        t.ptrace_event(ev, pid as u64);
    }
    if f & libc::CLONE_VFORK != 0 {
        // The parent sleeps until the child execs or exits (only SIGKILL ends the wait).
        loop {
            let seen = events::generation();
            if lock(&child.state).vfork_done
                || lock(&t.thread.sig).pending.contains(libc::SIGKILL)
                || lock(&t.proc.sig).pending.contains(libc::SIGKILL)
            {
                break;
            }
            events::wait(seen, None);
        }
        t.ptrace_event(ptrace::EVENT_VFORK_DONE, pid as u64);
    }
    Ok(pid as u64)
}

/// A new thread in the caller's process: a new platform thread in the same
/// address space, run by a new Sentry thread.
fn clone_thread(
    t: &mut Task,
    f: i32,
    newsp: u64,
    ptid: u64,
    ctid: u64,
    tls: u64,
) -> SysResult<u64> {
    if f & libc::CLONE_VM == 0 || f & libc::CLONE_SIGHAND == 0 {
        return err(libc::EINVAL);
    }
    let k = t.kernel.clone();
    let tid = k.alloc_pid().ok_or(Errno(libc::EAGAIN))?;
    let thread = Thread::new(tid, t.mask()).map_err(|_| Errno(libc::EAGAIN))?;
    // A new thread is named as the thread that created it.
    *lock(&thread.comm) = comm::name(&t.proc, t.tid);
    let regs = child_regs(t, f, newsp, tls)?;
    let event = ptrace::clone_event(&t.thread, f);
    if event.is_some() {
        ptrace::inherit(&k, &t.thread, &thread);
    }
    let child_thread = thread.clone();
    let seed = t.ctx.spawn_thread().map_err(|e| {
        tracing::warn!(pid = t.pid(), "cannot start a stub thread: {e}");
        Errno(libc::EAGAIN)
    })?;
    let mm = t.mm.clone();
    if f & libc::CLONE_PARENT_SETTID != 0 {
        t.mm.write(ptid, &tid.to_le_bytes())?;
    }
    let proc = t.proc.clone();
    let started = start_task(
        &k,
        &proc,
        thread,
        move |_| {
            let ctx = seed.attach().map_err(|e| {
                tracing::warn!("cannot attach to stub thread {tid}: {e}");
                Errno(libc::EAGAIN)
            })?;
            Ok((mm, ctx, regs))
        },
        f,
        ctid,
        NO_ALTSTACK,
    );
    if let Err(e) = started {
        ptrace::abandon(&k, &child_thread);
        return Err(e);
    }
    if let Some(ev) = event {
        t.ptrace_event(ev, tid as u64);
    }
    Ok(tid as u64)
}

/// How a new process gets its memory.
enum ChildMemory {
    /// The parent's address space, lent (CLONE_VM), and the platform
    /// thread in it that will run the child.
    Borrowed(Arc<SharedMm>, Box<dyn crate::platform::ThreadSeed>),
    /// A copy of the parent's (fork).
    Copied(crate::mm::address_space::MmSnapshot),
}

type TaskParts = (
    Arc<SharedMm>,
    Box<dyn crate::platform::Context>,
    crate::platform::Regs,
);

/// Starts a task on a new Sentry thread; `build` runs there (a platform
/// context must be created or attached by the thread that will use it).
/// Returns once the task is ready to run, or why it could not start.
/// sigaltstack's state of a task without an alternate stack.
const NO_ALTSTACK: (u64, i32, u64) = (0, libc::SS_DISABLE, 0);

fn start_task(
    k: &Arc<crate::kernel::Kernel>,
    proc: &Arc<Process>,
    thread: Arc<Thread>,
    build: impl FnOnce(&Arc<crate::kernel::Kernel>) -> SysResult<TaskParts> + Send + 'static,
    f: i32,
    ctid: u64,
    altstack: (u64, i32, u64),
) -> SysResult<()> {
    {
        let mut live = lock(&k.live_tasks);
        let max = crate::kernel::PIDS_MAX.load(std::sync::atomic::Ordering::Relaxed);
        if max != 0 && *live >= max {
            return err(libc::EAGAIN);
        }
        *live += 1;
    }
    let (tx, rx) = mpsc::channel::<SysResult<()>>();
    let kc = k.clone();
    let pc = proc.clone();
    let tid = thread.tid;
    let pid = proc.pid;
    let ipc_ns = proc.container.ipc_ns;
    let spawned = std::thread::Builder::new()
        .name(format!("task-{tid}"))
        .stack_size(1 << 20)
        .spawn(move || {
            crate::fs::proc::CURRENT_PID.with(|c| c.set(pid));
            crate::kernel::ipc::set_current_ns(ipc_ns);
            let (mm, ctx, regs) = match build(&kc) {
                Ok(parts) => parts,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let mut task = Task::new(kc, pc, thread, regs, mm, ctx);
            task.borrowed_mm = f & libc::CLONE_VM != 0 && f & libc::CLONE_THREAD == 0;
            task.altstack = altstack;
            if f & libc::CLONE_CHILD_SETTID != 0 {
                let _ = task.mm.write(ctid, &tid.to_le_bytes());
            }
            if f & libc::CLONE_CHILD_CLEARTID != 0 {
                task.clear_child_tid = ctid;
            }
            let _ = tx.send(Ok(()));
            task.run();
        });
    let started = match spawned {
        Ok(_) => rx.recv().unwrap_or(Err(Errno(libc::EAGAIN))),
        Err(_) => Err(Errno(libc::EAGAIN)),
    };
    if started.is_err() {
        *lock(&k.live_tasks) -= 1;
    }
    started
}

fn read_strings(t: &Task, addr: u64) -> SysResult<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    if addr == 0 {
        return Ok(out);
    }
    let mut total = 0;
    for i in 0.. {
        if i >= MAX_ARGS {
            return err(libc::E2BIG);
        }
        let p = t.mm.read_u64(addr + i as u64 * 8)?;
        if p == 0 {
            break;
        }
        let s = t.mm.read_cstr(p, MAX_ARG_BYTES)?;
        total += s.len() + 1;
        if total > MAX_ARG_BYTES {
            return err(libc::E2BIG);
        }
        out.push(s);
    }
    Ok(out)
}

pub fn execve(t: &mut Task, a: Args) -> SysResult<u64> {
    let path = t.path_arg(a[0])?;
    let argv = read_strings(t, a[1])?;
    let envp = read_strings(t, a[2])?;
    exec::execve(t, &path, argv, envp)
}

/// execveat(2): execve of a program named relative to a directory
/// descriptor, or (AT_EMPTY_PATH with "") of the descriptor's own file,
/// which may be an O_PATH descriptor or a memfd (fexecve(3)).
pub fn execveat(t: &mut Task, a: Args) -> SysResult<u64> {
    let (dirfd, flags) = (a[0], a[4]);
    let known = (libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW) as u64;
    if flags & !known != 0 {
        return err(libc::EINVAL);
    }
    let path = t.path_arg(a[1])?;
    let follow = flags & libc::AT_SYMLINK_NOFOLLOW as u64 == 0;
    let fd = dirfd as i32;
    let by_fd = !path.starts_with('/') && fd != libc::AT_FDCWD;
    let loc = if path.is_empty() {
        if flags & libc::AT_EMPTY_PATH as u64 == 0 {
            return err(libc::ENOENT);
        }
        t.dir_start(dirfd)?
    } else {
        if by_fd && !t.dir_start(dirfd)?.is_dir() {
            return err(libc::ENOTDIR);
        }
        t.lookup_at(dirfd, &path, follow)?
    };
    if !follow && loc.inode.stat()?.file_type() == FileType::Symlink {
        return err(libc::ELOOP);
    }
    let name = match (by_fd, path.is_empty()) {
        (false, _) => path,
        (true, true) => format!("/dev/fd/{fd}"),
        (true, false) => format!("/dev/fd/{fd}/{path}"),
    };
    let name_gone_after_exec = by_fd && lock(&t.proc.files).cloexec(fd)?;
    let argv = read_strings(t, a[2])?;
    let envp = read_strings(t, a[3])?;
    let program = exec::Program {
        loc,
        name,
        name_gone_after_exec,
    };
    exec::execute(t, program, argv, envp)
}

/// exit(2): ends the calling thread (the process ends with its last thread).
pub fn exit(t: &mut Task, a: Args) -> SysResult<u64> {
    t.exit = Some(Exit::Code(a[0] as i32 & 0xff));
    Err(Errno::EJUSTRETURN)
}

/// exit_group(2): ends every thread of the process.
pub fn exit_group(t: &mut Task, a: Args) -> SysResult<u64> {
    let how = Exit::Code(a[0] as i32 & 0xff);
    t.exit = Some(how);
    t.end_group(how);
    Err(Errno::EJUSTRETURN)
}

fn check_signal(sig: u64) -> SysResult<i32> {
    if sig > 64 {
        err(libc::EINVAL)
    } else {
        Ok(sig as i32)
    }
}

pub fn kill(t: &mut Task, a: Args) -> SysResult<u64> {
    let pid = a[0] as i32;
    let sig = check_signal(a[1])?;
    let uid = lock(&t.proc.state).creds.uid;
    let info = SigInfo::user(sig, t.pid(), uid);
    let k = t.kernel.clone();
    // Only the processes of the caller's pid namespace (a pod's container
    // with one of its own sees its own).
    let me = t.proc.container.clone();
    let visible = |p: &Arc<Process>| me.sees(&p.container);
    let group = |pgid: i32| -> Vec<Arc<Process>> {
        k.all_processes()
            .into_iter()
            .filter(|p| visible(p) && lock(&p.state).pgid == pgid && !p.is_zombie())
            .collect()
    };
    let targets = match pid {
        // A thread's id names its process too (the signal is the
        // process's, as Linux's kill_pid_info sends it).
        p if p > 0 => vec![k
            .process(p)
            .or_else(|| k.thread(p).map(|(proc, _)| proc))
            .filter(visible)
            .ok_or(Errno(libc::ESRCH))?],
        0 => {
            // Not inside the call: group() locks every process, this one too.
            let own = lock(&t.proc.state).pgid;
            group(own)
        }
        -1 => k
            .all_processes()
            .into_iter()
            .filter(|p| visible(p) && !p.container.is_namespace_init(p.pid) && p.pid != t.pid())
            .collect(),
        p => group(p.checked_neg().ok_or(Errno(libc::ESRCH))?),
    };
    if targets.is_empty() {
        return err(libc::ESRCH);
    }
    // As Linux: success when any target took the signal, EPERM when the
    // caller may signal none of them.
    let mut sent = false;
    for p in &targets {
        if may_signal(t, p, sig) {
            k.send_signal(p, info, false);
            sent = true;
        }
    }
    if sent {
        Ok(0)
    } else {
        err(libc::EPERM)
    }
}

/// Linux's check_kill_permission: the caller's own process, a process
/// whose real or saved uid is the caller's real or effective uid, SIGCONT
/// within the session, or anything with CAP_KILL.
pub(super) fn may_signal(t: &Task, target: &Process, sig: i32) -> bool {
    if std::ptr::eq(target, &*t.proc) {
        return true;
    }
    let (me, sid) = {
        let st = lock(&t.proc.state);
        (st.creds.clone(), st.sid)
    };
    let (tc, tsid) = {
        let st = lock(&target.state);
        (st.creds.clone(), st.sid)
    };
    me.may_kill(&tc) || (sig == libc::SIGCONT && sid == tsid)
}

/// tkill/tgkill: a signal to one thread (`tgid` 0 for tkill).
pub fn tkill(t: &mut Task, tgid: u64, tid: u64, sig: u64) -> SysResult<u64> {
    let sig = check_signal(sig)?;
    let (tgid, tid) = (tgid as i32, tid as i32);
    if tid <= 0 || tgid < 0 {
        return err(libc::EINVAL);
    }
    let (proc, thread) = t.kernel.thread(tid).ok_or(Errno(libc::ESRCH))?;
    if tgid != 0 && proc.pid != tgid {
        return err(libc::ESRCH);
    }
    if !may_signal(t, &proc, sig) {
        return err(libc::EPERM);
    }
    let mut info = SigInfo::user(sig, t.pid(), 0);
    info.code = crate::kernel::signal::SI_TKILL;
    t.kernel.try_send_thread_signal(&proc, &thread, info)?;
    Ok(0)
}

pub fn setpgid(t: &mut Task, a: Args) -> SysResult<u64> {
    let pid = if a[0] == 0 { t.pid() } else { a[0] as i32 };
    let pgid = if a[1] == 0 { pid } else { a[1] as i32 };
    if pgid < 0 {
        return err(libc::EINVAL);
    }
    let target = t.kernel.process(pid).ok_or(Errno(libc::ESRCH))?;
    let my_sid = lock(&t.proc.state).sid;
    // Linux's rules, in its order: the caller or a child of it; a child
    // only in the caller's session and before it executes a program; never
    // a session leader; into its own group or one of the caller's session.
    if pid != t.pid() {
        let st = lock(&target.state);
        if st.ppid != t.pid() {
            return err(libc::ESRCH);
        }
        if st.sid != my_sid {
            return err(libc::EPERM);
        }
        if st.has_execed {
            return err(libc::EACCES);
        }
    }
    if lock(&target.state).sid == pid {
        return err(libc::EPERM);
    }
    if pgid != pid {
        let group_in_session = t.kernel.all_processes().iter().any(|p| {
            let st = lock(&p.state);
            st.pgid == pgid && st.sid == my_sid
        });
        if !group_in_session {
            return err(libc::EPERM);
        }
    }
    lock(&target.state).pgid = pgid;
    Ok(0)
}

pub fn getpgid(t: &mut Task, a: Args) -> SysResult<u64> {
    let pid = if a[0] == 0 { t.pid() } else { a[0] as i32 };
    let p = t.kernel.process(pid).ok_or(Errno(libc::ESRCH))?;
    let pgid = lock(&p.state).pgid;
    Ok(pgid as u64)
}

pub fn setsid(t: &mut Task) -> SysResult<u64> {
    let pid = t.pid();
    let leader = t
        .kernel
        .all_processes()
        .iter()
        .any(|p| p.pid != pid && lock(&p.state).pgid == pid);
    let mut st = lock(&t.proc.state);
    if st.pgid == pid || leader {
        return err(libc::EPERM);
    }
    st.sid = pid;
    st.pgid = pid;
    Ok(pid as u64)
}

pub fn getsid(t: &mut Task, a: Args) -> SysResult<u64> {
    let pid = if a[0] == 0 { t.pid() } else { a[0] as i32 };
    let p = t.kernel.process(pid).ok_or(Errno(libc::ESRCH))?;
    let sid = lock(&p.state).sid;
    Ok(sid as u64)
}

pub fn get_ids(t: &mut Task, nr: i64, a: Args) -> SysResult<u64> {
    let c = lock(&t.proc.state).creds.clone();
    match nr {
        libc::SYS_getuid => Ok(c.uid as u64),
        libc::SYS_geteuid => Ok(c.euid as u64),
        libc::SYS_getgid => Ok(c.gid as u64),
        libc::SYS_getegid => Ok(c.egid as u64),
        libc::SYS_getresuid => {
            t.mm.write_obj(a[0], &c.uid)?;
            t.mm.write_obj(a[1], &c.euid)?;
            t.mm.write_obj(a[2], &c.suid)?;
            Ok(0)
        }
        libc::SYS_getresgid => {
            t.mm.write_obj(a[0], &c.gid)?;
            t.mm.write_obj(a[1], &c.egid)?;
            t.mm.write_obj(a[2], &c.sgid)?;
            Ok(0)
        }
        _ => {
            let size = a[0] as i32;
            if size < 0 {
                return err(libc::EINVAL);
            }
            if size == 0 {
                return Ok(c.groups.len() as u64);
            }
            if (size as usize) < c.groups.len() {
                return err(libc::EINVAL);
            }
            for (i, g) in c.groups.iter().enumerate() {
                t.mm.write_obj(a[1] + i as u64 * 4, g)?;
            }
            Ok(c.groups.len() as u64)
        }
    }
}

/// The set*id family, with Linux's rules: CAP_SETUID (CAP_SETGID) allows
/// any id, otherwise only the current real, effective or saved one
/// (setuid and setreuid's real id take fewer); uid changes then fix up the
/// capability sets (kernel/caps.rs).
pub fn set_ids(t: &mut Task, nr: i64, a: Args) -> SysResult<u64> {
    if nr == libc::SYS_setgroups {
        return set_groups(t, a);
    }
    let mut st = lock(&t.proc.state);
    let before = (st.creds.euid, st.creds.egid);
    let r = change_ids(&mut st, nr, a);
    // A change of the effective ids makes the process non-dumpable
    // (commit_creds with fs.suid_dumpable 0): its /proc files turn root's.
    if (st.creds.euid, st.creds.egid) != before {
        st.dumpable = false;
    }
    r
}

/// setgroups(2): the supplementary groups, read with the state unlocked.
fn set_groups(t: &Task, a: Args) -> SysResult<u64> {
    if !lock(&t.proc.state).creds.has(caps::SETGID) {
        return err(libc::EPERM);
    }
    let n = a[0] as usize;
    if n > 65536 {
        return err(libc::EINVAL);
    }
    let mut groups = Vec::with_capacity(n);
    for i in 0..n {
        groups.push(t.mm.read_obj::<u32>(a[1] + i as u64 * 4)?);
    }
    lock(&t.proc.state).creds.groups = groups;
    Ok(0)
}

fn change_ids(st: &mut ProcState, nr: i64, a: Args) -> SysResult<u64> {
    let c = &mut st.creds;
    let old = c.uids();
    let cap_uid = c.has(caps::SETUID);
    let cap_gid = c.has(caps::SETGID);
    let id = |v: u64| (v as u32 != u32::MAX).then_some(v as u32);
    let any_u = |v: u32, c: &Creds| cap_uid || v == c.uid || v == c.euid || v == c.suid;
    let any_g = |v: u32, c: &Creds| cap_gid || v == c.gid || v == c.egid || v == c.sgid;
    match nr {
        libc::SYS_setuid => {
            let u = a[0] as u32;
            if cap_uid {
                (c.uid, c.euid, c.suid) = (u, u, u);
            } else if u == c.uid || u == c.suid {
                c.euid = u;
            } else {
                return err(libc::EPERM);
            }
        }
        libc::SYS_setgid => {
            let g = a[0] as u32;
            if cap_gid {
                (c.gid, c.egid, c.sgid) = (g, g, g);
            } else if g == c.gid || g == c.sgid {
                c.egid = g;
            } else {
                return err(libc::EPERM);
            }
        }
        libc::SYS_setreuid => {
            let (r, e) = (id(a[0]), id(a[1]));
            if r.is_some_and(|v| !(cap_uid || v == c.uid || v == c.euid))
                || e.is_some_and(|v| !any_u(v, c))
            {
                return err(libc::EPERM);
            }
            let saved = r.is_some() || e.is_some_and(|v| v != c.uid);
            c.uid = r.unwrap_or(c.uid);
            c.euid = e.unwrap_or(c.euid);
            if saved {
                c.suid = c.euid;
            }
        }
        libc::SYS_setregid => {
            let (r, e) = (id(a[0]), id(a[1]));
            if r.is_some_and(|v| !(cap_gid || v == c.gid || v == c.egid))
                || e.is_some_and(|v| !any_g(v, c))
            {
                return err(libc::EPERM);
            }
            let saved = r.is_some() || e.is_some_and(|v| v != c.gid);
            c.gid = r.unwrap_or(c.gid);
            c.egid = e.unwrap_or(c.egid);
            if saved {
                c.sgid = c.egid;
            }
        }
        libc::SYS_setresuid => {
            let ids = [id(a[0]), id(a[1]), id(a[2])];
            if ids.iter().flatten().any(|&v| !any_u(v, c)) {
                return err(libc::EPERM);
            }
            c.uid = ids[0].unwrap_or(c.uid);
            c.euid = ids[1].unwrap_or(c.euid);
            c.suid = ids[2].unwrap_or(c.suid);
        }
        libc::SYS_setresgid => {
            let ids = [id(a[0]), id(a[1]), id(a[2])];
            if ids.iter().flatten().any(|&v| !any_g(v, c)) {
                return err(libc::EPERM);
            }
            c.gid = ids[0].unwrap_or(c.gid);
            c.egid = ids[1].unwrap_or(c.egid);
            c.sgid = ids[2].unwrap_or(c.sgid);
        }
        // setfsuid/setfsgid report the previous value.
        libc::SYS_setfsuid => return Ok(c.euid as u64),
        _ => return Ok(c.egid as u64),
    }
    let new = c.uids();
    let bits = c.securebits;
    c.caps.fix_up_setuid(old, new, bits);
    Ok(0)
}

/// personality(2): 0xffffffff queries; any other value is kept (the
/// Sentry runs x86_64 Linux binaries whatever the persona says).
pub fn personality(t: &mut Task, a: Args) -> SysResult<u64> {
    let mut st = lock(&t.proc.state);
    let old = st.personality;
    if a[0] as u32 != 0xffff_ffff {
        st.personality = a[0] as u32;
    }
    Ok(old as u64)
}

pub fn prctl(t: &mut Task, a: Args) -> SysResult<u64> {
    if let Some(r) = super::caps::prctl(t, a) {
        return r;
    }
    match a[0] as i32 {
        libc::PR_SET_NAME => {
            let name = t.mm.read_cstr(a[1], 16).or_else(|e| {
                if e.0 == libc::ENAMETOOLONG {
                    t.mm.read_cstr(a[1], 15)
                } else {
                    Err(e)
                }
            });
            let name = match name {
                Ok(n) => n,
                Err(e) if e.0 == libc::ENAMETOOLONG => {
                    let mut b = [0u8; 15];
                    t.mm.read(a[1], &mut b)?;
                    b.to_vec()
                }
                Err(e) => return Err(e),
            };
            comm::set(&t.proc, t.tid, &name);
            Ok(0)
        }
        libc::PR_GET_NAME => {
            let mut b = comm::name(&t.proc, t.tid).into_bytes();
            b.truncate(15);
            b.resize(16, 0);
            t.mm.write(a[1], &b)?;
            Ok(0)
        }
        libc::PR_SET_PDEATHSIG => {
            if a[1] > 64 {
                return err(libc::EINVAL);
            }
            lock(&t.proc.state).pdeathsig = a[1] as i32;
            Ok(0)
        }
        libc::PR_GET_PDEATHSIG => {
            let sig = lock(&t.proc.state).pdeathsig;
            t.mm.write_obj(a[1], &sig)?;
            Ok(0)
        }
        // Set once, never cleared.
        libc::PR_SET_NO_NEW_PRIVS if a[1] != 1 || a[2] != 0 || a[3] != 0 || a[4] != 0 => {
            err(libc::EINVAL)
        }
        libc::PR_SET_NO_NEW_PRIVS => {
            lock(&t.proc.state).no_new_privs = true;
            Ok(0)
        }
        libc::PR_GET_NO_NEW_PRIVS => Ok(u64::from(lock(&t.proc.state).no_new_privs)),
        libc::PR_SET_DUMPABLE => match a[1] {
            0 | 1 => {
                lock(&t.proc.state).dumpable = a[1] == 1;
                Ok(0)
            }
            _ => err(libc::EINVAL),
        },
        libc::PR_GET_DUMPABLE => Ok(lock(&t.proc.state).dumpable as u64),
        libc::PR_SET_CHILD_SUBREAPER => Ok(0),
        libc::PR_GET_CHILD_SUBREAPER => Ok(0),
        _ => err(libc::EINVAL),
    }
}

pub fn arch_prctl(t: &mut Task, a: Args) -> SysResult<u64> {
    const ARCH_SET_GS: u64 = 0x1001;
    const ARCH_SET_FS: u64 = 0x1002;
    const ARCH_GET_FS: u64 = 0x1003;
    const ARCH_GET_GS: u64 = 0x1004;
    match a[0] {
        ARCH_SET_FS | ARCH_SET_GS => {
            if a[1] >= crate::platform::USER_MAX {
                return err(libc::EPERM);
            }
            if a[0] == ARCH_SET_FS {
                t.regs.fs_base = a[1];
            } else {
                t.regs.gs_base = a[1];
            }
            Ok(0)
        }
        ARCH_GET_FS => t.mm.write_obj(a[1], &t.regs.fs_base).map(|_| 0),
        ARCH_GET_GS => t.mm.write_obj(a[1], &t.regs.gs_base).map(|_| 0),
        _ => err(libc::EINVAL),
    }
}

/// prlimit64 (and getrlimit/setrlimit, pid 0): any process of the sandbox
/// whose credentials match the caller's, or any at all with
/// CAP_SYS_RESOURCE, as Linux's check_prlimit_permission.
pub fn prlimit(t: &mut Task, pid: u64, resource: u64, new: u64, old: u64) -> SysResult<u64> {
    use crate::kernel::rlimits;
    if resource >= rlimits::NLIMITS as u64 {
        return err(libc::EINVAL);
    }
    let resource = resource as u32;
    let me = lock(&t.proc.state).creds.clone();
    let target = match pid as i32 {
        0 => t.proc.clone(),
        p if p == t.pid() => t.proc.clone(),
        p if p < 0 => return err(libc::ESRCH),
        p => t
            .kernel
            .process(p)
            .or_else(|| t.kernel.thread(p).map(|(proc, _)| proc))
            .filter(|proc| !proc.is_zombie())
            .ok_or(Errno(libc::ESRCH))?,
    };
    let resource_cap = me.has(caps::SYS_RESOURCE);
    if !Arc::ptr_eq(&target, &t.proc) && !resource_cap {
        let c = lock(&target.state).creds.clone();
        let same = [c.uid, c.euid, c.suid].iter().all(|&u| u == me.uid)
            && [c.gid, c.egid, c.sgid].iter().all(|&g| g == me.gid);
        if !same {
            return err(libc::EPERM);
        }
    }
    let new = if new != 0 {
        let [soft, hard]: [u64; 2] = t.mm.read_obj(new)?;
        if soft > hard {
            return err(libc::EINVAL);
        }
        if resource == libc::RLIMIT_NOFILE && hard > rlimits::NR_OPEN {
            return err(libc::EPERM);
        }
        Some((soft, hard))
    } else {
        None
    };
    let previous = {
        let mut st = lock(&target.state);
        let cur = st.rlimit(resource);
        if let Some((soft, hard)) = new {
            if hard > cur.1 && !resource_cap {
                return err(libc::EPERM);
            }
            st.set_rlimit(resource, soft, hard);
        }
        cur
    };
    if old != 0 {
        t.mm.write_obj(old, &[previous.0, previous.1])?;
    }
    Ok(0)
}
