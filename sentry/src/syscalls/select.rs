//! select(2) and pselect6(2): descriptor sets over the same readiness that
//! poll reports.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Args;
use crate::errno::{err, Errno, SysResult};
use crate::kernel::task::Task;
use crate::vfs::file::WaitOn;
use crate::vfs::OpenFile;

/// FD_SETSIZE: the largest nfds glibc's fd_set can describe.
const MAX_NFDS: u64 = 1024 * 1024;

const READ: i16 = libc::POLLIN | libc::POLLHUP | libc::POLLERR;
const WRITE: i16 = libc::POLLOUT | libc::POLLERR;
const EXCEPT: i16 = libc::POLLPRI;

/// Reads an fd_set of `nfds` bits (or none if the pointer is null).
fn read_set(t: &Task, addr: u64, nfds: usize) -> SysResult<Option<Vec<u64>>> {
    if addr == 0 {
        return Ok(None);
    }
    let words = nfds.div_ceil(64);
    let mut raw = vec![0u8; words * 8];
    t.mm.read(addr, &mut raw)?;
    let mut set: Vec<u64> = raw
        .chunks_exact(8)
        .map(|c| u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect();
    // Bits at or above nfds are not part of the call.
    if !nfds.is_multiple_of(64) {
        if let Some(last) = set.last_mut() {
            *last &= (1u64 << (nfds % 64)) - 1;
        }
    }
    Ok(Some(set))
}

fn write_set(t: &Task, addr: u64, set: &[u64]) -> SysResult<()> {
    if addr == 0 {
        return Ok(());
    }
    let raw: Vec<u8> = set.iter().flat_map(|w| w.to_ne_bytes()).collect();
    t.mm.write(addr, &raw)
}

fn has(set: &Option<Vec<u64>>, fd: usize) -> bool {
    set.as_ref()
        .is_some_and(|s| s[fd / 64] & (1 << (fd % 64)) != 0)
}

/// The common body: waits until a descriptor in the sets is ready or
/// `deadline` passes; writes back the ready sets; returns their count.
fn select_until(
    t: &mut Task,
    nfds: u64,
    sets: [u64; 3],
    deadline: Option<Instant>,
) -> SysResult<u64> {
    if (nfds as i64) < 0 || nfds > MAX_NFDS.min(t.nofile()) {
        return err(libc::EINVAL);
    }
    let n = nfds as usize;
    let wanted = [
        read_set(t, sets[0], n)?,
        read_set(t, sets[1], n)?,
        read_set(t, sets[2], n)?,
    ];
    // The descriptors named, with the poll bits that count for each set.
    let mut watched: Vec<(usize, Arc<OpenFile>)> = Vec::new();
    for fd in 0..n {
        if (0..3).any(|i| has(&wanted[i], fd)) {
            watched.push((fd, t.file(fd as u64)?));
        }
    }
    let host = watched.iter().find_map(|(_, f)| match f.ops.wait_on() {
        WaitOn::Host(fd) => Some((fd, libc::POLLIN)),
        WaitOn::Kernel => None,
    });
    let words = n.div_ceil(64);
    let scan = || {
        let mut out = [vec![0u64; words], vec![0u64; words], vec![0u64; words]];
        let mut count = 0u64;
        for (fd, f) in &watched {
            let ready = f.ops.poll();
            for (i, bits) in [READ, WRITE, EXCEPT].into_iter().enumerate() {
                if has(&wanted[i], *fd) && ready & bits != 0 {
                    out[i][fd / 64] |= 1 << (fd % 64);
                    count += 1;
                }
            }
        }
        (count, out)
    };
    let ops: Vec<&dyn crate::vfs::FileOps> = watched.iter().map(|(_, f)| &*f.ops).collect();
    let result = t.block_on_files(&ops, host, deadline, |_| {
        let (count, out) = scan();
        (count > 0).then_some((count, out))
    });
    let (count, out) = match result {
        Ok(r) => r,
        Err(e) if e.0 == libc::ETIMEDOUT => {
            (0, [vec![0u64; words], vec![0u64; words], vec![0u64; words]])
        }
        Err(e) if e.is_restart() => return Err(Errno::ERESTARTNOHAND),
        Err(e) => return Err(e),
    };
    for i in 0..3 {
        write_set(t, sets[i], &out[i])?;
    }
    Ok(count)
}

/// Time left until `deadline`, for the value select writes back.
fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

pub fn select(t: &mut Task, a: Args) -> SysResult<u64> {
    let deadline = if a[4] != 0 {
        let tv: libc::timeval = t.mm.read_obj(a[4])?;
        if tv.tv_sec < 0 || !(0..1_000_000).contains(&tv.tv_usec) {
            return err(libc::EINVAL);
        }
        Some(Instant::now() + Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000))
    } else {
        None
    };
    let r = select_until(t, a[0], [a[1], a[2], a[3]], deadline);
    // Linux reports the time not slept.
    if let (Some(d), true) = (deadline, r.is_ok()) {
        let left = remaining(d);
        let tv = libc::timeval {
            tv_sec: left.as_secs() as i64,
            tv_usec: left.subsec_micros() as i64,
        };
        t.mm.write_obj(a[4], &tv)?;
    }
    r
}

pub fn pselect6(t: &mut Task, a: Args) -> SysResult<u64> {
    let deadline = if a[4] != 0 {
        let ts: libc::timespec = t.mm.read_obj(a[4])?;
        if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
            return err(libc::EINVAL);
        }
        Some(Instant::now() + Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
    } else {
        None
    };
    // The sixth argument points at { const sigset_t *ss; size_t ss_len; }.
    let mask = if a[5] != 0 {
        let ptr = t.mm.read_u64(a[5])?;
        let len = t.mm.read_u64(a[5] + 8)?;
        if ptr != 0 {
            if len != 8 {
                return err(libc::EINVAL);
            }
            Some(t.mm.read_u64(ptr)?)
        } else {
            None
        }
    } else {
        None
    };
    if let Some(m) = mask {
        t.saved_mask = Some(t.mask());
        t.set_mask(m);
    }
    let r = select_until(t, a[0], [a[1], a[2], a[3]], deadline);
    if !matches!(r, Err(e) if e.is_restart()) {
        if let Some(m) = t.saved_mask.take() {
            t.set_mask(m);
        }
    }
    if let (Some(d), true) = (deadline, r.is_ok()) {
        let left = remaining(d);
        let ts = libc::timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: left.subsec_nanos() as i64,
        };
        t.mm.write_obj(a[4], &ts)?;
    }
    r
}
