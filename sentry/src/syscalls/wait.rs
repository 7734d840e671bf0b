//! wait4 and waitid: reaping children, and hearing of their stops and
//! continues (job control).

use super::Args;
use crate::errno::{err, SysResult};
use crate::kernel::jobctl::CONTINUED_STATUS;
use crate::kernel::process::lock;
use crate::kernel::ptrace;
use crate::kernel::signal::{self, SigInfo};
use crate::kernel::task::Task;

/// Which children a wait is about.
#[derive(Clone, Copy)]
enum Which {
    Any,
    Pid(i32),
    Group(i32),
}

/// What a wait found: the child and its wait status.
struct Found {
    pid: i32,
    status: i32,
    uid: u32,
    /// The reaped child's CPU time and its reaped descendants'.
    cpu_ns: u64,
    /// A tracee's report (waitid calls its stops CLD_TRAPPED).
    traced: bool,
}

/// siginfo's si_code for a ptrace-stop reported by waitid.
const CLD_TRAPPED: i32 = 4;

/// waitid's option bits beyond wait4's.
const WNOWAIT: i32 = 0x0100_0000;

/// Waits for a child of `which` to be in a state `options` asks for
/// (WEXITED, WSTOPPED, WCONTINUED); None under WNOHANG when none is.
fn wait_for(t: &mut Task, which: Which, options: i32) -> SysResult<Option<Found>> {
    let k = t.kernel.clone();
    let me = t.proc.clone();
    let consume = options & WNOWAIT == 0;
    // Woken by its children's changes (and signals) alone.
    t.block_watching(&[&me.children_seq], None, |_| {
        let children: Vec<i32> = lock(&me.state).children.iter().copied().collect();
        // With SIGCHLD ignored (or SA_NOCLDWAIT) a child's exit reaps it:
        // a zombie seen before that exit finished is not ours to report
        // (Linux reaps it under one lock; the waiter then gets ECHILD).
        let auto_reap = {
            let a = lock(&me.sig).actions[libc::SIGCHLD as usize];
            a.handler == crate::kernel::signal::SIG_IGN
                || a.flags & crate::kernel::signal::SA_NOCLDWAIT != 0
        };
        let mut any = false;
        for c in children {
            let Some(cp) = k.process(c) else { continue };
            let mut cs = lock(&cp.state);
            let matches = match which {
                Which::Any => true,
                Which::Pid(p) => c == p,
                Which::Group(g) => cs.pgid == g,
            };
            if !matches || (auto_reap && cs.zombie.is_some()) {
                continue;
            }
            // A zombie is a candidate for WEXITED alone: a wait for stopped
            // or continued children that has only zombies left fails with
            // ECHILD rather than waiting for a change that cannot come
            // (Linux's wait_task_zombie leaves notask_error set).
            if cs.zombie.is_some() && options & libc::WEXITED == 0 {
                continue;
            }
            any = true;
            let uid = cs.creds.uid;
            let cpu_ns = cs.cpu_ns + cs.sentry_cpu_ns + cs.children_cpu_ns;
            if let Some(status) = cs.zombie.filter(|_| options & libc::WEXITED != 0) {
                drop(cs);
                if consume {
                    let mut mine = lock(&me.state);
                    mine.children.remove(&c);
                    mine.children_cpu_ns += cpu_ns;
                    drop(mine);
                    k.release(c);
                }
                return Some(Ok(Some(Found {
                    pid: c,
                    status,
                    uid,
                    cpu_ns,
                    traced: false,
                })));
            }
            // A child this process traces reports its stops as a tracee
            // (below), as Linux's wait treats a traced child.
            let traced_here = lock(&me.ptrace.tracees).contains_key(&c);
            let report = cs.job_report.filter(|_| !traced_here).filter(|&r| {
                if r == CONTINUED_STATUS {
                    options & libc::WCONTINUED != 0
                } else {
                    options & libc::WSTOPPED != 0 && cs.stopped
                }
            });
            if let Some(status) = report {
                if consume {
                    cs.job_report = None;
                }
                return Some(Ok(Some(Found {
                    pid: c,
                    status,
                    uid,
                    cpu_ns: 0,
                    traced: false,
                })));
            }
        }
        // Tracees (children or not): their ptrace-stops, always reported,
        // and the ends of traced threads the child path does not report.
        let (traced, found) = ptrace::wait_report(
            &k,
            &me,
            |tid, pgid| match which {
                Which::Any => true,
                Which::Pid(p) => p == tid,
                Which::Group(g) => pgid == Some(g),
            },
            options & libc::WEXITED != 0,
            consume,
        );
        any |= traced;
        if let Some((pid, status, uid)) = found {
            return Some(Ok(Some(Found {
                pid,
                status,
                uid,
                cpu_ns: 0,
                traced: true,
            })));
        }
        if !any {
            return Some(err(libc::ECHILD));
        }
        if options & libc::WNOHANG != 0 {
            return Some(Ok(None));
        }
        None
    })?
}

