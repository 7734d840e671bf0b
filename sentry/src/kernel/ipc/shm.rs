//! SysV shared memory segments: shmget, shmctl, and the bookkeeping of
//! shmat/shmdt (the mapping itself is mm/sysv_shm.rs).
//!
//! A segment's memory is a [`Backing`] of the memory file. The namespace
//! holds it strongly until IPC_RMID; attachments (mappings) hold it too.
//! After IPC_RMID with attachments left, the namespace keeps only a weak
//! reference: the id stays visible (SHM_DEST, key IPC_PRIVATE) until the
//! last detach, and the memory goes with the last mapping, as on Linux.

use std::sync::{Arc, Mutex, Weak};

use super::{now_secs, Entry, Got, Ipc64Perm, PerNs, Registry};
use crate::errno::{err, Errno, SysResult};
use crate::kernel::creds::Creds;
use crate::kernel::process::lock;
use crate::mm::memfile::{Backing, MemoryFile};
use crate::mm::page_up;

/// SHMMNI, SHMMIN and SHMMAX as Linux sets them by default.
pub const SHMMNI: usize = 4096;
pub const SHMMIN: u64 = 1;
pub const SHMMAX: u64 = u64::MAX - (1 << 24);
/// SHMALL (pages) by default.
pub const SHMALL: u64 = u64::MAX - (1 << 24);

/// Mode flags beside the permission bits.
pub const SHM_DEST: u32 = 0o1000;
pub const SHM_LOCKED: u32 = 0o2000;

/// shmat flags.
pub const SHM_RDONLY: i32 = 0o10000;
pub const SHM_RND: i32 = 0o20000;
pub const SHM_REMAP: i32 = 0o40000;
pub const SHM_EXEC: i32 = 0o100000;

/// shmctl commands beyond IPC_*.
pub const SHM_LOCK: i32 = 11;
pub const SHM_UNLOCK: i32 = 12;
pub const SHM_STAT: i32 = 13;
pub const SHM_INFO: i32 = 14;
pub const SHM_STAT_ANY: i32 = 15;

enum Memory {
    /// Held by the namespace (before IPC_RMID).
    Held(Arc<Backing>),
    /// Marked for destruction: alive only while attached.
    Dying(Weak<Backing>),
}

pub struct Segment {
    mem: Memory,
    /// shm_segsz: the size asked for (the mapping is page-rounded).
    size: u64,
    atime: i64,
    dtime: i64,
    ctime: i64,
    cpid: i32,
    lpid: i32,
}

impl Segment {
    fn backing(&self) -> Option<Arc<Backing>> {
        match &self.mem {
            Memory::Held(b) => Some(b.clone()),
            Memory::Dying(w) => w.upgrade(),
        }
    }

    /// How many mappings hold the segment (shm_nattch). Linux counts
    /// mappings too: a split attachment counts twice.
    fn nattch(&self) -> u64 {
        match &self.mem {
            Memory::Held(b) => Arc::strong_count(b) as u64 - 1,
            Memory::Dying(w) => w.strong_count() as u64,
        }
    }

    fn is(&self, b: &Arc<Backing>) -> bool {
        match &self.mem {
            Memory::Held(h) => Arc::ptr_eq(h, b),
            Memory::Dying(w) => std::ptr::eq(w.as_ptr(), Arc::as_ptr(b)),
        }
    }

    fn alive(&self) -> bool {
        match &self.mem {
            Memory::Held(_) => true,
            Memory::Dying(w) => w.strong_count() > 0,
        }
    }
}

static SEGMENTS: PerNs<Registry<Segment>> = PerNs::new(|| Registry::new(SHMMNI));

/// A namespace's registry, with segments destroyed since the last look
/// dropped.
fn segments(all: &Mutex<Registry<Segment>>) -> std::sync::MutexGuard<'_, Registry<Segment>> {
    let mut r = lock(all);
    r.retain(Segment::alive);
    r
}

