//! SysV message queues: msgget, msgsnd, msgrcv (msgtyp selection,
//! MSG_NOERROR, MSG_EXCEPT, MSG_COPY), msgctl. Blocking is the caller's
//! (syscalls/ipc.rs): an attempt that cannot proceed says so and the call
//! retries whenever the kernel's event counter moves.

use std::collections::VecDeque;

use super::{now_secs, Entry, Got, Ipc64Perm, PerNs, Registry};
use crate::errno::{err, Errno, SysResult};
use crate::kernel::creds::Creds;
use crate::kernel::events;
use crate::kernel::process::lock;

/// Linux's defaults: the largest message, a queue's bytes, the most queues.
pub const MSGMAX: usize = 8192;
pub const MSGMNB: u64 = 16384;
pub const MSGMNI: usize = 32000;

/// The most message bytes the sandbox's queues may hold together: they
/// live in the Sentry's own memory, and root may raise a queue's qbytes
/// without bound. A send past it waits (or fails with EAGAIN) as on a
/// full queue.
const SANDBOX_BYTES: u64 = 256 << 20;
/// What the Sentry counts per message beside its text, so that empty
/// messages are bounded too.
const MSG_OVERHEAD: u64 = 64;

pub const MSG_NOERROR: i32 = 0o10000;
pub const MSG_EXCEPT: i32 = 0o20000;
pub const MSG_COPY: i32 = 0o40000;

/// msgctl commands beyond IPC_*.
pub const MSG_STAT: i32 = 11;
pub const MSG_INFO: i32 = 12;
pub const MSG_STAT_ANY: i32 = 13;

pub struct MsgQueue {
    msgs: VecDeque<(i64, Vec<u8>)>,
    cbytes: u64,
    qbytes: u64,
    stime: i64,
    rtime: i64,
    ctime: i64,
    lspid: i32,
    lrpid: i32,
}

static QUEUES: PerNs<Registry<MsgQueue>> = PerNs::new(|| Registry::new(MSGMNI));

pub fn msgget(creds: &Creds, key: i32, flags: i32) -> SysResult<i32> {
    let queues = QUEUES.current();
    let mut r = lock(&queues);
    match r.get(key, flags, creds)? {
        Got::Existing(id) => Ok(id),
        Got::Create => {
            let q = MsgQueue {
                msgs: VecDeque::new(),
                cbytes: 0,
                qbytes: MSGMNB,
                stime: 0,
                rtime: 0,
                ctime: now_secs(),
                lspid: 0,
                lrpid: 0,
            };
            r.insert(key, flags, creds, q)
        }
    }
}

/// The common checks of both directions: the queue (EIDRM once it is
/// gone if the call `waited`) and the caller's access.
fn queue<'a>(
    r: &'a mut Registry<MsgQueue>,
    creds: &Creds,
    id: i32,
    want: u32,
    waited: bool,
) -> SysResult<&'a mut Entry<MsgQueue>> {
    let e = match r.lookup_mut(id) {
        Ok(e) => e,
        Err(_) if waited => return err(libc::EIDRM),
        Err(e) => return Err(e),
    };
    e.perm.check(creds, want)?;
    Ok(e)
}

/// One attempt at msgsnd: Ok(true) sent, Ok(false) the queue is full
/// (EAGAIN with IPC_NOWAIT).
pub fn try_send(
    creds: &Creds,
    pid: i32,
    id: i32,
    mtype: i64,
    text: &[u8],
    flags: i32,
    waited: bool,
) -> SysResult<bool> {
    let queues = QUEUES.current();
    let mut r = lock(&queues);
    let held: u64 = r
        .iter()
        .map(|(_, e)| e.obj.cbytes + e.obj.msgs.len() as u64 * MSG_OVERHEAD)
        .sum();
    let e = queue(&mut r, creds, id, super::WRITE, waited)?;
    let q = &mut e.obj;
    // Linux bounds both the bytes and the number of messages by qbytes.
    let fits = q.cbytes + text.len() as u64 <= q.qbytes
        && (q.msgs.len() as u64) < q.qbytes
        && held + text.len() as u64 + MSG_OVERHEAD <= SANDBOX_BYTES;
    if !fits {
        return if flags & super::IPC_NOWAIT != 0 {
            err(libc::EAGAIN)
        } else {
            Ok(false)
        };
    }
    q.msgs.push_back((mtype, text.to_vec()));
    q.cbytes += text.len() as u64;
    q.stime = now_secs();
    q.lspid = pid;
    drop(r);
    events::notify();
    Ok(true)
}

