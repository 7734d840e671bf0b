//! /sys/fs/cgroup: the container's own cgroup, as a cgroup v2 file system
//! the Sentry renders (the host's cgroups are never shown). The files are
//! the interface files a container's root cgroup has under Docker with
//! cgroup v2: the spec's limits (`linux.resources`) and the Sentry's own
//! usage figures (the memory file's pages, the workload's CPU time and
//! tasks), so that the JVM, Go, Node.js, .NET and Python size their heaps
//! and thread pools to the container.
//!
//! Always the v2 layout, whatever the host has: it is one directory of
//! files rather than a tree per controller, every runtime that reads v1
//! reads v2 too, and /proc/self/cgroup (`0::/`) and /proc/cgroups
//! (hierarchy 0 for every controller) already describe a v2 host. The
//! limits come from the spec, not from the host's cgroup, so a v1 host
//! changes nothing the workload could see. See docs/compatibility.md.

use std::sync::Arc;

use super::synthetic::{dir, file};
use crate::kernel::process::lock;
use crate::kernel::resources;
use crate::vfs::Inode;

/// statfs's f_type of a cgroup v2 file system.
pub const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// The controllers the Sentry models (cgroup.controllers).
const CONTROLLERS: &[&str] = &["cpuset", "cpu", "memory", "pids"];

/// Linux's CFS period when the spec gives none.
const DEFAULT_PERIOD_US: u64 = 100_000;

/// cpu.shares (2..262144) onto cpu.weight (1..10000), the mapping runc and
/// the kernel documentation use; 0 (unset) is the default weight, 100.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 100;
    }
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

/// /proc/cgroups as a cgroup v2 host shows it: every controller on the
/// unified hierarchy (id 0), one cgroup, enabled.
pub fn proc_cgroups() -> Vec<u8> {
    let mut s = String::from("#subsys_name\thierarchy\tnum_cgroups\tenabled\n");
    for c in ["cpuset", "cpu", "cpuacct", "memory", "pids"] {
        s.push_str(&format!("{c}\t0\t1\t1\n"));
    }
    s.into_bytes()
}

/// "max" for no limit, else the number.
fn max_or<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "max".into())
}

/// cpu.max: "$QUOTA $PERIOD", the quota "max" without one.
fn cpu_max() -> String {
    let cpu = &resources::get().cpu;
    let quota = cpu.quota.filter(|&q| q > 0);
    let period = cpu.period.filter(|&p| p > 0).unwrap_or(DEFAULT_PERIOD_US);
    format!("{} {period}\n", max_or(quota))
}

/// memory.swap.max: OCI's swap is memory plus swap; v2 limits swap alone.
fn swap_max() -> String {
    let r = resources::get();
    match (r.memory_swap, r.memory_limit) {
        (Some(swap), Some(limit)) if swap >= 0 => {
            format!("{}\n", (swap as u64).saturating_sub(limit))
        }
        _ => "max\n".into(),
    }
}

fn memory_stat() -> String {
    let used = resources::memory().used;
    let file = resources::file_memory().min(used);
    let anon = used - file;
    format!(
        "anon {anon}\nfile {file}\nkernel 0\nshmem 0\nactive_anon {anon}\ninactive_anon 0\nactive_file {file}\ninactive_file 0\n"
    )
}

/// The live processes' pids (cgroup.procs) or thread ids (cgroup.threads).
fn members(threads: bool) -> String {
    let Some(k) = crate::kernel::get() else {
        return String::new();
    };
    let mut ids = Vec::new();
    for p in k.all_processes().iter().filter(|p| !p.is_zombie()) {
        if threads {
            ids.extend(p.threads().iter().map(|t| t.tid));
        } else {
            ids.push(p.pid);
        }
    }
    ids.sort_unstable();
    ids.iter().map(|id| format!("{id}\n")).collect()
}

fn cpu_stat() -> String {
    let usec = resources::cpu_time_ns() / 1000;
    format!(
        "usage_usec {usec}\nuser_usec {usec}\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n"
    )
}

fn pids_current() -> String {
    let live = crate::kernel::get()
        .map(|k| *lock(&k.live_tasks))
        .unwrap_or(0);
    format!("{live}\n")
}

/// Builds the root of a cgroup v2 file system: the container's cgroup.
pub fn new_cgroupfs() -> Arc<dyn Inode> {
    let dev = super::new_fs_id() as u64;
    type Render = fn() -> String;
    let files: Vec<(&'static str, Render)> = vec![
        ("cgroup.controllers", || {
            format!("{}\n", CONTROLLERS.join(" "))
        }),
        ("cgroup.subtree_control", || "\n".into()),
        ("cgroup.type", || "domain\n".into()),
        ("cgroup.procs", || members(false)),
        ("cgroup.threads", || members(true)),
        ("cgroup.events", || "populated 1\nfrozen 0\n".into()),
        ("cgroup.freeze", || "0\n".into()),
        ("cgroup.max.depth", || "max\n".into()),
        ("cgroup.max.descendants", || "max\n".into()),
        ("cgroup.stat", || {
            "nr_descendants 0\nnr_dying_descendants 0\n".into()
        }),
        ("cpu.max", cpu_max),
        ("cpu.weight", || {
            let shares = resources::get().cpu.shares.unwrap_or(0);
            format!("{}\n", shares_to_weight(shares))
        }),
        ("cpu.stat", cpu_stat),
        // The sandbox numbers its CPUs from 0 (sched_getaffinity, /sys),
        // so a cpuset reads as those, not as the host's numbers.
        ("cpuset.cpus", || match resources::get().cpu.cpus {
            Some(_) => super::sysfs::cpu_list(),
            None => "\n".into(),
        }),
        ("cpuset.cpus.effective", super::sysfs::cpu_list),
        ("cpuset.mems", || "\n".into()),
        ("cpuset.mems.effective", || "0\n".into()),
        ("memory.current", || {
            format!("{}\n", resources::memory().used)
        }),
        ("memory.max", || {
            format!("{}\n", max_or(resources::get().memory_limit))
        }),
        ("memory.high", || "max\n".into()),
        ("memory.low", || "0\n".into()),
        ("memory.min", || "0\n".into()),
        ("memory.stat", memory_stat),
        ("memory.events", || {
            "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n".into()
        }),
        ("memory.oom.group", || "0\n".into()),
        ("memory.swap.current", || "0\n".into()),
        ("memory.swap.max", swap_max),
        ("pids.current", pids_current),
        ("pids.max", || {
            format!("{}\n", max_or(resources::get().pids_limit))
        }),
    ];
    dir(dev, "/sys/fs/cgroup", 0xc9, move || {
        files
            .iter()
            .map(|&(name, render)| {
                (
                    name.to_string(),
                    file(dev, name, 0xc9, move |_| render().into_bytes()),
                )
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(0), 100);
    }

    #[test]
    fn proc_cgroups_is_a_v2_hosts() {
        let text = String::from_utf8(proc_cgroups()).unwrap();
        let memory = text.lines().find(|l| l.starts_with("memory\t"));
        assert_eq!(memory, Some("memory\t0\t1\t1"));
    }
}
