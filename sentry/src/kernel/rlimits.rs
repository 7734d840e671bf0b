//! Resource limits: the values a process holds (from the spec at start,
//! inherited by fork, changed by setrlimit/prlimit) and the checks that
//! enforce them where Linux does: RLIMIT_FSIZE at writes and size changes,
//! RLIMIT_AS at mapping growth, RLIMIT_NPROC at clone, RLIMIT_STACK for a
//! new program's stack, RLIMIT_NOFILE at descriptor allocation (vfs),
//! RLIMIT_SIGPENDING at signal queuing (kernel/sigquota.rs).

use super::process::{lock, ProcState, Process};
use super::signal::{SigInfo, SI_KERNEL};
use super::Kernel;
use crate::errno::{Errno, SysResult};
use crate::spec::Rlimit;

/// RLIM_INFINITY.
pub const INFINITY: u64 = u64::MAX;
/// The number of resources Linux knows (RLIM_NLIMITS).
pub const NLIMITS: u32 = 16;
/// fs.nr_open: the highest RLIMIT_NOFILE anyone may set.
pub const NR_OPEN: u64 = 1 << 20;

/// RLIMIT_SIGPENDING as the Sentry inherited it from the host (what runc's
/// container would inherit), read at boot before the jail.
static HOST_SIGPENDING: std::sync::OnceLock<(u64, u64)> = std::sync::OnceLock::new();

/// A bound on queued signals when the host's is unknown (Linux gives a
/// fresh init max_threads / 2, tens of thousands on small machines): never
/// unlimited, so a workload cannot grow the Sentry's queues without end.
const FALLBACK_SIGPENDING: u64 = 1 << 15;

/// Reads the host limits the sandbox inherits; call before the jail.
pub fn capture_host_limits() {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one struct rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_SIGPENDING, &mut rl) } == 0 {
        let _ = HOST_SIGPENDING.set((rl.rlim_cur, rl.rlim_max));
    }
}

/// The limit a process has when neither the spec nor setrlimit set one:
/// Linux's defaults for a fresh init (RLIMIT_NOFILE is the fd table's),
/// and the host's RLIMIT_SIGPENDING, which runc's container inherits.
pub fn default_of(resource: u32) -> (u64, u64) {
    match resource {
        libc::RLIMIT_SIGPENDING => HOST_SIGPENDING
            .get()
            .copied()
            .unwrap_or((FALLBACK_SIGPENDING, FALLBACK_SIGPENDING)),
        libc::RLIMIT_NOFILE => (
            crate::vfs::fd_table::DEFAULT_NOFILE,
            crate::vfs::fd_table::DEFAULT_NOFILE,
        ),
        libc::RLIMIT_STACK => (8 << 20, INFINITY),
        libc::RLIMIT_CORE => (0, INFINITY),
        libc::RLIMIT_MEMLOCK => (8 << 20, 8 << 20),
        libc::RLIMIT_MSGQUEUE => (819_200, 819_200),
        _ => (INFINITY, INFINITY),
    }
}

impl ProcState {
    /// The (soft, hard) limit of `resource`.
    pub fn rlimit(&self, resource: u32) -> (u64, u64) {
        self.rlimits
            .iter()
            .find(|r| r.resource == resource)
            .map(|r| (r.soft, r.hard))
            .unwrap_or_else(|| default_of(resource))
    }

    pub fn set_rlimit(&mut self, resource: u32, soft: u64, hard: u64) {
        self.rlimits.retain(|r| r.resource != resource);
        self.rlimits.push(Rlimit {
            resource,
            soft,
            hard,
        });
    }
}

/// The soft limit of `resource` for `proc`.
pub fn soft(proc: &Process, resource: u32) -> u64 {
    lock(&proc.state).rlimit(resource).0
}