/// Which message msgrcv takes: the index of the first that matches.
fn select(q: &MsgQueue, msgtyp: i64, flags: i32) -> Option<usize> {
    if flags & MSG_COPY != 0 {
        let i = usize::try_from(msgtyp).ok()?;
        return (i < q.msgs.len()).then_some(i);
    }
    let mut it = q.msgs.iter().enumerate();
    match msgtyp {
        0 => it.next().map(|(i, _)| i),
        t if t > 0 && flags & MSG_EXCEPT != 0 => it.find(|(_, m)| m.0 != t).map(|(i, _)| i),
        t if t > 0 => it.find(|(_, m)| m.0 == t).map(|(i, _)| i),
        t => {
            // The lowest type at or below |msgtyp|, the first of its kind.
            let limit = t.checked_neg().unwrap_or(i64::MAX);
            it.filter(|(_, m)| m.0 <= limit)
                .min_by_key(|(i, m)| (m.0, *i))
                .map(|(i, _)| i)
        }
    }
}

/// One attempt at msgrcv: the message (type and text, cut to `max` with
/// MSG_NOERROR), or None when none matches (ENOMSG with IPC_NOWAIT).
pub fn try_receive(
    creds: &Creds,
    pid: i32,
    id: i32,
    msgtyp: i64,
    max: usize,
    flags: i32,
    waited: bool,
) -> SysResult<Option<(i64, Vec<u8>)>> {
    let queues = QUEUES.current();
    let mut r = lock(&queues);
    let e = queue(&mut r, creds, id, super::READ, waited)?;
    let q = &mut e.obj;
    let Some(i) = select(q, msgtyp, flags) else {
        return if flags & (super::IPC_NOWAIT | MSG_COPY) != 0 {
            err(libc::ENOMSG)
        } else {
            Ok(None)
        };
    };
    if q.msgs[i].1.len() > max && flags & MSG_NOERROR == 0 {
        return err(libc::E2BIG);
    }
    let (mtype, mut text) = if flags & MSG_COPY != 0 {
        q.msgs[i].clone()
    } else {
        let m = q.msgs.remove(i).ok_or(Errno(libc::ENOMSG))?;
        q.cbytes -= m.1.len() as u64;
        q.rtime = now_secs();
        q.lrpid = pid;
        m
    };
    text.truncate(max);
    drop(r);
    if flags & MSG_COPY == 0 {
        events::notify();
    }
    Ok(Some((mtype, text)))
}

/// `struct msqid64_ds` (x86_64, 120 bytes).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct MsqidDs {
    pub perm: Ipc64Perm,
    pub stime: i64,
    pub rtime: i64,
    pub ctime: i64,
    pub cbytes: u64,
    pub qnum: u64,
    pub qbytes: u64,
    pub lspid: i32,
    pub lrpid: i32,
    pub unused4: u64,
    pub unused5: u64,
}

const _: () = assert!(std::mem::size_of::<MsqidDs>() == 120);

/// `struct msginfo` (IPC_INFO, MSG_INFO).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct MsgInfo {
    pub msgpool: i32,
    pub msgmap: i32,
    pub msgmax: i32,
    pub msgmnb: i32,
    pub msgmni: i32,
    pub msgssz: i32,
    pub msgtql: i32,
    pub msgseg: u16,
}

fn stat_of(e: &Entry<MsgQueue>) -> MsqidDs {
    let q = &e.obj;
    MsqidDs {
        perm: e.perm.to_linux(),
        stime: q.stime,
        rtime: q.rtime,
        ctime: q.ctime,
        cbytes: q.cbytes,
        qnum: q.msgs.len() as u64,
        qbytes: q.qbytes,
        lspid: q.lspid,
        lrpid: q.lrpid,
        ..Default::default()
    }
}

pub enum CtlOut {
    Value(u64),
    Stat(u64, MsqidDs),
    Info(u64, MsgInfo),
}

