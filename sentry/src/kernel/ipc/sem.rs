//! SysV semaphore sets: semget, semop/semtimedop (all operations of a call
//! apply at once or not at all), semctl, and SEM_UNDO adjustments applied
//! when a process exits. Blocking is the caller's (syscalls/ipc.rs): a
//! call that cannot proceed registers as a waiter (GETNCNT/GETZCNT count
//! it) and retries whenever the kernel's event counter moves.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{now_secs, Entry, Got, Ipc64Perm, PerNs, Registry};
use crate::errno::{err, Errno, SysResult};
use crate::kernel::creds::Creds;
use crate::kernel::events;
use crate::kernel::process::lock;

/// Linux's defaults (SEMMSL, SEMMNI, SEMOPM, SEMVMX, SEMMNS).
pub const SEMMSL: usize = 32000;
pub const SEMMNI: usize = 32000;
pub const SEMOPM: usize = 500;
pub const SEMVMX: i32 = 32767;
pub const SEMMNS: i32 = SEMMSL as i32 * SEMMNI as i32;
/// The most semaphores the sandbox may hold at once: they live in the
/// Sentry's own memory, so a workload may not make a billion of them
/// (Linux's SEMMNS would allow that); past it semget is ENOSPC, as past
/// SEMMNS.
const SANDBOX_SEMS: usize = 1 << 20;

pub const SEM_UNDO: i16 = 0x1000;

/// semctl commands beyond IPC_*.
pub const GETPID: i32 = 11;
pub const GETVAL: i32 = 12;
pub const GETALL: i32 = 13;
pub const GETNCNT: i32 = 14;
pub const GETZCNT: i32 = 15;
pub const SETVAL: i32 = 16;
pub const SETALL: i32 = 17;
pub const SEM_STAT: i32 = 18;
pub const SEM_INFO: i32 = 19;
pub const SEM_STAT_ANY: i32 = 20;

/// One operation of semop (`struct sembuf`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SemBuf {
    pub num: u16,
    pub op: i16,
    pub flg: i16,
}

#[derive(Clone, Copy, Default)]
struct Sem {
    val: i32,
    pid: i32,
}

/// A task waiting in semop: on which semaphore, for zero or for more.
struct Waiter {
    tid: i32,
    num: usize,
    zero: bool,
}

pub struct SemSet {
    sems: Vec<Sem>,
    otime: i64,
    ctime: i64,
    waiters: Vec<Waiter>,
}

static SETS: PerNs<Registry<SemSet>> = PerNs::new(|| Registry::new(SEMMNI));

/// SEM_UNDO adjustments: process → set id → one per semaphore.
static UNDO: Mutex<BTreeMap<i32, BTreeMap<i32, Vec<i32>>>> = Mutex::new(BTreeMap::new());

pub fn semget(creds: &Creds, key: i32, nsems: i32, flags: i32) -> SysResult<i32> {
    if nsems < 0 || nsems as usize > SEMMSL {
        return err(libc::EINVAL);
    }
    let sets = SETS.current();
    let mut r = lock(&sets);
    match r.get(key, flags, creds)? {
        Got::Existing(id) => {
            if nsems as usize > r.lookup(id)?.obj.sems.len() {
                return err(libc::EINVAL);
            }
            Ok(id)
        }
        Got::Create => {
            if nsems == 0 {
                return err(libc::EINVAL);
            }
            let total: usize = r.iter().map(|(_, e)| e.obj.sems.len()).sum();
            if total + nsems as usize > SANDBOX_SEMS {
                return err(libc::ENOSPC);
            }
            let set = SemSet {
                sems: vec![Sem::default(); nsems as usize],
                otime: 0,
                ctime: now_secs(),
                waiters: Vec::new(),
            };
            r.insert(key, flags, creds, set)
        }
    }
}

