//! The container's resources as the workload sees them: how many CPUs it
//! has and how much memory, from the spec's `linux.resources` and the
//! Sentry's own accounting. sched_getaffinity, sysinfo, /proc (meminfo,
//! cpuinfo, stat), /sys/devices/system/cpu and /sys/fs/cgroup all ask
//! here, so that language runtimes sizing their heaps and thread pools by
//! any of them get the same answer (gVisor does the same).
//!
//! The CPU count is the host's CPUs the Sentry may run on, lowered to the
//! cpuset's size and to the CPU quota rounded up (`--cpus=1.5` gives 2):
//! threads beyond that could never run at once. The memory total is the
//! memory limit (or the host's memory without one); what is used is the
//! pages of the memory file, which holds all application memory.

use std::sync::OnceLock;

use crate::spec::{CpuLimits, SandboxSpec};

/// Linux's CFS period when the spec gives a quota without one.
const DEFAULT_PERIOD_US: u64 = 100_000;

/// The most CPUs the sandbox reports (one word of affinity mask).
const MAX_CPUS: usize = 64;

/// What the spec asked for, fixed at boot.
#[derive(Debug, Clone, Default)]
pub struct Resources {
    /// The CPU count the workload sees.
    pub cpus: usize,
    pub memory_limit: Option<u64>,
    pub memory_swap: Option<i64>,
    pub cpu: CpuLimits,
    pub pids_limit: Option<usize>,
}

static RESOURCES: OnceLock<Resources> = OnceLock::new();

/// Records the spec's resources; called once at boot, before the jail
/// (the host's affinity is read here).
pub fn init(spec: &SandboxSpec) {
    let r = Resources {
        cpus: visible_cpus(host_cpus(), &spec.cpu),
        memory_limit: spec.memory_limit,
        memory_swap: spec.memory_swap,
        cpu: spec.cpu.clone(),
        pids_limit: spec.pids_limit,
    };
    let _ = RESOURCES.set(r);
}

/// The resources recorded at boot (the host's view when there was none:
/// unit tests, tools that use the Sentry's file systems alone).
pub fn get() -> &'static Resources {
    RESOURCES.get_or_init(|| Resources {
        cpus: visible_cpus(host_cpus(), &CpuLimits::default()),
        ..Resources::default()
    })
}

/// The number of CPUs the workload sees.
pub fn cpus() -> usize {
    get().cpus
}

/// The CPUs the calling host thread may run on (the runtime's cgroup has
/// applied the cpuset by now).
fn host_cpus() -> usize {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: the size is the set's own.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if r != 0 {
        return 1;
    }
    // SAFETY: CPU_COUNT reads the set we own.
    (unsafe { libc::CPU_COUNT(&set) }).max(1) as usize
}

/// The CPU count for `host` CPUs under `limits`: the cpuset's size and the
/// quota rounded up bound it; at least one, at most [`MAX_CPUS`].
pub fn visible_cpus(host: usize, limits: &CpuLimits) -> usize {
    let mut n = host;
    if let Some(set) = limits.cpus.as_deref().and_then(cpuset_size) {
        n = n.min(set);
    }
    if let Some(quota) = limits.quota.and_then(|q| u64::try_from(q).ok()) {
        let period = limits
            .period
            .filter(|&p| p > 0)
            .unwrap_or(DEFAULT_PERIOD_US);
        if quota > 0 {
            let by_quota = quota.div_ceil(period);
            n = n.min(usize::try_from(by_quota).unwrap_or(usize::MAX));
        }
    }
    n.clamp(1, MAX_CPUS)
}

/// How many CPUs a cpuset list (`0-3,6`) names; None if it does not parse.
fn cpuset_size(list: &str) -> Option<usize> {
    let mut n = 0usize;
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        n += match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                b.checked_sub(a)? + 1
            }
            None => {
                part.trim().parse::<usize>().ok()?;
                1
            }
        };
    }
    (n > 0).then_some(n)
}

/// CPU time the sandbox's live processes have used so far, in ns.
pub fn cpu_time_ns() -> u64 {
    let Some(k) = crate::kernel::get() else {
        return 0;
    };
    k.all_processes()
        .iter()
        .map(|p| crate::kernel::process::lock(&p.state).cpu_now())
        .sum()
}

/// The memory figures the workload sees, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    pub total: u64,
    pub free: u64,
    /// Application memory in use (the memory file's pages).
    pub used: u64,
}

/// The memory the workload sees now: with a limit, the limit (at most the
/// host's memory) less what the memory file holds; without one, the host's.
pub fn memory() -> Memory {
    let (host_total, host_free) = host_memory();
    let used = crate::mm::memfile::MemoryFile::existing()
        .map(|f| f.usage())
        .unwrap_or(0);
    match get().memory_limit {
        Some(limit) => {
            let total = limit.min(host_total.max(1));
            Memory {
                total,
                free: total.saturating_sub(used),
                used,
            }
        }
        None => Memory {
            total: host_total,
            free: host_free,
            used,
        },
    }
}

/// Of the memory in use, the bytes of files' pages (tmpfs, cached host
/// files): dearer to count than [`memory`].
pub fn file_memory() -> u64 {
    crate::mm::memfile::MemoryFile::existing()
        .map(|f| f.file_usage())
        .unwrap_or(0)
}

/// The host's (total, free) memory in bytes.
fn host_memory() -> (u64, u64) {
    // SAFETY: sysinfo is plain data, filled by the host.
    let mut si: libc::sysinfo = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::sysinfo(&mut si) } != 0 {
        return (0, 0);
    }
    let unit = u64::from(si.mem_unit.max(1));
    (si.totalram * unit, si.freeram * unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(quota: Option<i64>, period: Option<u64>, cpus: Option<&str>) -> CpuLimits {
        CpuLimits {
            quota,
            period,
            shares: None,
            cpus: cpus.map(str::to_string),
        }
    }

    #[test]
    fn quota_rounds_up() {
        assert_eq!(visible_cpus(8, &cpu(Some(100_000), Some(100_000), None)), 1);
        assert_eq!(visible_cpus(8, &cpu(Some(150_000), Some(100_000), None)), 2);
        assert_eq!(visible_cpus(8, &cpu(Some(50_000), None, None)), 1);
        // More quota than CPUs: the CPUs.
        assert_eq!(visible_cpus(2, &cpu(Some(400_000), Some(100_000), None)), 2);
        // -1: no quota.
        assert_eq!(visible_cpus(4, &cpu(Some(-1), Some(100_000), None)), 4);
    }

    #[test]
    fn cpuset_bounds() {
        assert_eq!(visible_cpus(8, &cpu(None, None, Some("0-2,5"))), 4);
        assert_eq!(visible_cpus(8, &cpu(None, None, Some("3"))), 1);
        assert_eq!(visible_cpus(2, &cpu(None, None, Some("0-7"))), 2);
        // Unparsable: the host's.
        assert_eq!(visible_cpus(8, &cpu(None, None, Some("x"))), 8);
        assert_eq!(visible_cpus(8, &cpu(None, None, Some("3-1"))), 8);
        assert_eq!(visible_cpus(200, &CpuLimits::default()), MAX_CPUS);
    }
}