pub fn shmget(
    memfile: &Arc<MemoryFile>,
    creds: &Creds,
    pid: i32,
    key: i32,
    size: u64,
    flags: i32,
) -> SysResult<i32> {
    let all = SEGMENTS.current();
    let mut r = segments(&all);
    match r.get(key, flags, creds) {
        Ok(Got::Existing(id)) => {
            if r.lookup(id)?.obj.size < size {
                return err(libc::EINVAL);
            }
            Ok(id)
        }
        Ok(Got::Create) => {
            if !(SHMMIN..=SHMMAX).contains(&size) {
                return err(libc::EINVAL);
            }
            let len = page_up(size).ok_or(Errno(libc::EINVAL))?;
            let total: u64 = r.iter().map(|(_, e)| e.obj.size).sum();
            if total.saturating_add(len) / crate::mm::PAGE_SIZE > SHMALL {
                return err(libc::ENOSPC);
            }
            let backing = memfile.allocate(len).ok_or(Errno(libc::ENOMEM))?;
            let seg = Segment {
                mem: Memory::Held(Arc::new(backing)),
                size,
                atime: 0,
                dtime: 0,
                ctime: now_secs(),
                cpid: pid,
                lpid: 0,
            };
            r.insert(key, flags, creds, seg)
        }
        Err(e) => Err(e),
    }
}

/// What shmat maps: the segment's memory and its name for /proc.
pub struct Attach {
    pub backing: Arc<Backing>,
    pub key: i32,
}

/// shmat's checks: read access, and write access unless SHM_RDONLY.
/// Records the attach time and pid (before the mapping exists, which
/// cannot fail for want of the segment: the backing is held).
pub fn attach(creds: &Creds, pid: i32, id: i32, readonly: bool) -> SysResult<Attach> {
    let all = SEGMENTS.current();
    let mut r = segments(&all);
    let e = r.lookup_mut(id)?;
    let want = if readonly {
        super::READ
    } else {
        super::READ | super::WRITE
    };
    e.perm.check(creds, want)?;
    let backing = e.obj.backing().ok_or(Errno(libc::EIDRM))?;
    e.obj.atime = now_secs();
    e.obj.lpid = pid;
    Ok(Attach {
        backing,
        key: e.perm.key,
    })
}

/// Whether `b` is the memory of a segment (shmdt's test).
pub fn is_segment(b: &Arc<Backing>) -> bool {
    lock(&SEGMENTS.current()).iter().any(|(_, e)| e.obj.is(b))
}

/// shmdt is done: records the detach time and pid.
pub fn detached(b: &Arc<Backing>, pid: i32) {
    let all = SEGMENTS.current();
    let mut r = lock(&all);
    let ids: Vec<i32> = r
        .iter()
        .filter(|(_, e)| e.obj.is(b))
        .map(|(id, _)| id)
        .collect();
    for id in ids {
        if let Ok(e) = r.lookup_mut(id) {
            e.obj.dtime = now_secs();
            e.obj.lpid = pid;
        }
    }
}

/// `struct shmid64_ds` (x86_64, 112 bytes).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct ShmidDs {
    pub perm: Ipc64Perm,
    pub segsz: u64,
    pub atime: i64,
    pub dtime: i64,
    pub ctime: i64,
    pub cpid: i32,
    pub lpid: i32,
    pub nattch: u64,
    pub unused4: u64,
    pub unused5: u64,
}

const _: () = assert!(std::mem::size_of::<ShmidDs>() == 112);

fn stat_of(e: &Entry<Segment>) -> ShmidDs {
    let s = &e.obj;
    ShmidDs {
        perm: e.perm.to_linux(),
        segsz: s.size,
        atime: s.atime,
        dtime: s.dtime,
        ctime: s.ctime,
        cpid: s.cpid,
        lpid: s.lpid,
        nattch: s.nattch(),
        ..Default::default()
    }
}

/// `struct shminfo64` (IPC_INFO).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct ShmInfo64 {
    pub shmmax: u64,
    pub shmmin: u64,
    pub shmmni: u64,
    pub shmseg: u64,
    pub shmall: u64,
    pub unused: [u64; 4],
}

/// `struct shm_info` (SHM_INFO).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct ShmInfo {
    pub used_ids: i32,
    pub pad: i32,
    pub shm_tot: u64,
    pub shm_rss: u64,
    pub shm_swp: u64,
    pub swap_attempts: u64,
    pub swap_successes: u64,
}

/// What shmctl hands back to be copied out.
pub enum CtlOut {
    Value(u64),
    Stat(u64, ShmidDs),
    Info(u64, ShmInfo64),
    ShmInfo(u64, ShmInfo),
}