/// One attempt at semop. Ok(true): done; Ok(false): the caller must wait
/// (it is registered as a waiter under `tid`); EIDRM once the set is gone
/// (`waited`: the set existed when the call began).
pub fn try_semop(
    creds: &Creds,
    pid: i32,
    tid: i32,
    id: i32,
    ops: &[SemBuf],
    waited: bool,
) -> SysResult<bool> {
    let sets = SETS.current();
    let mut r = lock(&sets);
    let e = match r.lookup_mut(id) {
        Ok(e) => e,
        Err(_) if waited => return err(libc::EIDRM),
        Err(e) => return Err(e),
    };
    let nsems = e.obj.sems.len();
    if ops.iter().any(|o| o.num as usize >= nsems) {
        return err(libc::EFBIG);
    }
    let alter = ops.iter().any(|o| o.op != 0);
    e.perm
        .check(creds, if alter { super::WRITE } else { super::READ })?;
    let mut vals: Vec<i32> = e.obj.sems.iter().map(|s| s.val).collect();
    let mut undo = lock(&UNDO);
    let mut adj: Vec<i32> = undo
        .get(&pid)
        .and_then(|m| m.get(&id))
        .cloned()
        .unwrap_or_else(|| vec![0; nsems]);
    adj.resize(nsems, 0);
    for o in ops {
        let n = o.num as usize;
        let blocked = match o.op {
            0 => vals[n] != 0,
            op if op < 0 => vals[n] + (op as i32) < 0,
            _ => false,
        };
        if blocked {
            if o.flg & super::IPC_NOWAIT as i16 != 0 {
                return err(libc::EAGAIN);
            }
            e.obj.waiters.retain(|w| w.tid != tid);
            e.obj.waiters.push(Waiter {
                tid,
                num: n,
                zero: o.op == 0,
            });
            return Ok(false);
        }
        vals[n] += o.op as i32;
        if vals[n] > SEMVMX {
            return err(libc::ERANGE);
        }
        if o.flg & SEM_UNDO != 0 {
            let a = adj[n] - o.op as i32;
            if !(-SEMVMX - 1..=SEMVMX).contains(&a) {
                return err(libc::ERANGE);
            }
            adj[n] = a;
        }
    }
    for (n, v) in vals.into_iter().enumerate() {
        if v != e.obj.sems[n].val || ops.iter().any(|o| o.num as usize == n) {
            e.obj.sems[n] = Sem { val: v, pid };
        }
    }
    e.obj.otime = now_secs();
    e.obj.waiters.retain(|w| w.tid != tid);
    if ops.iter().any(|o| o.flg & SEM_UNDO != 0) {
        undo.entry(pid).or_default().insert(id, adj);
    }
    drop(undo);
    drop(r);
    if alter {
        events::notify();
    }
    Ok(true)
}

/// The waiting call ended (done, interrupted, timed out): it no longer
/// counts for GETNCNT/GETZCNT.
pub fn unwait(id: i32, tid: i32) {
    if let Ok(e) = lock(&SETS.current()).lookup_mut(id) {
        e.obj.waiters.retain(|w| w.tid != tid);
    }
}

/// A process ends: its SEM_UNDO adjustments apply to the sets that still
/// exist, each value kept within 0..=SEMVMX.
pub fn exit(pid: i32) {
    let Some(sets) = lock(&UNDO).remove(&pid) else {
        return;
    };
    let registry = SETS.current();
    let mut r = lock(&registry);
    for (id, adj) in sets {
        let Ok(e) = r.lookup_mut(id) else { continue };
        for (s, a) in e.obj.sems.iter_mut().zip(adj) {
            if a != 0 {
                s.val = (s.val + a).clamp(0, SEMVMX);
                s.pid = pid;
            }
        }
        e.obj.otime = now_secs();
    }
    drop(r);
    events::notify();
}

/// SETVAL/SETALL reset the adjustments of the semaphores they set, in
/// every process.
fn clear_undo(id: i32, num: Option<usize>) {
    for sets in lock(&UNDO).values_mut() {
        match num {
            None => {
                sets.remove(&id);
            }
            Some(n) => {
                if let Some(adj) = sets.get_mut(&id).and_then(|a| a.get_mut(n)) {
                    *adj = 0;
                }
            }
        }
    }
}

/// `struct semid64_ds` (x86_64, 104 bytes).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct SemidDs {
    pub perm: Ipc64Perm,
    pub otime: i64,
    pub unused1: u64,
    pub ctime: i64,
    pub unused2: u64,
    pub nsems: u64,
    pub unused3: u64,
    pub unused4: u64,
}

const _: () = assert!(std::mem::size_of::<SemidDs>() == 104);

