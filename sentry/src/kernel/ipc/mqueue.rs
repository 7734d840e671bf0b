//! POSIX message queues: named queues of prioritised messages behind
//! descriptors (mq_open). The queue is the file: poll, select and epoll
//! see it readable when a message waits and writable when there is room.
//! Sending and receiving never block here; the system calls wait
//! (syscalls/mqueue.rs). Names live in the sandbox's IPC namespace, not
//! in the /dev/mqueue mount, which stays an empty directory.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::errno::{err, Errno, SysResult};
use crate::fs::eventfd::{anon_ino, ANON_DEV};
use crate::kernel::creds::Creds;
use crate::kernel::events::Seq;
use crate::kernel::ipc::PerNs;
use crate::kernel::process::lock;
use crate::kernel::signal::SigInfo;
use crate::vfs::{FileOps, FileType, Stat};

/// Linux's defaults for unprivileged queues, and the hard limits root may
/// go to (fs.mqueue.msg_max, msgsize_max, HARD_MSGMAX, HARD_MSGSIZEMAX).
pub const DFLT_MAXMSG: i64 = 10;
pub const DFLT_MSGSIZE: i64 = 8192;
pub const HARD_MAXMSG: i64 = 65536;
pub const HARD_MSGSIZE: i64 = 16 << 20;
pub const MQ_PRIO_MAX: u32 = 32768;
/// fs.mqueue.queues_max.
pub const QUEUES_MAX: usize = 256;
/// What the Sentry counts per message beside its text (RLIMIT_MSGQUEUE).
const MSG_OVERHEAD: i64 = 48;
/// si_code of a message queue notification.
pub const SI_MESGQ: i32 = -3;

/// A registered mq_notify: who gets which signal.
#[derive(Clone, Copy)]
pub struct Notify {
    pub pid: i32,
    /// 0 for SIGEV_NONE.
    pub signo: i32,
    pub value: u64,
}

struct State {
    /// (priority, arrival, text), highest priority first, FIFO within one.
    msgs: Vec<(u32, u64, Vec<u8>)>,
    arrivals: u64,
    bytes: u64,
    notify: Option<Notify>,
    mode: u32,
}

pub struct Mq {
    pub maxmsg: i64,
    pub msgsize: i64,
    pub uid: u32,
    pub gid: u32,
    /// What the queue costs its creator against RLIMIT_MSGQUEUE.
    charge: u64,
    state: Mutex<State>,
    seq: Seq,
    ino: u64,
    /// The namespace it was created in (un-charged there when it goes).
    ns: std::sync::Weak<Mutex<Namespace>>,
}

/// Names → queues, and bytes charged per uid (RLIMIT_MSGQUEUE).
struct Namespace {
    names: BTreeMap<String, Arc<Mq>>,
    charged: BTreeMap<u32, u64>,
}

static NS: PerNs<Namespace> = PerNs::new(|| Namespace {
    names: BTreeMap::new(),
    charged: BTreeMap::new(),
});

impl Drop for Mq {
    fn drop(&mut self) {
        let Some(ns) = self.ns.upgrade() else { return };
        let mut ns = lock(&ns);
        if let Some(c) = ns.charged.get_mut(&self.uid) {
            *c = c.saturating_sub(self.charge);
        }
    }
}

/// mq_open's attributes for a new queue.
pub struct Create {
    pub mode: u32,
    /// (maxmsg, msgsize) from the caller, or the defaults.
    pub attr: Option<(i64, i64)>,
    /// RLIMIT_MSGQUEUE of the caller.
    pub limit: u64,
}

/// Checks a queue name as the kernel sees it (glibc strips the leading
/// slash): not empty, no slash, at most NAME_MAX bytes.
fn check_name(name: &str) -> SysResult<()> {
    if name.is_empty() {
        return err(libc::ENOENT);
    }
    if name.len() > 255 {
        return err(libc::ENAMETOOLONG);
    }
    if name.contains('/') || name == "." || name == ".." {
        return err(libc::EACCES);
    }
    Ok(())
}

