//! SysV IPC system calls: shared memory, semaphores, message queues (the
//! objects are kernel/ipc; this layer copies arguments in and results out
//! and blocks the caller where a call waits).

use std::time::Instant;

use super::Args;
use crate::errno::{err, Errno, SysResult};
use crate::kernel::creds::Creds;
use crate::kernel::ipc::{self, msg, sem, shm};
use crate::kernel::process::lock;
use crate::kernel::task::Task;
use crate::mm::VmaKind;

fn creds(t: &Task) -> Creds {
    lock(&t.proc.state).creds.clone()
}

/// A SysV call's wait ended by a signal is restarted only when no handler
/// ran (ERESTARTNOHAND), as Linux does for semop, msgsnd and msgrcv.
fn interrupted(e: Errno) -> Errno {
    if e == Errno::ERESTARTSYS {
        Errno::ERESTARTNOHAND
    } else {
        e
    }
}

// Shared memory.

pub fn shmget(t: &mut Task, a: Args) -> SysResult<u64> {
    let c = creds(t);
    let id = shm::shmget(
        &t.kernel.memfile,
        &c,
        t.pid(),
        a[0] as i32,
        a[1],
        a[2] as i32,
    )?;
    Ok(id as u64)
}

pub fn shmat(t: &mut Task, a: Args) -> SysResult<u64> {
    let (id, mut addr, flags) = (a[0] as i32, a[1], a[2] as i32);
    // SHMLBA is the page size on x86_64.
    let shmlba = crate::mm::PAGE_SIZE;
    if !addr.is_multiple_of(shmlba) {
        if flags & shm::SHM_RND == 0 {
            return err(libc::EINVAL);
        }
        addr -= addr % shmlba;
    }
    if addr == 0 && flags & shm::SHM_REMAP != 0 {
        return err(libc::EINVAL);
    }
    let readonly = flags & shm::SHM_RDONLY != 0;
    let mut prot = libc::PROT_READ;
    if !readonly {
        prot |= libc::PROT_WRITE;
    }
    if flags & shm::SHM_EXEC != 0 {
        prot |= libc::PROT_EXEC;
    }
    let c = creds(t);
    let att = shm::attach(&c, t.pid(), id, readonly)?;
    let kind = VmaKind::SysvShm { key: att.key, id };
    let at = (addr != 0).then_some(addr);
    let no_replace = flags & shm::SHM_REMAP == 0;
    t.mm.lock()
        .attach_shared(&mut *t.ctx, at, no_replace, prot, att.backing, kind)
}

pub fn shmdt(t: &mut Task, a: Args) -> SysResult<u64> {
    if !a[0].is_multiple_of(crate::mm::PAGE_SIZE) {
        return err(libc::EINVAL);
    }
    let b =
        t.mm.lock()
            .detach_shared(&mut *t.ctx, a[0], shm::is_segment)?;
    shm::detached(&b, t.pid());
    Ok(0)
}

pub fn shmctl(t: &mut Task, a: Args) -> SysResult<u64> {
    let (id, cmd, buf) = (a[0] as i32, a[1] as i32, a[2]);
    if id < 0 && cmd != ipc::IPC_INFO && cmd != shm::SHM_INFO {
        return err(libc::EINVAL);
    }
    let new = if cmd == ipc::IPC_SET {
        Some(t.mm.read_obj::<shm::ShmidDs>(buf)?)
    } else {
        None
    };
    match shm::shmctl(&creds(t), id, cmd, new.as_ref())? {
        shm::CtlOut::Value(v) => Ok(v),
        shm::CtlOut::Stat(r, s) => t.mm.write_obj(buf, &s).map(|_| r),
        shm::CtlOut::Info(r, i) => t.mm.write_obj(buf, &i).map(|_| r),
        shm::CtlOut::ShmInfo(r, i) => t.mm.write_obj(buf, &i).map(|_| r),
    }
}

// Semaphores.

pub fn semget(t: &mut Task, a: Args) -> SysResult<u64> {
    sem::semget(&creds(t), a[0] as i32, a[1] as i32, a[2] as i32).map(|id| id as u64)
}

pub fn semop(t: &mut Task, a: Args) -> SysResult<u64> {
    semtimedop(t, [a[0], a[1], a[2], 0, 0, 0])
}

pub fn semtimedop(t: &mut Task, a: Args) -> SysResult<u64> {
    let (id, sops, nsops) = (a[0] as i32, a[1], a[2]);
    if nsops < 1 || id < 0 {
        return err(libc::EINVAL);
    }
    if nsops as usize > sem::SEMOPM {
        return err(libc::E2BIG);
    }
    let deadline = if a[3] != 0 {
        let ts: libc::timespec = t.mm.read_obj(a[3])?;
        let d = crate::kernel::timers::duration_of(&ts)?;
        Some(Instant::now() + d)
    } else {
        None
    };
    let mut ops = Vec::with_capacity(nsops as usize);
    for i in 0..nsops {
        ops.push(t.mm.read_obj::<sem::SemBuf>(sops + i * 6)?);
    }
    let c = creds(t);
    let (pid, tid) = (t.pid(), t.tid);
    let mut waited = false;
    let r = t.block(None, deadline, |_| {
        let r = sem::try_semop(&c, pid, tid, id, &ops, waited);
        waited = true;
        match r {
            Ok(false) => None,
            Ok(true) => Some(Ok(0)),
            Err(e) => Some(Err(e)),
        }
    });
    sem::unwait(id, tid);
    match r {
        Ok(r) => r,
        Err(e) if e.0 == libc::ETIMEDOUT => err(libc::EAGAIN),
        Err(e) => Err(interrupted(e)),
    }
}