/// RLIMIT_FSIZE for a write of `len` bytes at `pos` of a regular file: how
/// many bytes may be written. At or past the limit the process gets
/// SIGXFSZ and the write fails with EFBIG, as Linux's
/// generic_write_check_limits does.
pub fn fsize_allow(k: &Kernel, proc: &Process, pos: u64, len: usize) -> SysResult<usize> {
    let limit = soft(proc, libc::RLIMIT_FSIZE);
    if limit == INFINITY {
        return Ok(len);
    }
    if pos >= limit {
        xfsz(k, proc);
        return Err(Errno(libc::EFBIG));
    }
    Ok(len.min((limit - pos).min(usize::MAX as u64) as usize))
}

/// RLIMIT_FSIZE for a change of a regular file's size to `size` (truncate,
/// fallocate): beyond the limit, SIGXFSZ and EFBIG (inode_newsize_ok).
pub fn fsize_check_size(k: &Kernel, proc: &Process, size: u64) -> SysResult<()> {
    let limit = soft(proc, libc::RLIMIT_FSIZE);
    if limit != INFINITY && size > limit {
        xfsz(k, proc);
        return Err(Errno(libc::EFBIG));
    }
    Ok(())
}

fn xfsz(k: &Kernel, proc: &Process) {
    k.send_signal(proc, SigInfo::new(libc::SIGXFSZ, SI_KERNEL), false);
}

/// RLIMIT_AS (`limit`): whether an address space of `mapped` bytes may
/// grow by `grow` bytes (Linux's may_expand_vm); ENOMEM if not.
pub fn may_expand(limit: u64, mapped: u64, grow: u64) -> SysResult<()> {
    if limit != INFINITY && mapped.saturating_add(grow) > limit {
        return Err(Errno(libc::ENOMEM));
    }
    Ok(())
}

/// RLIMIT_NPROC at fork/clone: the tasks (threads, and zombies not yet
/// reaped) of the caller's real uid, counted across the sandbox, may not
/// reach the limit; uid 0 and holders of CAP_SYS_RESOURCE or CAP_SYS_ADMIN
/// are exempt.
pub fn nproc_check(k: &Kernel, proc: &Process) -> SysResult<()> {
    let (uid, root, limit) = {
        let st = lock(&proc.state);
        (
            st.creds.uid,
            st.creds.uid == 0
                || st.creds.has(super::caps::SYS_RESOURCE)
                || st.creds.has(super::caps::SYS_ADMIN),
            st.rlimit(libc::RLIMIT_NPROC).0,
        )
    };
    if limit == INFINITY || root {
        return Ok(());
    }
    let mut count = 0u64;
    for p in k.all_processes() {
        let (puid, zombie) = {
            let st = lock(&p.state);
            (st.creds.uid, st.zombie.is_some())
        };
        if puid == uid {
            count += if zombie {
                1
            } else {
                lock(&p.threads).len().max(1) as u64
            };
        }
    }
    if count >= limit {
        return Err(Errno(libc::EAGAIN));
    }
    Ok(())
}

/// The size of a new program's stack mapping: RLIMIT_STACK, within the
/// bounds the loader accepts.
pub fn stack_size(proc: &Process) -> u64 {
    soft(proc, libc::RLIMIT_STACK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn may_expand_counts_the_whole_space() {
        assert!(may_expand(INFINITY, u64::MAX, u64::MAX).is_ok());
        assert!(may_expand(100, 60, 40).is_ok());
        assert_eq!(may_expand(100, 60, 41), Err(Errno(libc::ENOMEM)));
        // Hostile sizes saturate instead of wrapping below the limit.
        assert!(may_expand(100, u64::MAX, 2).is_err());
    }

    #[test]
    fn defaults_are_linuxs() {
        assert_eq!(default_of(libc::RLIMIT_CORE), (0, INFINITY));
        assert_eq!(default_of(libc::RLIMIT_STACK).0, 8 << 20);
        assert_eq!(default_of(libc::RLIMIT_AS), (INFINITY, INFINITY));
    }
}