/// mq_open: the queue `name`, created as `create` says when missing (or
/// EEXIST with `excl`), checked for the access `want` (r=4, w=2).
pub fn open(
    name: &str,
    creds: &Creds,
    want: u32,
    create: Option<Create>,
    excl: bool,
) -> SysResult<Arc<Mq>> {
    check_name(name)?;
    let registry = NS.current();
    let mut ns = lock(&registry);
    if let Some(q) = ns.names.get(name) {
        if create.is_some() && excl {
            return err(libc::EEXIST);
        }
        let mode = lock(&q.state).mode;
        if !creds.may_access(mode, q.uid, q.gid, want, false) {
            return err(libc::EACCES);
        }
        return Ok(q.clone());
    }
    let Some(c) = create else {
        return err(libc::ENOENT);
    };
    let (maxmsg, msgsize) = c.attr.unwrap_or((DFLT_MAXMSG, DFLT_MSGSIZE));
    if maxmsg <= 0 || msgsize <= 0 || maxmsg > HARD_MAXMSG || msgsize > HARD_MSGSIZE {
        return err(libc::EINVAL);
    }
    if !creds.has(crate::kernel::caps::SYS_RESOURCE)
        && (maxmsg > DFLT_MAXMSG || msgsize > DFLT_MSGSIZE)
    {
        return err(libc::EINVAL);
    }
    if ns.names.len() >= QUEUES_MAX && !creds.has(crate::kernel::caps::SYS_RESOURCE) {
        return err(libc::ENOSPC);
    }
    let charge = (maxmsg * (msgsize + MSG_OVERHEAD)) as u64;
    let used = ns.charged.get(&creds.euid).copied().unwrap_or(0);
    if used.saturating_add(charge) > c.limit {
        return err(libc::EMFILE);
    }
    *ns.charged.entry(creds.euid).or_default() += charge;
    let q = Arc::new(Mq {
        maxmsg,
        msgsize,
        uid: creds.euid,
        gid: creds.egid,
        charge,
        state: Mutex::new(State {
            msgs: Vec::new(),
            arrivals: 0,
            bytes: 0,
            notify: None,
            mode: c.mode & 0o777,
        }),
        seq: Seq::default(),
        ino: anon_ino(),
        ns: Arc::downgrade(&registry),
    });
    ns.names.insert(name.to_string(), q.clone());
    Ok(q)
}

/// mq_unlink: the name goes; open descriptors keep the queue.
pub fn unlink(name: &str, creds: &Creds) -> SysResult<()> {
    check_name(name)?;
    let registry = NS.current();
    let mut ns = lock(&registry);
    let q = ns.names.get(name).ok_or(Errno(libc::ENOENT))?;
    // The mqueue root is sticky: only the owner (or CAP_FOWNER) removes.
    if q.uid != creds.euid && !creds.has(crate::kernel::caps::FOWNER) {
        return err(libc::EACCES);
    }
    let gone = ns.names.remove(name);
    // Dropped unlocked: the last reference un-charges the owner under NS.
    drop(ns);
    drop(gone);
    Ok(())
}

impl Mq {
    /// Queues a message; Ok(false) when full. A message arriving in an
    /// empty queue fires a registered notification (`sender`: pid, uid).
    pub fn send(&self, text: &[u8], prio: u32, sender: (i32, u32)) -> SysResult<bool> {
        if text.len() as i64 > self.msgsize {
            return err(libc::EMSGSIZE);
        }
        let mut st = lock(&self.state);
        if st.msgs.len() as i64 >= self.maxmsg {
            return Ok(false);
        }
        let was_empty = st.msgs.is_empty();
        st.arrivals += 1;
        let arrival = st.arrivals;
        let at = st
            .msgs
            .iter()
            .position(|m| m.0 < prio)
            .unwrap_or(st.msgs.len());
        st.msgs.insert(at, (prio, arrival, text.to_vec()));
        st.bytes += text.len() as u64;
        let fire = if was_empty { st.notify.take() } else { None };
        drop(st);
        self.seq.bump();
        if let Some(n) = fire {
            deliver(n, sender);
        }
        Ok(true)
    }

    /// Takes the oldest message of the highest priority; None when empty.
    pub fn receive(&self, room: usize) -> SysResult<Option<(Vec<u8>, u32)>> {
        if (room as i64) < self.msgsize {
            return err(libc::EMSGSIZE);
        }
        let mut st = lock(&self.state);
        if st.msgs.is_empty() {
            return Ok(None);
        }
        let (prio, _, text) = st.msgs.remove(0);
        st.bytes -= text.len() as u64;
        drop(st);
        self.seq.bump();
        Ok(Some((text, prio)))
    }

    /// mq_notify: registers `n` for the calling process (EBUSY if another
    /// is registered), or with None removes the caller's registration.
    pub fn set_notify(&self, pid: i32, n: Option<Notify>) -> SysResult<()> {
        let mut st = lock(&self.state);
        match n {
            None => {
                if st.notify.is_some_and(|cur| cur.pid == pid) {
                    st.notify = None;
                }
                Ok(())
            }
            Some(n) => {
                if st.notify.is_some() {
                    return err(libc::EBUSY);
                }
                st.notify = Some(n);
                Ok(())
            }
        }
    }