/// msgctl; `new` is IPC_SET's struct.
pub fn msgctl(creds: &Creds, id: i32, cmd: i32, new: Option<&MsqidDs>) -> SysResult<CtlOut> {
    let queues = QUEUES.current();
    let mut r = lock(&queues);
    match cmd {
        super::IPC_INFO | MSG_INFO => {
            let mut i = MsgInfo {
                msgpool: (MSGMNI as u64 * MSGMNB / 1024) as i32,
                msgmap: MSGMNB as i32,
                msgmax: MSGMAX as i32,
                msgmnb: MSGMNB as i32,
                msgmni: MSGMNI as i32,
                msgssz: 16,
                msgtql: MSGMNB as i32,
                msgseg: 0xffff,
            };
            if cmd == MSG_INFO {
                i.msgpool = r.len() as i32;
                i.msgmap = r.iter().map(|(_, e)| e.obj.msgs.len() as i32).sum();
                i.msgtql = r.iter().map(|(_, e)| e.obj.cbytes as i32).sum();
            }
            Ok(CtlOut::Info(r.highest_index() as u64, i))
        }
        MSG_STAT | MSG_STAT_ANY => {
            let (qid, e) = r.at_index(id).ok_or(Errno(libc::EINVAL))?;
            if cmd == MSG_STAT {
                e.perm.check(creds, super::READ)?;
            }
            Ok(CtlOut::Stat(qid as u64, stat_of(e)))
        }
        super::IPC_STAT => {
            let e = r.lookup(id)?;
            e.perm.check(creds, super::READ)?;
            Ok(CtlOut::Stat(0, stat_of(e)))
        }
        super::IPC_SET => {
            let new = new.ok_or(Errno(libc::EFAULT))?;
            let e = r.lookup_mut(id)?;
            e.perm.check_owner(creds)?;
            // Raising a queue above MSGMNB takes CAP_SYS_RESOURCE.
            if new.qbytes > MSGMNB
                && new.qbytes > e.obj.qbytes
                && !creds.has(crate::kernel::caps::SYS_RESOURCE)
            {
                return err(libc::EPERM);
            }
            e.perm.set(&new.perm);
            e.obj.qbytes = new.qbytes;
            e.obj.ctime = now_secs();
            drop(r);
            // A bigger queue may let a sender go on.
            events::notify();
            Ok(CtlOut::Value(0))
        }
        super::IPC_RMID => {
            let e = r.lookup_mut(id)?;
            e.perm.check_owner(creds)?;
            r.remove(id);
            drop(r);
            events::notify();
            Ok(CtlOut::Value(0))
        }
        _ => err(libc::EINVAL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msgtyp_selects_as_linux() {
        let c = Creds::new(0, 0, vec![], crate::kernel::caps::CapSets::full());
        let id = msgget(&c, super::super::IPC_PRIVATE, 0o600).unwrap();
        for (t, s) in [(3, "c"), (1, "a"), (2, "b"), (1, "a2")] {
            assert!(try_send(&c, 1, id, t, s.as_bytes(), 0, false).unwrap());
        }
        let rcv = |typ, flags| {
            try_receive(&c, 1, id, typ, 100, flags, false)
                .unwrap()
                .map(|(t, v)| (t, String::from_utf8(v).unwrap()))
        };
        assert_eq!(
            rcv(1, MSG_COPY | super::super::IPC_NOWAIT),
            Some((1, "a".into()))
        );
        assert_eq!(rcv(-2, 0), Some((1, "a".into())));
        assert_eq!(rcv(2, MSG_EXCEPT), Some((3, "c".into())));
        assert_eq!(rcv(0, 0), Some((2, "b".into())));
        assert_eq!(rcv(5, 0), None);
        assert_eq!(
            try_receive(&c, 1, id, 5, 100, super::super::IPC_NOWAIT, false),
            Err(Errno(libc::ENOMSG))
        );
        assert!(try_send(&c, 1, id, 9, &[0u8; 50], 0, false).unwrap());
        assert_eq!(
            try_receive(&c, 1, id, 9, 10, 0, false),
            Err(Errno(libc::E2BIG))
        );
        assert_eq!(rcv(0, 0), Some((1, "a2".into())));
        assert_eq!(
            try_receive(&c, 1, id, 9, 10, MSG_NOERROR, false)
                .unwrap()
                .map(|m| m.1.len()),
            Some(10)
        );
        msgctl(&c, id, super::super::IPC_RMID, None).unwrap();
        assert_eq!(
            try_send(&c, 1, id, 1, b"x", 0, true),
            Err(Errno(libc::EIDRM))
        );
    }
}
