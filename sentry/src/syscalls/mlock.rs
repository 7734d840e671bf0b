//! mlock, mlock2, munlock, mlockall, munlockall: the Sentry never pages
//! application memory out, so locking is accounting — which ranges are
//! locked (VmLck in /proc/PID/status) and RLIMIT_MEMLOCK, enforced as
//! Linux does for callers without CAP_IPC_LOCK (which the Sentry grants
//! with euid 0, as it grants the other capabilities).

use super::Args;
use crate::errno::{err, SysResult};
use crate::kernel::process::lock;
use crate::kernel::rlimits::INFINITY;
use crate::kernel::task::Task;

const MLOCK_ONFAULT: u64 = 0x1;
const MCL_CURRENT: u64 = 0x1;
const MCL_FUTURE: u64 = 0x2;
const MCL_ONFAULT: u64 = 0x4;

/// (whether RLIMIT_MEMLOCK binds the caller, its soft limit).
fn memlock_limit(t: &Task) -> (bool, u64) {
    let st = lock(&t.proc.state);
    (
        !st.creds.has(crate::kernel::caps::IPC_LOCK),
        st.rlimit(libc::RLIMIT_MEMLOCK).0,
    )
}

/// Linux's can_do_mlock: a zero limit without CAP_IPC_LOCK is EPERM.
fn may_lock(t: &Task) -> SysResult<(bool, u64)> {
    let (bound, limit) = memlock_limit(t);
    if bound && limit == 0 {
        return err(libc::EPERM);
    }
    Ok((bound, limit))
}

pub fn mlock(t: &mut Task, a: Args) -> SysResult<u64> {
    lock_range(t, a[0], a[1])
}

pub fn mlock2(t: &mut Task, a: Args) -> SysResult<u64> {
    if a[2] & !MLOCK_ONFAULT != 0 {
        return err(libc::EINVAL);
    }
    lock_range(t, a[0], a[1])
}

fn lock_range(t: &mut Task, addr: u64, len: u64) -> SysResult<u64> {
    let (bound, limit) = may_lock(t)?;
    let mut mm = t.mm.lock();
    let more = mm.set_locked(addr, len, true, true)?;
    if bound && limit != INFINITY && mm.locked_bytes().saturating_add(more) > limit {
        return err(libc::ENOMEM);
    }
    mm.set_locked(addr, len, true, false)?;
    Ok(0)
}

pub fn munlock(t: &mut Task, a: Args) -> SysResult<u64> {
    t.mm.lock().set_locked(a[0], a[1], false, false)?;
    Ok(0)
}

/// mlockall(flags): MCL_CURRENT locks what is mapped now (limited by
/// RLIMIT_MEMLOCK); MCL_FUTURE is accepted and not remembered (new
/// mappings are not counted as locked).
pub fn mlockall(t: &mut Task, a: Args) -> SysResult<u64> {
    let flags = a[0];
    if flags == 0 || flags & !(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0 || flags == MCL_ONFAULT
    {
        return err(libc::EINVAL);
    }
    let (bound, limit) = may_lock(t)?;
    if flags & MCL_CURRENT != 0 {
        let mut mm = t.mm.lock();
        if bound && limit != INFINITY && mm.mapped_bytes() > limit {
            return err(libc::ENOMEM);
        }
        mm.set_all_locked(true);
    }
    Ok(0)
}

pub fn munlockall(t: &mut Task) -> SysResult<u64> {
    t.mm.lock().set_all_locked(false);
    Ok(0)
}
