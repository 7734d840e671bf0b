//! Scheduling: nice values, policies, affinity. The host schedules the
//! workload's threads; these calls keep Linux's answers and errors, and
//! record what cannot take effect.

use super::Args;
use crate::errno::{err, Errno, SysResult};
use crate::kernel::process::{lock, Process};
use crate::kernel::task::Task;
use std::sync::Arc;

/// The process a scheduling call names: 0 is the caller; otherwise a pid
/// or a tid of a process in the sandbox (ESRCH if none).
fn target(t: &Task, id: u64) -> SysResult<Arc<Process>> {
    let id = id as i32;
    if id < 0 {
        return err(libc::EINVAL);
    }
    if id == 0 {
        return Ok(t.proc.clone());
    }
    if let Some(p) = t.kernel.process(id) {
        return Ok(p);
    }
    t.kernel
        .thread(id)
        .map(|(p, _)| p)
        .ok_or(Errno(libc::ESRCH))
}

/// The processes a getpriority/setpriority `which`/`who` pair names.
fn priority_targets(t: &Task, which: u64, who: u64) -> SysResult<Vec<Arc<Process>>> {
    let who = who as i32;
    let all = t
        .kernel
        .all_processes()
        .into_iter()
        .filter(|p| !p.is_zombie());
    let v: Vec<Arc<Process>> = match which as u32 {
        libc::PRIO_PROCESS => return target(t, who as u64).map(|p| vec![p]),
        libc::PRIO_PGRP => {
            let g = if who == 0 {
                lock(&t.proc.state).pgid
            } else {
                who
            };
            all.filter(|p| lock(&p.state).pgid == g).collect()
        }
        libc::PRIO_USER => {
            let u = if who == 0 {
                lock(&t.proc.state).creds.uid
            } else {
                who as u32
            };
            all.filter(|p| lock(&p.state).creds.uid == u).collect()
        }
        _ => return err(libc::EINVAL),
    };
    if v.is_empty() {
        return err(libc::ESRCH);
    }
    Ok(v)
}

/// getpriority returns 20 - nice (1..40), so no result looks like an error.
pub fn getpriority(t: &mut Task, a: Args) -> SysResult<u64> {
    let best = priority_targets(t, a[0], a[1])?
        .iter()
        .map(|p| lock(&p.state).nice)
        .min()
        .unwrap_or(0);
    Ok((20 - best) as u64)
}

pub fn setpriority(t: &mut Task, a: Args) -> SysResult<u64> {
    let nice = (a[2] as i32).clamp(-20, 19);
    let (euid, sys_nice) = {
        let st = lock(&t.proc.state);
        (st.creds.euid, st.creds.has(crate::kernel::caps::SYS_NICE))
    };
    for p in priority_targets(t, a[0], a[1])? {
        let mut st = lock(&p.state);
        // Another user's process needs CAP_SYS_NICE (Linux's set_one_prio),
        // and so does raising priority.
        if st.creds.uid != euid && st.creds.euid != euid && !sys_nice {
            return err(libc::EPERM);
        }
        if nice < st.nice && !sys_nice {
            return err(libc::EACCES);
        }
        st.nice = nice;
    }
    Ok(0)
}

fn check_policy(policy: i32) -> SysResult<(i32, i32)> {
    match policy & !libc::SCHED_RESET_ON_FORK {
        libc::SCHED_OTHER | libc::SCHED_BATCH | libc::SCHED_IDLE => Ok((0, 0)),
        libc::SCHED_FIFO | libc::SCHED_RR => Ok((1, 99)),
        _ => err(libc::EINVAL),
    }
}

pub fn sched_get_priority_max(_t: &mut Task, a: Args) -> SysResult<u64> {
    check_policy(a[0] as i32).map(|(_, max)| max as u64)
}

pub fn sched_get_priority_min(_t: &mut Task, a: Args) -> SysResult<u64> {
    check_policy(a[0] as i32).map(|(min, _)| min as u64)
}

/// Every process runs under SCHED_OTHER with static priority 0.
pub fn sched_getscheduler(t: &mut Task, a: Args) -> SysResult<u64> {
    target(t, a[0]).map(|_| libc::SCHED_OTHER as u64)
}

pub fn sched_getparam(t: &mut Task, a: Args) -> SysResult<u64> {
    target(t, a[0])?;
    if a[1] == 0 {
        return err(libc::EINVAL);
    }
    t.mm.write_obj(a[1], &0i32)?;
    Ok(0)
}

/// Normal policies are accepted (the host schedules anyway); real-time ones
/// need CAP_SYS_NICE, which the sandbox never grants.
pub fn sched_setscheduler(t: &mut Task, a: Args) -> SysResult<u64> {
    target(t, a[0])?;
    if a[2] == 0 {
        return err(libc::EINVAL);
    }
    let prio: i32 = t.mm.read_obj(a[2])?;
    let (min, max) = check_policy(a[1] as i32)?;
    if !(min..=max).contains(&prio) {
        return err(libc::EINVAL);
    }
    if max > 0 {
        return err(libc::EPERM);
    }
    Ok(0)
}

pub fn sched_setparam(t: &mut Task, a: Args) -> SysResult<u64> {
    target(t, a[0])?;
    let prio: i32 = t.mm.read_obj(a[1])?;
    if prio != 0 {
        return err(libc::EINVAL);
    }
    Ok(0)
}

fn cpus() -> usize {
    crate::fs::proc::cpus()
}

pub fn sched_getaffinity(t: &mut Task, a: Args) -> SysResult<u64> {
    target(t, a[0])?;
    let size = a[1] as usize;
    if size < 8 || !size.is_multiple_of(8) {
        return err(libc::EINVAL);
    }
    let n = cpus();
    let mask: u64 = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
    t.mm.write_obj(a[2], &mask)?;
    Ok(8)
}

/// Accepted when the mask names at least one CPU the sandbox has; the
/// host decides where threads run.
pub fn sched_setaffinity(t: &mut Task, a: Args) -> SysResult<u64> {
    target(t, a[0])?;
    if a[1] < 8 {
        return err(libc::EINVAL);
    }
    let mask: u64 = t.mm.read_obj(a[2])?;
    let n = cpus();
    let have: u64 = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
    if mask & have == 0 {
        return err(libc::EINVAL);
    }
    Ok(0)
}
