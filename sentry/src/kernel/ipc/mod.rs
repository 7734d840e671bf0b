//! System V IPC (shared memory, semaphores, message queues) and POSIX
//! message queues. Every object lives in the Sentry, in an IPC namespace:
//! the sandbox's, or one of a pod's container that has its own
//! ([`PerNs`]); it is checked against the credentials of the calling task
//! as Linux's ipcperms does.
//!
//! This module holds what the three SysV kinds share: keys and ids, the
//! permission record (`struct ipc64_perm`), and the registry that maps
//! both to objects.

pub mod mqueue;
pub mod msg;
pub mod sem;
pub mod shm;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::creds::Creds;
use crate::errno::{err, Errno, SysResult};

pub const IPC_PRIVATE: i32 = 0;
pub const IPC_CREAT: i32 = 0o1000;
pub const IPC_EXCL: i32 = 0o2000;
pub const IPC_NOWAIT: i32 = 0o4000;

pub const IPC_RMID: i32 = 0;
pub const IPC_SET: i32 = 1;
pub const IPC_STAT: i32 = 2;
pub const IPC_INFO: i32 = 3;

/// Slots per kind (IPCMNI): an id is `seq * IPCMNI + index`.
pub const IPCMNI: i32 = 32768;

/// Access the caller asks for, as ipcperms' S_IRUGO / S_IWUGO.
pub const READ: u32 = 0o444;
pub const WRITE: u32 = 0o222;

thread_local! {
    /// The IPC namespace of the task this Sentry thread runs (0: the
    /// sandbox's), set when the thread starts.
    static CURRENT_NS: Cell<u64> = const { Cell::new(0) };
}

/// Records the IPC namespace of the task the calling thread runs.
pub fn set_current_ns(ns: u64) {
    CURRENT_NS.with(|c| c.set(ns));
}

/// The IPC namespace of the task the calling thread runs.
pub fn current_ns() -> u64 {
    CURRENT_NS.with(|c| c.get())
}

/// A value of `T` per IPC namespace, made on first use.
pub struct PerNs<T> {
    map: Mutex<BTreeMap<u64, Arc<Mutex<T>>>>,
    make: fn() -> T,
}

impl<T> PerNs<T> {
    pub const fn new(make: fn() -> T) -> PerNs<T> {
        PerNs {
            map: Mutex::new(BTreeMap::new()),
            make,
        }
    }

    /// The calling task's namespace's value.
    pub fn current(&self) -> Arc<Mutex<T>> {
        let mut map = super::process::lock(&self.map);
        map.entry(current_ns())
            .or_insert_with(|| Arc::new(Mutex::new((self.make)())))
            .clone()
    }
}

/// The seconds of CLOCK_REALTIME, for the *_time fields.
pub fn now_secs() -> i64 {
    crate::vfs::stat::now().tv_sec
}

/// An object's owner, creator and mode (`struct kern_ipc_perm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perm {
    pub key: i32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    /// The low nine bits are the permissions; kinds keep flags above them
    /// (SHM_DEST, SHM_LOCKED).
    pub mode: u32,
    pub seq: u16,
}

/// `struct ipc64_perm` as x86_64 Linux lays it out (48 bytes).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Ipc64Perm {
    pub key: i32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    pub mode: u32,
    pub seq: u16,
    pub pad2: u16,
    pub pad3: u32,
    pub unused1: u64,
    pub unused2: u64,
}

const _: () = assert!(std::mem::size_of::<Ipc64Perm>() == 48);

impl Perm {
    fn new(key: i32, creds: &Creds, mode: u32, seq: u16) -> Perm {
        Perm {
            key,
            uid: creds.euid,
            gid: creds.egid,
            cuid: creds.euid,
            cgid: creds.egid,
            mode: mode & 0o777,
            seq,
        }
    }

    pub fn to_linux(self) -> Ipc64Perm {
        Ipc64Perm {
            key: self.key,
            uid: self.uid,
            gid: self.gid,
            cuid: self.cuid,
            cgid: self.cgid,
            mode: self.mode,
            seq: self.seq,
            ..Default::default()
        }
    }

    /// Linux's ipcperms: may `creds` access with `want` (the rwx triplets
    /// folded together)? Root (CAP_IPC_OWNER) may always.
    pub fn allows(&self, creds: &Creds, want: u32) -> bool {
        let requested = (want >> 6) | (want >> 3) | want;
        let granted = if creds.euid == self.cuid || creds.euid == self.uid {
            self.mode >> 6
        } else if in_group(creds, self.cgid) || in_group(creds, self.gid) {
            self.mode >> 3
        } else {
            self.mode
        };
        requested & !granted & 0o7 == 0 || creds.has(crate::kernel::caps::IPC_OWNER)
    }

