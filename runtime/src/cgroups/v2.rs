//! cgroup v2: one tree; a controller's files appear in a directory only
//! when its parent enabled the controller in `cgroup.subtree_control`.

use std::fs;
use std::path::Path;

use tracing::debug;

use super::v1::pids_value;
// cpu.shares onto cpu.weight: the mapping the Sentry's own
// /sys/fs/cgroup/cpu.weight shows too.
use super::{write, Applied, CgroupError, Limits};
use sentry::fs::cgroupfs::shares_to_weight;

/// Enables the controllers we may set in every directory from the
/// hierarchy's root down to the leaf's parent. A controller the host does
/// not offer (hybrid hosts offer almost none in the unified tree) is
/// skipped; [`apply`] then finds its files missing.
pub fn enable_controllers(mountpoint: &Path, leaf: &Path) {
    let Ok(rel) = leaf.strip_prefix(mountpoint) else {
        return;
    };
    let mut dir = mountpoint.to_path_buf();
    let parts: Vec<_> = rel.components().collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        let available = fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
        for c in ["cpu", "cpuset", "memory", "pids"] {
            if available.split_whitespace().any(|a| a == c) {
                if let Err(e) = fs::write(dir.join("cgroup.subtree_control"), format!("+{c}")) {
                    debug!(dir = %dir.display(), controller = c, "cannot enable controller: {e}");
                }
            }
        }
        dir.push(part);
    }
}

pub fn apply(dir: &Path, l: &Limits, applied: &mut Applied) -> Result<(), CgroupError> {
    let controllers = fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
    if has("memory") {
        if let Some(limit) = l.memory {
            write(dir, "memory.max", &max_value(limit))?;
            applied.memory = true;
        }
        if let (Some(swap), Some(limit)) = (l.memory_swap, l.memory) {
            // OCI's swap is memory+swap; v2 limits swap alone.
            if dir.join("memory.swap.max").exists() {
                let v = if swap < 0 {
                    "max".into()
                } else {
                    (swap - limit).max(0).to_string()
                };
                write(dir, "memory.swap.max", &v)?;
            }
        }
        if let Some(r) = l.memory_reservation {
            write(dir, "memory.low", &max_value(r))?;
        }
    }
    if has("cpu") {
        if let Some(shares) = l.cpu_shares {
            write(dir, "cpu.weight", &shares_to_weight(shares).to_string())?;
            applied.cpu = true;
        }
        if l.cpu_quota.is_some() || l.cpu_period.is_some() {
            let quota = match l.cpu_quota {
                Some(q) if q > 0 => q.to_string(),
                _ => "max".into(),
            };
            let period = l.cpu_period.unwrap_or(100_000);
            write(dir, "cpu.max", &format!("{quota} {period}"))?;
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

fn max_value(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}