/// `struct seminfo` (IPC_INFO, SEM_INFO).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct SemInfo {
    pub semmap: i32,
    pub semmni: i32,
    pub semmns: i32,
    pub semmnu: i32,
    pub semmsl: i32,
    pub semopm: i32,
    pub semume: i32,
    pub semusz: i32,
    pub semvmx: i32,
    pub semaem: i32,
}

fn stat_of(e: &Entry<SemSet>) -> SemidDs {
    SemidDs {
        perm: e.perm.to_linux(),
        otime: e.obj.otime,
        ctime: e.obj.ctime,
        nsems: e.obj.sems.len() as u64,
        ..Default::default()
    }
}

/// What semctl needs from the caller's memory, read beforehand.
pub enum CtlIn {
    None,
    /// SETVAL's value.
    Value(i32),
    /// SETALL's values (as many as the set has, read by the caller).
    Values(Vec<u16>),
    /// IPC_SET's struct.
    Set(Ipc64Perm),
}

/// What semctl hands back.
pub enum CtlOut {
    Value(u64),
    Stat(u64, SemidDs),
    Info(u64, SemInfo),
    Values(Vec<u16>),
}

/// The number of semaphores of set `id` (how much of SETALL's and
/// GETALL's arrays to copy).
pub fn nsems(id: i32) -> SysResult<usize> {
    Ok(lock(&SETS.current()).lookup(id)?.obj.sems.len())
}