fn write_rusage(t: &Task, addr: u64, cpu_ns: u64) -> SysResult<()> {
    if addr != 0 {
        t.mm.write_obj(addr, &crate::syscalls::misc::rusage(cpu_ns, 0))?;
    }
    Ok(())
}

pub fn wait4(t: &mut Task, a: Args) -> SysResult<u64> {
    let want = a[0] as i32;
    let options = a[2] as i32;
    if options
        & !(libc::WNOHANG
            | libc::WUNTRACED
            | libc::WCONTINUED
            | libc::__WALL
            | libc::__WCLONE
            | libc::__WNOTHREAD)
        != 0
    {
        return err(libc::EINVAL);
    }
    let which = match want {
        -1 => Which::Any,
        0 => Which::Group(lock(&t.proc.state).pgid),
        p if p > 0 => Which::Pid(p),
        p if p == i32::MIN => return err(libc::ESRCH),
        p => Which::Group(-p),
    };
    let found = wait_for(t, which, options | libc::WEXITED)?;
    let Some(f) = found else {
        return Ok(0);
    };
    if a[1] != 0 {
        t.mm.write(a[1], &f.status.to_le_bytes())?;
    }
    write_rusage(t, a[3], f.cpu_ns)?;
    Ok(f.pid as u64)
}

/// The si_code and si_status waitid reports for a wait status.
fn child_code(status: i32) -> (i32, i32) {
    if status == CONTINUED_STATUS {
        (signal::CLD_CONTINUED, libc::SIGCONT)
    } else if status & 0xff == 0x7f {
        (signal::CLD_STOPPED, (status >> 8) & 0xff)
    } else if status & 0x7f == 0 {
        (signal::CLD_EXITED, (status >> 8) & 0xff)
    } else if status & 0x80 != 0 {
        (signal::CLD_DUMPED, status & 0x7f)
    } else {
        (signal::CLD_KILLED, status & 0x7f)
    }
}

pub fn waitid(t: &mut Task, a: Args) -> SysResult<u64> {
    let options = a[3] as i32;
    let known = libc::WNOHANG
        | libc::WEXITED
        | libc::WSTOPPED
        | libc::WCONTINUED
        | WNOWAIT
        | libc::__WALL
        | libc::__WCLONE
        | libc::__WNOTHREAD;
    if options & !known != 0 || options & (libc::WEXITED | libc::WSTOPPED | libc::WCONTINUED) == 0 {
        return err(libc::EINVAL);
    }
    let id = a[1] as i32;
    let which = match a[0] as u32 {
        libc::P_ALL => Which::Any,
        libc::P_PID if id > 0 => Which::Pid(id),
        libc::P_PGID if id == 0 => Which::Group(lock(&t.proc.state).pgid),
        libc::P_PGID if id > 0 => Which::Group(id),
        _ => return err(libc::EINVAL),
    };
    let found = wait_for(t, which, options)?;
    if a[2] != 0 {
        let info = match &found {
            Some(f) => {
                let (code, status) = if f.traced && f.status & 0xff == 0x7f {
                    // A ptrace-stop: its whole code (signal, event bits).
                    (CLD_TRAPPED, (f.status >> 8) & 0xffff)
                } else {
                    child_code(f.status)
                };
                SigInfo::child(f.pid, f.uid, code, status).as_bytes()
            }
            // WNOHANG with nothing to report: Linux zeroes the siginfo.
            None => [0u8; 128],
        };
        t.mm.write(a[2], &info)?;
    }
    write_rusage(t, a[4], found.as_ref().map_or(0, |f| f.cpu_ns))?;
    Ok(0)
}
