//! POSIX message queue system calls: mq_open, mq_unlink, mq_timedsend,
//! mq_timedreceive, mq_notify, mq_getsetattr (the queues are
//! kernel/ipc/mqueue.rs). Waits end at the absolute CLOCK_REALTIME
//! timeout (ETIMEDOUT) or at a signal (restarted under SA_RESTART).

use std::sync::Arc;
use std::time::Instant;

use super::Args;
use crate::errno::{err, Errno, SysResult};
use crate::kernel::ipc::mqueue::{self, Create, MqFile, Notify};
use crate::kernel::process::lock;
use crate::kernel::signal::NSIG;
use crate::kernel::task::Task;
use crate::kernel::timers::{duration_of, Clock};
use crate::vfs::OpenFile;

/// `struct mq_attr`: flags, maxmsg, msgsize, curmsgs, and 4 reserved.
type MqAttr = [i64; 8];

pub fn mq_open(t: &mut Task, a: Args) -> SysResult<u64> {
    let name = t.path_arg(a[0])?;
    let oflag = a[1] as i32;
    let acc = oflag & libc::O_ACCMODE;
    let want = match acc {
        libc::O_RDONLY => 4,
        libc::O_WRONLY => 2,
        libc::O_RDWR => 6,
        _ => return err(libc::EINVAL),
    };
    let create = if oflag & libc::O_CREAT != 0 {
        let attr = if a[3] != 0 {
            let at: MqAttr = t.mm.read_obj(a[3])?;
            Some((at[1], at[2]))
        } else {
            None
        };
        let umask = lock(&t.proc.fs).umask;
        Some(Create {
            mode: a[2] as u32 & !umask,
            attr,
            limit: t.rlimit(libc::RLIMIT_MSGQUEUE).0,
        })
    } else {
        None
    };
    let creds = lock(&t.proc.state).creds.clone();
    let excl = oflag & libc::O_EXCL != 0;
    let mq = mqueue::open(&name, &creds, want, create, excl)?;
    let file = OpenFile::new(
        Arc::new(MqFile {
            mq,
            opener: t.pid(),
        }),
        None,
        format!("/{name}"),
        acc | (oflag & libc::O_NONBLOCK),
    );
    t.install(file, oflag & libc::O_CLOEXEC != 0)
}

pub fn mq_unlink(t: &mut Task, a: Args) -> SysResult<u64> {
    let name = t.path_arg(a[0])?;
    let creds = lock(&t.proc.state).creds.clone();
    mqueue::unlink(&name, &creds).map(|_| 0)
}

/// The queue behind descriptor `fd` and its open description (EBADF if
/// it is not a queue).
fn queue(t: &Task, fd: u64) -> SysResult<(Arc<OpenFile>, Arc<mqueue::Mq>)> {
    let f = t.file(fd)?;
    let mq = f
        .ops
        .as_any()
        .and_then(|a| a.downcast_ref::<MqFile>())
        .map(|m| m.mq.clone())
        .ok_or(Errno(libc::EBADF))?;
    Ok((f, mq))
}

/// An absolute CLOCK_REALTIME timeout as a host instant (EINVAL if bad).
fn deadline(t: &Task, addr: u64) -> SysResult<Option<Instant>> {
    if addr == 0 {
        return Ok(None);
    }
    let ts: libc::timespec = t.mm.read_obj(addr)?;
    Ok(Some(Clock::Realtime.instant_at(duration_of(&ts)?)))
}

pub fn mq_timedsend(t: &mut Task, a: Args) -> SysResult<u64> {
    let (f, mq) = queue(t, a[0])?;
    if !f.writable() {
        return err(libc::EBADF);
    }
    let (len, prio) = (a[2] as usize, a[3] as u32);
    if a[3] >= mqueue::MQ_PRIO_MAX as u64 {
        return err(libc::EINVAL);
    }
    if len as i64 > mq.msgsize {
        return err(libc::EMSGSIZE);
    }
    let mut text = vec![0u8; len];
    t.mm.read(a[1], &mut text)?;
    let until = deadline(t, a[4])?;
    let sender = (t.pid(), lock(&t.proc.state).creds.uid);
    if !mq.send(&text, prio, sender)? {
        if f.nonblocking() {
            return err(libc::EAGAIN);
        }
        t.block(None, until, |_| match mq.send(&text, prio, sender) {
            Ok(false) => None,
            r => Some(r),
        })??;
    }
    Ok(0)
}

pub fn mq_timedreceive(t: &mut Task, a: Args) -> SysResult<u64> {
    let (f, mq) = queue(t, a[0])?;
    if !f.readable() {
        return err(libc::EBADF);
    }
    let room = a[2] as usize;
    let until = deadline(t, a[4])?;
    let got = match mq.receive(room)? {
        Some(m) => m,
        None if f.nonblocking() => return err(libc::EAGAIN),
        None => t.block(None, until, |_| match mq.receive(room) {
            Ok(None) => None,
            Ok(Some(m)) => Some(Ok(m)),
            Err(e) => Some(Err(e)),
        })??,
    };
    let (text, prio) = got;
    t.mm.write(a[1], &text)?;
    if a[3] != 0 {
        t.mm.write_obj(a[3], &prio)?;
    }
    Ok(text.len() as u64)
}

pub fn mq_notify(t: &mut Task, a: Args) -> SysResult<u64> {
    let (_, mq) = queue(t, a[0])?;
    if a[1] == 0 {
        return mq.set_notify(t.pid(), None).map(|_| 0);
    }
    // struct sigevent: sigev_value, sigev_signo, sigev_notify.
    let mut raw = [0u8; 16];
    t.mm.read(a[1], &mut raw)?;
    let word = |o: usize| i32::from_ne_bytes([raw[o], raw[o + 1], raw[o + 2], raw[o + 3]]);
    let mut v = [0u8; 8];
    v.copy_from_slice(&raw[..8]);
    let (value, signo, how) = (u64::from_ne_bytes(v), word(8), word(12));
    let signo = match how {
        libc::SIGEV_NONE => 0,
        libc::SIGEV_SIGNAL if (1..=NSIG as i32).contains(&signo) => signo,
        // SIGEV_THREAD needs a netlink socket, which the sandbox has not.
        _ => return err(libc::EINVAL),
    };
    mq.set_notify(
        t.pid(),
        Some(Notify {
            pid: t.pid(),
            signo,
            value,
        }),
    )
    .map(|_| 0)
}

pub fn mq_getsetattr(t: &mut Task, a: Args) -> SysResult<u64> {
    let (f, mq) = queue(t, a[0])?;
    let new = if a[1] != 0 {
        let at: MqAttr = t.mm.read_obj(a[1])?;
        if at[0] & !(libc::O_NONBLOCK as i64) != 0 {
            return err(libc::EINVAL);
        }
        Some(at[0])
    } else {
        None
    };
    let old: MqAttr = [
        (f.flags() & libc::O_NONBLOCK) as i64,
        mq.maxmsg,
        mq.msgsize,
        mq.curmsgs(),
        0,
        0,
        0,
        0,
    ];
    if let Some(flags) = new {
        let keep = f.flags() & !libc::O_NONBLOCK;
        f.set_status_flags(keep | flags as i32);
    }
    if a[2] != 0 {
        t.mm.write_obj(a[2], &old)?;
    }
    Ok(0)
}