    /// EACCES unless `creds` may access with `want`.
    pub fn check(&self, creds: &Creds, want: u32) -> SysResult<()> {
        if self.allows(creds, want) {
            Ok(())
        } else {
            err(libc::EACCES)
        }
    }

    /// IPC_SET and IPC_RMID: the owner, the creator or a holder of
    /// CAP_SYS_ADMIN; EPERM for anyone else.
    pub fn check_owner(&self, creds: &Creds) -> SysResult<()> {
        if creds.euid == self.uid
            || creds.euid == self.cuid
            || creds.has(crate::kernel::caps::SYS_ADMIN)
        {
            Ok(())
        } else {
            err(libc::EPERM)
        }
    }

    /// IPC_SET: the new owner and permission bits from the caller's struct.
    pub fn set(&mut self, new: &Ipc64Perm) {
        self.uid = new.uid;
        self.gid = new.gid;
        self.mode = (self.mode & !0o777) | (new.mode & 0o777);
    }
}

fn in_group(creds: &Creds, gid: u32) -> bool {
    creds.egid == gid || creds.groups.contains(&gid)
}

/// One object and its permissions.
pub struct Entry<T> {
    pub perm: Perm,
    pub obj: T,
}

/// The objects of one kind, by index and by key.
pub struct Registry<T> {
    entries: BTreeMap<i32, Entry<T>>,
    keys: BTreeMap<i32, i32>,
    seq: u16,
    /// The most objects of this kind (SHMMNI, SEMMNI, MSGMNI).
    max: usize,
}

/// What an xxxget call found or made.
pub enum Got {
    Existing(i32),
    /// A new id: the caller creates the object with [`Registry::insert`].
    Create,
}

impl<T> Registry<T> {
    pub const fn new(max: usize) -> Registry<T> {
        Registry {
            entries: BTreeMap::new(),
            keys: BTreeMap::new(),
            seq: 0,
            max,
        }
    }

    /// The common part of shmget/semget/msgget: an existing object for
    /// `key` (checked against `flags`' permissions and IPC_EXCL), or
    /// leave to create one (ENOENT without IPC_CREAT, ENOSPC when full).
    pub fn get(&self, key: i32, flags: i32, creds: &Creds) -> SysResult<Got> {
        if key != IPC_PRIVATE {
            if let Some(&idx) = self.keys.get(&key) {
                if flags & IPC_CREAT != 0 && flags & IPC_EXCL != 0 {
                    return err(libc::EEXIST);
                }
                let e = &self.entries[&idx];
                e.perm.check(creds, flags as u32 & 0o777)?;
                return Ok(Got::Existing(self.id_of(idx, e)));
            }
            if flags & IPC_CREAT == 0 {
                return err(libc::ENOENT);
            }
        }
        if self.entries.len() >= self.max {
            return err(libc::ENOSPC);
        }
        Ok(Got::Create)
    }

    fn id_of(&self, idx: i32, e: &Entry<T>) -> i32 {
        e.perm.seq as i32 * IPCMNI + idx
    }

    /// Adds a new object for `key` owned by `creds`; returns its id.
    pub fn insert(&mut self, key: i32, flags: i32, creds: &Creds, obj: T) -> SysResult<i32> {
        let idx = (0..IPCMNI)
            .find(|i| !self.entries.contains_key(i))
            .ok_or(Errno(libc::ENOSPC))?;
        let seq = self.seq;
        // Linux's ids stay positive: the sequence wraps well below i16::MAX.
        self.seq = (self.seq + 1) % (i32::MAX / IPCMNI) as u16;
        let perm = Perm::new(key, creds, flags as u32, seq);
        if key != IPC_PRIVATE {
            self.keys.insert(key, idx);
        }
        self.entries.insert(idx, Entry { perm, obj });
        Ok(seq as i32 * IPCMNI + idx)
    }

    /// The object with `id` (EINVAL if none: a stale or bad id).
    pub fn lookup(&self, id: i32) -> SysResult<&Entry<T>> {
        self.find(id).ok_or(Errno(libc::EINVAL))
    }

    pub fn lookup_mut(&mut self, id: i32) -> SysResult<&mut Entry<T>> {
        if self.find(id).is_none() {
            return err(libc::EINVAL);
        }
        self.entries
            .get_mut(&(id % IPCMNI))
            .ok_or(Errno(libc::EINVAL))
    }

    fn find(&self, id: i32) -> Option<&Entry<T>> {
        if id < 0 {
            return None;
        }
        self.entries
            .get(&(id % IPCMNI))
            .filter(|e| e.perm.seq as i32 == id / IPCMNI)
    }