pub fn semctl(t: &mut Task, a: Args) -> SysResult<u64> {
    let (id, num, cmd, arg) = (a[0] as i32, a[1] as i32, a[2] as i32, a[3]);
    let input = match cmd {
        sem::SETVAL => sem::CtlIn::Value(arg as i32),
        sem::SETALL => {
            let n = sem::nsems(id)?;
            let mut vals = vec![0u16; n];
            for (i, v) in vals.iter_mut().enumerate() {
                *v = t.mm.read_obj(arg + i as u64 * 2)?;
            }
            sem::CtlIn::Values(vals)
        }
        ipc::IPC_SET => sem::CtlIn::Set(t.mm.read_obj::<sem::SemidDs>(arg)?.perm),
        _ => sem::CtlIn::None,
    };
    match sem::semctl(&creds(t), t.pid(), id, num, cmd, input)? {
        sem::CtlOut::Value(v) => Ok(v),
        sem::CtlOut::Stat(r, s) => t.mm.write_obj(arg, &s).map(|_| r),
        sem::CtlOut::Info(r, i) => t.mm.write_obj(arg, &i).map(|_| r),
        sem::CtlOut::Values(vals) => {
            let bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_ne_bytes()).collect();
            t.mm.write(arg, &bytes).map(|_| 0)
        }
    }
}

// Message queues.

pub fn msgget(t: &mut Task, a: Args) -> SysResult<u64> {
    msg::msgget(&creds(t), a[0] as i32, a[1] as i32).map(|id| id as u64)
}

pub fn msgsnd(t: &mut Task, a: Args) -> SysResult<u64> {
    let (id, ptr, size, flags) = (a[0] as i32, a[1], a[2] as i64, a[3] as i32);
    if id < 0 || !(0..=msg::MSGMAX as i64).contains(&size) {
        return err(libc::EINVAL);
    }
    let mtype: i64 = t.mm.read_obj(ptr)?;
    if mtype < 1 {
        return err(libc::EINVAL);
    }
    let mut text = vec![0u8; size as usize];
    t.mm.read(ptr + 8, &mut text)?;
    let c = creds(t);
    let pid = t.pid();
    let mut waited = false;
    let r = t.block(None, None, |_| {
        let r = msg::try_send(&c, pid, id, mtype, &text, flags, waited);
        waited = true;
        match r {
            Ok(false) => None,
            Ok(true) => Some(Ok(0)),
            Err(e) => Some(Err(e)),
        }
    });
    r.map_err(interrupted)?
}

pub fn msgrcv(t: &mut Task, a: Args) -> SysResult<u64> {
    let (id, ptr, size, msgtyp, flags) = (a[0] as i32, a[1], a[2] as i64, a[3] as i64, a[4] as i32);
    if id < 0 || size < 0 {
        return err(libc::EINVAL);
    }
    if flags & msg::MSG_COPY != 0 && (flags & ipc::IPC_NOWAIT == 0 || flags & msg::MSG_EXCEPT != 0)
    {
        return err(libc::EINVAL);
    }
    // No message is longer than MSGMAX.
    let max = (size as u64).min(msg::MSGMAX as u64) as usize;
    let c = creds(t);
    let pid = t.pid();
    let mut waited = false;
    let got = t.block(None, None, |_| {
        let r = msg::try_receive(&c, pid, id, msgtyp, max, flags, waited);
        waited = true;
        match r {
            Ok(None) => None,
            Ok(Some(m)) => Some(Ok(m)),
            Err(e) => Some(Err(e)),
        }
    });
    let (mtype, text) = got.map_err(interrupted)??;
    t.mm.write_obj(ptr, &mtype)?;
    t.mm.write(ptr + 8, &text)?;
    Ok(text.len() as u64)
}

pub fn msgctl(t: &mut Task, a: Args) -> SysResult<u64> {
    let (id, cmd, buf) = (a[0] as i32, a[1] as i32, a[2]);
    if id < 0 && cmd != ipc::IPC_INFO && cmd != msg::MSG_INFO {
        return err(libc::EINVAL);
    }
    let new = if cmd == ipc::IPC_SET {
        Some(t.mm.read_obj::<msg::MsqidDs>(buf)?)
    } else {
        None
    };
    match msg::msgctl(&creds(t), id, cmd, new.as_ref())? {
        msg::CtlOut::Value(v) => Ok(v),
        msg::CtlOut::Stat(r, s) => t.mm.write_obj(buf, &s).map(|_| r),
        msg::CtlOut::Info(r, i) => t.mm.write_obj(buf, &i).map(|_| r),
    }
}