    /// The number of messages waiting (mq_curmsgs).
    pub fn curmsgs(&self) -> i64 {
        lock(&self.state).msgs.len() as i64
    }

    /// A process ends: its registration goes (Linux drops it at close).
    pub fn forget(&self, pid: i32) {
        let mut st = lock(&self.state);
        if st.notify.is_some_and(|n| n.pid == pid) {
            st.notify = None;
        }
    }
}

fn deliver(n: Notify, sender: (i32, u32)) {
    if n.signo == 0 {
        return;
    }
    let Some(k) = crate::kernel::get() else {
        return;
    };
    let Some(p) = k.process(n.pid) else { return };
    let mut info = SigInfo::new(n.signo, SI_MESGQ);
    info.fields[0] = (sender.0 as u32 as u64) | ((sender.1 as u64) << 32);
    info.fields[1] = n.value;
    k.send_signal(&p, info, false);
}

/// An open queue: what the descriptor refers to.
pub struct MqFile {
    pub mq: Arc<Mq>,
    /// The process that opened it, whose notification goes at its last close.
    pub opener: i32,
}

impl FileOps for MqFile {
    /// Reading the descriptor describes the queue, as Linux's mqueue file.
    fn read(&self, buf: &mut [u8], off: u64) -> SysResult<usize> {
        let st = lock(&self.mq.state);
        let (signo, pid) = st.notify.map_or((0, 0), |n| (n.signo, n.pid));
        let text = format!(
            "QSIZE:{:<10} NOTIFY:{:<5} SIGNO:{:<5} NOTIFY_PID:{:<6}\n",
            st.bytes,
            if st.notify.is_some() && signo == 0 {
                1
            } else {
                0
            },
            signo,
            pid
        );
        let bytes = text.as_bytes();
        let start = (off as usize).min(bytes.len());
        let n = (bytes.len() - start).min(buf.len());
        buf[..n].copy_from_slice(&bytes[start..start + n]);
        Ok(n)
    }

    fn seekable(&self) -> bool {
        true
    }

    fn stat(&self) -> SysResult<Stat> {
        let mode = lock(&self.mq.state).mode;
        let mut s = Stat::synthetic(ANON_DEV, self.mq.ino, FileType::Regular, mode, 0);
        s.uid = self.mq.uid;
        s.gid = self.mq.gid;
        Ok(s)
    }

    fn poll(&self) -> i16 {
        let n = self.mq.curmsgs();
        let mut ev = 0;
        if n > 0 {
            ev |= libc::POLLIN | libc::POLLRDNORM;
        }
        if n < self.mq.maxmsg {
            ev |= libc::POLLOUT | libc::POLLWRNORM;
        }
        ev
    }

    fn event_seq(&self) -> u64 {
        self.mq.seq.get()
    }

    fn release(&self) {
        self.mq.forget(self.opener);
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_then_arrival() {
        let c = Creds::new(0, 0, vec![], crate::kernel::caps::CapSets::full());
        let create = Create {
            mode: 0o600,
            attr: Some((4, 16)),
            limit: u64::MAX,
        };
        let q = open("unit-prio", &c, 6, Some(create), true).unwrap();
        for (t, p) in [("a", 1), ("b", 5), ("c", 1), ("d", 5)] {
            assert!(q.send(t.as_bytes(), p, (1, 0)).unwrap());
        }
        assert!(!q.send(b"e", 0, (1, 0)).unwrap());
        assert_eq!(q.send(&[0; 17], 0, (1, 0)), Err(Errno(libc::EMSGSIZE)));
        let order: Vec<(String, u32)> = (0..4)
            .map(|_| {
                let (t, p) = q.receive(16).unwrap().unwrap();
                (String::from_utf8(t).unwrap(), p)
            })
            .collect();
        assert_eq!(
            order,
            [("b", 5), ("d", 5), ("a", 1), ("c", 1)]
                .map(|(s, p)| (s.to_string(), p))
                .to_vec()
        );
        assert_eq!(q.receive(16).unwrap(), None);
        assert_eq!(q.receive(15), Err(Errno(libc::EMSGSIZE)));
        unlink("unit-prio", &c).unwrap();
        assert!(open("unit-prio", &c, 4, None, false).is_err());
        assert_eq!(check_name("a/b"), Err(Errno(libc::EACCES)));
    }
}