pub fn semctl(
    creds: &Creds,
    pid: i32,
    id: i32,
    num: i32,
    cmd: i32,
    arg: CtlIn,
) -> SysResult<CtlOut> {
    let sets = SETS.current();
    let mut r = lock(&sets);
    let info = |r: &Registry<SemSet>, usage: bool| {
        let mut i = SemInfo {
            semmap: SEMMNS,
            semmni: SEMMNI as i32,
            semmns: SEMMNS,
            semmnu: SEMMNS,
            semmsl: SEMMSL as i32,
            semopm: SEMOPM as i32,
            semume: SEMOPM as i32,
            semusz: 20,
            semvmx: SEMVMX,
            semaem: SEMVMX,
        };
        if usage {
            i.semusz = r.len() as i32;
            i.semaem = r.iter().map(|(_, e)| e.obj.sems.len() as i32).sum();
        }
        CtlOut::Info(r.highest_index() as u64, i)
    };
    match cmd {
        super::IPC_INFO => return Ok(info(&r, false)),
        SEM_INFO => return Ok(info(&r, true)),
        SEM_STAT | SEM_STAT_ANY => {
            let (sid, e) = r.at_index(id).ok_or(Errno(libc::EINVAL))?;
            if cmd == SEM_STAT {
                e.perm.check(creds, super::READ)?;
            }
            return Ok(CtlOut::Stat(sid as u64, stat_of(e)));
        }
        _ => {}
    }
    let e = r.lookup_mut(id)?;
    let nsems = e.obj.sems.len();
    let sem = |num: i32| -> SysResult<usize> {
        usize::try_from(num)
            .ok()
            .filter(|&n| n < nsems)
            .ok_or(Errno(libc::EINVAL))
    };
    let out = match cmd {
        super::IPC_STAT => {
            e.perm.check(creds, super::READ)?;
            CtlOut::Stat(0, stat_of(e))
        }
        super::IPC_SET => {
            let CtlIn::Set(p) = arg else {
                return err(libc::EFAULT);
            };
            e.perm.check_owner(creds)?;
            e.perm.set(&p);
            e.obj.ctime = now_secs();
            CtlOut::Value(0)
        }
        super::IPC_RMID => {
            e.perm.check_owner(creds)?;
            r.remove(id);
            drop(r);
            clear_undo(id, None);
            // Waiters wake to find the set gone (EIDRM).
            events::notify();
            return Ok(CtlOut::Value(0));
        }
        GETVAL | GETPID | GETNCNT | GETZCNT => {
            e.perm.check(creds, super::READ)?;
            let n = sem(num)?;
            let s = &e.obj;
            let count = |zero: bool| {
                s.waiters
                    .iter()
                    .filter(|w| w.num == n && w.zero == zero)
                    .count() as u64
            };
            CtlOut::Value(match cmd {
                GETVAL => s.sems[n].val as u64,
                GETPID => s.sems[n].pid as u64,
                GETNCNT => count(false),
                _ => count(true),
            })
        }
        GETALL => {
            e.perm.check(creds, super::READ)?;
            CtlOut::Values(e.obj.sems.iter().map(|s| s.val as u16).collect())
        }
        SETVAL => {
            let CtlIn::Value(v) = arg else {
                return err(libc::EINVAL);
            };
            let n = sem(num)?;
            if !(0..=SEMVMX).contains(&v) {
                return err(libc::ERANGE);
            }
            e.perm.check(creds, super::WRITE)?;
            e.obj.sems[n] = Sem { val: v, pid };
            e.obj.ctime = now_secs();
            drop(r);
            clear_undo(id, Some(n));
            events::notify();
            return Ok(CtlOut::Value(0));
        }
        SETALL => {
            let CtlIn::Values(vals) = arg else {
                return err(libc::EFAULT);
            };
            e.perm.check(creds, super::WRITE)?;
            if vals.len() != nsems {
                return err(libc::EINVAL);
            }
            if vals.iter().any(|&v| v as i32 > SEMVMX) {
                return err(libc::ERANGE);
            }
            for (s, v) in e.obj.sems.iter_mut().zip(vals) {
                *s = Sem { val: v as i32, pid };
            }
            e.obj.ctime = now_secs();
            drop(r);
            clear_undo(id, None);
            events::notify();
            return Ok(CtlOut::Value(0));
        }
        _ => return err(libc::EINVAL),
    };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(num: u16, op: i16, flg: i16) -> SemBuf {
        SemBuf { num, op, flg }
    }

    #[test]
    fn operations_apply_all_or_nothing() {
        let c = Creds::new(0, 0, vec![], crate::kernel::caps::CapSets::full());
        let id = semget(&c, super::super::IPC_PRIVATE, 2, 0o600).unwrap();
        let val = |n| match semctl(&c, 1, id, n, GETVAL, CtlIn::None) {
            Ok(CtlOut::Value(v)) => v,
            _ => panic!("GETVAL"),
        };
        assert!(try_semop(&c, 1, 1, id, &[op(0, 2, 0)], false).unwrap());
        // The second op would block: the first must not apply either.
        assert!(!try_semop(&c, 1, 1, id, &[op(0, -1, 0), op(1, -1, 0)], false).unwrap());
        assert_eq!(val(0), 2);
        assert!(matches!(
            semctl(&c, 1, id, 1, GETNCNT, CtlIn::None),
            Ok(CtlOut::Value(1))
        ));
        unwait(id, 1);
        assert_eq!(
            try_semop(
                &c,
                1,
                1,
                id,
                &[op(1, -1, super::super::IPC_NOWAIT as i16)],
                false
            ),
            Err(Errno(libc::EAGAIN))
        );
        assert_eq!(
            try_semop(&c, 1, 1, id, &[op(2, 1, 0)], false),
            Err(Errno(libc::EFBIG))
        );
        assert_eq!(
            try_semop(&c, 1, 1, id, &[op(0, i16::MAX, 0)], false),
            Err(Errno(libc::ERANGE))
        );
        semctl(&c, 1, id, 0, super::super::IPC_RMID, CtlIn::None).unwrap();
        assert_eq!(
            try_semop(&c, 1, 1, id, &[op(0, 1, 0)], true),
            Err(Errno(libc::EIDRM))
        );
    }

    #[test]
    fn undo_applies_at_exit() {
        let c = Creds::new(0, 0, vec![], crate::kernel::caps::CapSets::full());
        let id = semget(&c, super::super::IPC_PRIVATE, 1, 0o600).unwrap();
        semctl(&c, 1, id, 0, SETVAL, CtlIn::Value(5)).unwrap();
        assert!(try_semop(&c, 77, 77, id, &[op(0, -3, SEM_UNDO)], false).unwrap());
        exit(77);
        assert!(matches!(
            semctl(&c, 1, id, 0, GETVAL, CtlIn::None),
            Ok(CtlOut::Value(5))
        ));
        assert!(matches!(
            semctl(&c, 1, id, 0, GETPID, CtlIn::None),
            Ok(CtlOut::Value(77))
        ));
        semctl(&c, 1, id, 0, super::super::IPC_RMID, CtlIn::None).unwrap();
    }
}