    /// Whether `id` still names a live object.
    pub fn contains(&self, id: i32) -> bool {
        self.find(id).is_some()
    }

    /// Removes the object with `id` and its key.
    pub fn remove(&mut self, id: i32) -> Option<T> {
        self.find(id)?;
        let idx = id % IPCMNI;
        let e = self.entries.remove(&idx)?;
        if self.keys.get(&e.perm.key) == Some(&idx) {
            self.keys.remove(&e.perm.key);
        }
        Some(e.obj)
    }

    /// Takes the key away (a segment marked for destruction keeps its id
    /// but a new shmget with the key creates another).
    pub fn forget_key(&mut self, id: i32) {
        let idx = id % IPCMNI;
        if let Some(e) = self.entries.get_mut(&idx) {
            if self.keys.get(&e.perm.key) == Some(&idx) {
                self.keys.remove(&e.perm.key);
            }
            e.perm.key = IPC_PRIVATE;
        }
    }

    /// Every (id, entry), by index.
    pub fn iter(&self) -> impl Iterator<Item = (i32, &Entry<T>)> {
        self.entries.iter().map(|(&i, e)| (self.id_of(i, e), e))
    }

    /// The entry at index `idx` (the *_STAT commands), with its id.
    pub fn at_index(&self, idx: i32) -> Option<(i32, &Entry<T>)> {
        self.entries.get(&idx).map(|e| (self.id_of(idx, e), e))
    }

    /// The highest index in use (IPC_INFO's answer), or 0.
    pub fn highest_index(&self) -> i32 {
        self.entries.keys().next_back().copied().unwrap_or(0)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drops every object `keep` rejects (a segment with neither an id
    /// holder nor an attachment).
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        let doomed: Vec<i32> = self
            .entries
            .iter()
            .filter(|(_, e)| !keep(&e.obj))
            .map(|(&i, e)| self.id_of(i, e))
            .collect();
        for id in doomed {
            self.remove(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(uid: u32) -> Creds {
        let caps = if uid == 0 {
            crate::kernel::caps::CapSets::full()
        } else {
            Default::default()
        };
        Creds::new(uid, uid, vec![], caps)
    }

    #[test]
    fn keys_ids_and_exclusive_creation() {
        let mut r: Registry<u8> = Registry::new(4);
        let c = user(1000);
        assert!(matches!(r.get(5, 0, &c), Err(Errno(libc::ENOENT))));
        assert!(matches!(r.get(5, IPC_CREAT, &c), Ok(Got::Create)));
        let id = r.insert(5, IPC_CREAT | 0o600, &c, 1).unwrap();
        assert!(matches!(r.get(5, 0o600, &c), Ok(Got::Existing(i)) if i == id));
        assert!(matches!(
            r.get(5, IPC_CREAT | IPC_EXCL, &c),
            Err(Errno(libc::EEXIST))
        ));
        // A private object never matches a key.
        let p = r.insert(IPC_PRIVATE, 0o600, &c, 2).unwrap();
        assert_ne!(p, id);
        assert_eq!(r.remove(id), Some(1));
        assert!(r.lookup(id).is_err());
        // The slot comes back with another sequence number: the old id stays dead.
        let again = r.insert(5, 0o600, &c, 3).unwrap();
        assert_ne!(again, id);
        assert!(r.lookup(id).is_err());
        assert!(r.lookup(-1).is_err());
    }

    #[test]
    fn permissions_follow_ipcperms() {
        let owner = user(1000);
        let other = user(2000);
        let mut r: Registry<u8> = Registry::new(4);
        let id = r.insert(7, 0o640, &owner, 0).unwrap();
        let p = r.lookup(id).unwrap().perm;
        assert!(p.allows(&owner, READ | WRITE));
        assert!(!p.allows(&other, READ));
        let mut grp = user(2000);
        grp.groups.push(1000);
        assert!(p.allows(&grp, READ));
        assert!(!p.allows(&grp, WRITE));
        assert!(p.allows(&user(0), READ | WRITE));
        assert!(matches!(r.get(7, 0o600, &other), Err(Errno(libc::EACCES))));
        assert!(p.check_owner(&other).is_err());
        assert!(p.check_owner(&owner).is_ok());
    }

    #[test]
    fn full_registry_is_enospc() {
        let mut r: Registry<u8> = Registry::new(1);
        let c = user(0);
        r.insert(IPC_PRIVATE, 0, &c, 0).unwrap();
        assert!(matches!(
            r.get(IPC_PRIVATE, 0, &c),
            Err(Errno(libc::ENOSPC))
        ));
    }
}
