//! The container cgroup's CPU and memory figures, in the shape of runc's
//! `events --stats` (`data.cpu`, `data.memory`), read from whichever of its
//! leaf directories carries them: cpuacct and memory in cgroup v1, cpu.stat
//! and memory.current in v2. A figure no hierarchy carries is left out.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

/// USER_HZ: the unit of cpuacct.stat.
const CLOCK_TICK_NS: u64 = 10_000_000;

fn read(dir: &Path, file: &str) -> Option<String> {
    fs::read_to_string(dir.join(file)).ok()
}

fn number(dir: &Path, file: &str) -> Option<u64> {
    read(dir, file)?.trim().parse().ok()
}

/// `key value` lines (cpuacct.stat, cpu.stat).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

/// runc's `cpu` object: usage in ns (total, per CPU, kernel, user).
fn cpu(dirs: &[PathBuf]) -> Option<Value> {
    for d in dirs {
        if let Some(total) = number(d, "cpuacct.usage") {
            let percpu: Vec<u64> = read(d, "cpuacct.usage_percpu")
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect();
            let stat = read(d, "cpuacct.stat").unwrap_or_default();
            let ticks = |k| keyed(&stat, k).unwrap_or(0) * CLOCK_TICK_NS;
            return Some(json!({ "usage": {
                "total": total,
                "percpu": percpu,
                "kernel": ticks("system"),
                "user": ticks("user"),
            }}));
        }
        // v1's cpu controller has a cpu.stat too, without usage.
        if let Some(stat) = read(d, "cpu.stat").filter(|s| keyed(s, "usage_usec").is_some()) {
            let usec = |k| keyed(&stat, k).unwrap_or(0) * 1000;
            return Some(json!({ "usage": {
                "total": usec("usage_usec"),
                "kernel": usec("system_usec"),
                "user": usec("user_usec"),
            }}));
        }
    }
    None
}

/// runc's `memory` object: usage, its peak and the limit, in bytes.
fn memory(dirs: &[PathBuf]) -> Option<Value> {
    for d in dirs {
        if let Some(usage) = number(d, "memory.usage_in_bytes") {
            return Some(json!({ "usage": {
                "usage": usage,
                "max": number(d, "memory.max_usage_in_bytes").unwrap_or(0),
                "limit": number(d, "memory.limit_in_bytes").unwrap_or(u64::MAX),
            }}));
        }
        if let Some(usage) = number(d, "memory.current") {
            // "max" means no limit.
            return Some(json!({ "usage": {
                "usage": usage,
                "max": number(d, "memory.peak").unwrap_or(0),
                "limit": number(d, "memory.max").unwrap_or(u64::MAX),
            }}));
        }
    }
    None
}

/// The `cpu` and `memory` entries of runc's stats `data`, as far as the
/// cgroup's hierarchies carry them.
pub fn stats(dirs: &[PathBuf]) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(c) = cpu(dirs) {
        m.insert("cpu".into(), c);
    }
    if let Some(mem) = memory(dirs) {
        m.insert("memory".into(), mem);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str, files: &[(&str, &str)]) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sandbox-cgstats-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        for (name, text) in files {
            fs::write(d.join(name), text).unwrap();
        }
        d
    }

    #[test]
    fn v1_figures() {
        let cpu = dir(
            "v1cpu",
            &[
                ("cpuacct.usage", "3000\n"),
                ("cpuacct.usage_percpu", "1000 2000 \n"),
                ("cpuacct.stat", "user 7\nsystem 3\n"),
            ],
        );
        let mem = dir(
            "v1mem",
            &[
                ("memory.usage_in_bytes", "4096\n"),
                ("memory.max_usage_in_bytes", "8192\n"),
                ("memory.limit_in_bytes", "134217728\n"),
            ],
        );
        let v1cpu = dir(
            "v1cpuctl",
            &[("cpu.stat", "nr_periods 0\nnr_throttled 0\n")],
        );
        let s = stats(&[dir("v1pids", &[]), v1cpu.clone(), cpu.clone(), mem.clone()]);
        assert_eq!(s["cpu"]["usage"]["total"], 3000);
        assert_eq!(s["cpu"]["usage"]["percpu"], json!([1000, 2000]));
        assert_eq!(s["cpu"]["usage"]["user"], 70_000_000);
        assert_eq!(s["cpu"]["usage"]["kernel"], 30_000_000);
        assert_eq!(s["memory"]["usage"]["usage"], 4096);
        assert_eq!(s["memory"]["usage"]["max"], 8192);
        assert_eq!(s["memory"]["usage"]["limit"], 128 << 20);
        for d in [cpu, mem, v1cpu] {
            fs::remove_dir_all(d).unwrap();
        }
    }

    #[test]
    fn v2_figures_and_none() {
        let d = dir(
            "v2",
            &[
                ("cpu.stat", "usage_usec 5\nuser_usec 3\nsystem_usec 2\n"),
                ("memory.current", "100\n"),
                ("memory.max", "max\n"),
            ],
        );
        let s = stats(std::slice::from_ref(&d));
        assert_eq!(s["cpu"]["usage"]["total"], 5000);
        assert_eq!(s["cpu"]["usage"]["user"], 3000);
        assert_eq!(s["memory"]["usage"]["usage"], 100);
        assert_eq!(s["memory"]["usage"]["limit"], u64::MAX);
        fs::remove_dir_all(d).unwrap();
        assert!(stats(&[]).is_empty());
    }
}
