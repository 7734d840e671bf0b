//! Advisory file locks: flock(2) locks, owned by an open file description,
//! and fcntl record locks, owned by a process (F_SETLK) or by an open file
//! description (F_OFD_SETLK). The two kinds never conflict with each other,
//! as on Linux. Files are identified by (st_dev, st_ino).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::errno::{err, SysResult};
use crate::kernel::events;
use crate::kernel::process::lock;

/// Who holds a lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// An open file description (its id): flock and OFD locks.
    File(u64),
    /// A process: classic POSIX record locks.
    Process(i32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flavor {
    Flock,
    Record,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lock {
    pub owner: Owner,
    pub write: bool,
    /// Byte range [start, end); end u64::MAX reaches past any end of file.
    pub start: u64,
    pub end: u64,
}

impl Lock {
    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.start < end && start < self.end
    }
}

type Key = (u64, u64, Flavor);

static LOCKS: Mutex<Option<HashMap<Key, Vec<Lock>>>> = Mutex::new(None);

fn with_table<R>(f: impl FnOnce(&mut HashMap<Key, Vec<Lock>>) -> R) -> R {
    let mut g = lock(&LOCKS);
    f(g.get_or_insert_with(HashMap::new))
}

/// The first lock of another owner that stops `owner` from taking `want`.
pub fn conflict(file: (u64, u64), flavor: Flavor, want: &Lock) -> Option<Lock> {
    with_table(|t| {
        t.get(&(file.0, file.1, flavor))?
            .iter()
            .find(|l| {
                l.owner != want.owner && l.overlaps(want.start, want.end) && (l.write || want.write)
            })
            .copied()
    })
}

/// Removes `owner`'s coverage of [start, end) from `locks`, splitting locks
/// that straddle the range.
fn carve(locks: &mut Vec<Lock>, owner: Owner, start: u64, end: u64) {
    let mut out = Vec::with_capacity(locks.len() + 1);
    for l in locks.drain(..) {
        if l.owner != owner || !l.overlaps(start, end) {
            out.push(l);
            continue;
        }
        if l.start < start {
            out.push(Lock { end: start, ..l });
        }
        if l.end > end {
            out.push(Lock { start: end, ..l });
        }
    }
    *locks = out;
}

/// Takes `want` if nobody else's lock conflicts (EAGAIN otherwise),
/// replacing what the owner held in the range and merging with its
/// adjacent locks of the same type.
pub fn try_set(file: (u64, u64), flavor: Flavor, want: Lock) -> SysResult<()> {
    if conflict(file, flavor, &want).is_some() {
        return err(libc::EAGAIN);
    }
    with_table(|t| {
        let locks = t.entry((file.0, file.1, flavor)).or_default();
        carve(locks, want.owner, want.start, want.end);
        let mut merged = want;
        locks.retain(|l| {
            let touches = l.owner == merged.owner
                && l.write == merged.write
                && l.start <= merged.end
                && merged.start <= l.end;
            if touches {
                merged.start = merged.start.min(l.start);
                merged.end = merged.end.max(l.end);
            }
            !touches
        });
        locks.push(merged);
        locks.sort_by_key(|l| l.start);
    });
    events::notify();
    Ok(())
}

/// Releases `owner`'s locks in [start, end).
pub fn unlock(file: (u64, u64), flavor: Flavor, owner: Owner, start: u64, end: u64) {
    with_table(|t| {
        if let Some(locks) = t.get_mut(&(file.0, file.1, flavor)) {
            carve(locks, owner, start, end);
            if locks.is_empty() {
                t.remove(&(file.0, file.1, flavor));
            }
        }
    });
    events::notify();
}

/// Releases every lock `owner` holds (an open file description's last
/// close, a process's exit), optionally only on one file.
pub fn release(owner: Owner, file: Option<(u64, u64)>) {
    let changed = with_table(|t| {
        let mut changed = false;
        t.retain(|k, locks| {
            if file.is_none_or(|f| (k.0, k.1) == f) {
                let before = locks.len();
                locks.retain(|l| l.owner != owner);
                changed |= locks.len() != before;
            }
            !locks.is_empty()
        });
        changed
    });
    if changed {
        events::notify();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(owner: Owner, write: bool, start: u64, end: u64) -> Lock {
        Lock {
            owner,
            write,
            start,
            end,
        }
    }

    #[test]
    fn readers_share_writers_exclude() {
        let f = (900, 1);
        let (a, b) = (Owner::Process(1), Owner::Process(2));
        try_set(f, Flavor::Record, l(a, false, 0, 10)).expect("read lock");
        try_set(f, Flavor::Record, l(b, false, 5, 20)).expect("shared read");
        assert!(try_set(f, Flavor::Record, l(b, true, 0, 20)).is_err());
        // The other flavour does not conflict.
        try_set(f, Flavor::Flock, l(b, true, 0, u64::MAX)).expect("flock apart");
        release(a, None);
        try_set(f, Flavor::Record, l(b, true, 0, 20)).expect("now free");
        release(b, None);
    }

    #[test]
    fn unlocking_the_middle_splits_and_neighbours_merge() {
        let f = (900, 2);
        let a = Owner::Process(3);
        try_set(f, Flavor::Record, l(a, true, 0, 100)).expect("lock");
        unlock(f, Flavor::Record, a, 40, 60);
        let probe = l(Owner::Process(4), true, 50, 51);
        assert!(conflict(f, Flavor::Record, &probe).is_none());
        let left = l(Owner::Process(4), true, 10, 11);
        assert_eq!(
            conflict(f, Flavor::Record, &left).map(|c| (c.start, c.end)),
            Some((0, 40))
        );
        try_set(f, Flavor::Record, l(a, true, 40, 60)).expect("refill");
        assert_eq!(
            conflict(f, Flavor::Record, &left).map(|c| (c.start, c.end)),
            Some((0, 100))
        );
        release(a, None);
    }
}
