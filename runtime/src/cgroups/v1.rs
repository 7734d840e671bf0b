//! cgroup v1: one directory per hierarchy, controller files named
//! `<controller>.<knob>`.

use std::fs;
use std::path::Path;

use super::{write, Applied, CgroupError, Limits};

/// Prepares a new directory in a cpuset hierarchy. A fresh v1 cpuset
/// starts with no cpus and no memory nodes, and a process cannot join it
/// (ENOSPC) until both are set: inherit them from the parent, level by
/// level from `top` (the highest directory we created) down to `leaf`.
pub fn init_cpuset(mountpoint: &Path, leaf: &Path) -> Result<(), CgroupError> {
    let Ok(rel) = leaf.strip_prefix(mountpoint) else {
        return Ok(());
    };
    let mut dir = mountpoint.to_path_buf();
    for part in rel.components() {
        let parent = dir.clone();
        dir.push(part);
        for knob in ["cpuset.cpus", "cpuset.mems"] {
            let current = fs::read_to_string(dir.join(knob)).unwrap_or_default();
            if current.trim().is_empty() {
                let from_parent = fs::read_to_string(parent.join(knob)).unwrap_or_default();
                write(&dir, knob, from_parent.trim())?;
            }
        }
    }
    Ok(())
}

pub fn apply(
    controllers: &[String],
    dir: &Path,
    l: &Limits,
    applied: &mut Applied,
) -> Result<(), CgroupError> {
    let has = |c: &str| controllers.iter().any(|x| x == c);
    if has("memory") {
        if let Some(limit) = l.memory {
            write(dir, "memory.limit_in_bytes", &limit.to_string())?;
            applied.memory = true;
        }
        if let Some(swap) = l.memory_swap {
            // Exists only when the kernel accounts swap.
            if dir.join("memory.memsw.limit_in_bytes").exists() {
                write(dir, "memory.memsw.limit_in_bytes", &swap.to_string())?;
            }
        }
        if let Some(r) = l.memory_reservation {
            write(dir, "memory.soft_limit_in_bytes", &r.to_string())?;
        }
    }
    if has("cpu") {
        if let Some(shares) = l.cpu_shares {
            write(dir, "cpu.shares", &shares.to_string())?;
            applied.cpu = true;
        }
        // The period first: the kernel checks the quota against it.
        if let Some(period) = l.cpu_period {
            write(dir, "cpu.cfs_period_us", &period.to_string())?;
            applied.cpu = true;
        }
        if let Some(quota) = l.cpu_quota {
            write(dir, "cpu.cfs_quota_us", &quota.to_string())?;
            applied.cpu = true;
        }
    }
    if has("cpuset") {
        if let Some(cpus) = &l.cpuset_cpus {
            write(dir, "cpuset.cpus", cpus)?;
            applied.cpuset = true;
        }
        if let Some(mems) = &l.cpuset_mems {
            write(dir, "cpuset.mems", mems)?;
            applied.cpuset = true;
        }
    }
    if has("pids") {
        if let Some(limit) = l.pids {
            write(dir, "pids.max", &pids_value(limit))?;
            applied.pids = true;
        }
    }
    Ok(())
}

/// The host cgroup's pids.max for the spec's limit (OCI: 0 or less means
/// unlimited). The Sentry enforces the limit itself on the workload's
/// tasks (`kernel::PIDS_MAX`); the host cgroup also holds the Sentry's own
/// threads and, per workload task, a Sentry thread and a stub thread, so
/// it gets room for those: otherwise `--pids-limit 20` allowed 7 forks.
pub fn pids_value(limit: i64) -> String {
    if limit > 0 {
        limit.saturating_mul(3).saturating_add(64).to_string()
    } else {
        "max".into()
    }
}