/// shmctl. `new` is the caller's shmid_ds for IPC_SET.
pub fn shmctl(creds: &Creds, id: i32, cmd: i32, new: Option<&ShmidDs>) -> SysResult<CtlOut> {
    let all = SEGMENTS.current();
    let mut r = segments(&all);
    match cmd {
        super::IPC_INFO => Ok(CtlOut::Info(
            r.highest_index() as u64,
            ShmInfo64 {
                shmmax: SHMMAX,
                shmmin: SHMMIN,
                shmmni: SHMMNI as u64,
                shmseg: SHMMNI as u64,
                shmall: SHMALL,
                ..Default::default()
            },
        )),
        SHM_INFO => {
            let pages = |e: &Entry<Segment>| page_up(e.obj.size).unwrap_or(0) / 4096;
            Ok(CtlOut::ShmInfo(
                r.highest_index() as u64,
                ShmInfo {
                    used_ids: r.len() as i32,
                    shm_tot: r.iter().map(|(_, e)| pages(e)).sum(),
                    ..Default::default()
                },
            ))
        }
        SHM_STAT | SHM_STAT_ANY => {
            let (sid, e) = r.at_index(id).ok_or(Errno(libc::EINVAL))?;
            if cmd == SHM_STAT {
                e.perm.check(creds, super::READ)?;
            }
            Ok(CtlOut::Stat(sid as u64, stat_of(e)))
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
            e.perm.set(&new.perm);
            e.obj.ctime = now_secs();
            Ok(CtlOut::Value(0))
        }
        super::IPC_RMID => {
            let e = r.lookup_mut(id)?;
            e.perm.check_owner(creds)?;
            if e.obj.nattch() == 0 {
                r.remove(id);
            } else {
                if let Memory::Held(b) = &e.obj.mem {
                    e.obj.mem = Memory::Dying(Arc::downgrade(b));
                }
                e.perm.mode |= SHM_DEST;
                r.forget_key(id);
            }
            Ok(CtlOut::Value(0))
        }
        SHM_LOCK | SHM_UNLOCK => {
            // Nothing is ever swapped out of the memory file's view: only
            // the flag changes (CAP_IPC_LOCK or the owner, as Linux).
            let e = r.lookup_mut(id)?;
            e.perm.check_owner(creds)?;
            if cmd == SHM_LOCK {
                e.perm.mode |= SHM_LOCKED;
            } else {
                e.perm.mode &= !SHM_LOCKED;
            }
            Ok(CtlOut::Value(0))
        }
        _ => err(libc::EINVAL),
    }
}

/// Keys of live segments (a check that nothing leaked).
#[cfg(test)]
pub fn count() -> usize {
    segments(&SEGMENTS.current()).len()
}

#[cfg(test)]
mod tests {
    use super::super::IPC_PRIVATE;
    use super::*;

    #[test]
    fn rmid_waits_for_the_last_attachment() {
        let memfile = MemoryFile::new().unwrap();
        let c = Creds::new(0, 0, vec![], crate::kernel::caps::CapSets::full());
        let id = shmget(&memfile, &c, 1, IPC_PRIVATE, 5000, 0o600).unwrap();
        let a = attach(&c, 1, id, false).unwrap();
        assert_eq!(a.backing.len, 8192);
        assert!(is_segment(&a.backing));
        let stat = |id| match shmctl(&c, id, super::super::IPC_STAT, None) {
            Ok(CtlOut::Stat(_, s)) => s,
            _ => panic!("no stat"),
        };
        assert_eq!(stat(id).nattch, 1);
        assert_eq!(stat(id).segsz, 5000);
        shmctl(&c, id, super::super::IPC_RMID, None).unwrap();
        // Still there, marked, while attached.
        assert_eq!(stat(id).perm.mode & SHM_DEST, SHM_DEST);
        drop(a);
        assert!(shmctl(&c, id, super::super::IPC_STAT, None).is_err());
        let before = count();
        let id2 = shmget(&memfile, &c, 1, IPC_PRIVATE, 100, 0o600).unwrap();
        shmctl(&c, id2, super::super::IPC_RMID, None).unwrap();
        assert_eq!(count(), before);
    }
}
