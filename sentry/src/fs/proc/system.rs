//! The system-wide files of /proc: version, uptime, loadavg, stat,
//! meminfo, cpuinfo, filesystems, and the mount table renderings that
//! /proc/PID/mounts and mountinfo share.

use std::sync::Arc;

use super::{text, uptime_secs, HZ, RELEASE, VERSION};
use crate::fs::synthetic::file;
use crate::kernel::process::Process;
use crate::vfs::Inode;

/// The number of CPUs the sandbox reports (sched_getaffinity, /sys,
/// /proc/cpuinfo and /proc/stat agree on it): the container's, after its
/// CPU quota and cpuset.
pub fn cpus() -> usize {
    crate::kernel::resources::cpus()
}

/// Live threads and processes of the sandbox: (running, threads).
fn task_counts() -> (usize, usize) {
    let Some(k) = crate::kernel::get() else {
        return (1, 1);
    };
    let mut threads = 0;
    for p in k.all_processes() {
        if !p.is_zombie() {
            threads += p.threads().len().max(1);
        }
    }
    // The reader is running; the others are waiting for the Sentry.
    (1, threads.max(1))
}

/// CPU time the sandbox's live processes used so far, in ticks.
fn busy_ticks() -> u64 {
    crate::kernel::resources::cpu_time_ns() / (1_000_000_000 / HZ)
}

pub(super) fn files(dev: u64) -> Vec<(String, Arc<dyn Inode>)> {
    vec![
        (
            "version".into(),
            file(dev, "version", 0, |_| {
                text(format!(
                    "Linux version {RELEASE} (sandbox@sentry) {VERSION}\n"
                ))
            }),
        ),
        (
            "cmdline".into(),
            file(dev, "cmdline", 0, |_| text("sandbox\n".into())),
        ),
        (
            "uptime".into(),
            file(dev, "uptime", 0, |_| {
                let up = uptime_secs();
                let idle = (up * cpus() as f64 - busy_ticks() as f64 / HZ as f64).max(0.0);
                text(format!("{up:.2} {idle:.2}\n"))
            }),
        ),
        (
            "loadavg".into(),
            file(dev, "loadavg", 0, |_| {
                let (running, threads) = task_counts();
                let last = crate::kernel::get().map(|k| k.last_pid()).unwrap_or(1);
                text(format!("0.00 0.00 0.00 {running}/{threads} {last}\n"))
            }),
        ),
        (
            "filesystems".into(),
            file(dev, "filesystems", 0, |_| {
                text(
                    "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tdevpts\nnodev\tmqueue\n"
                        .into(),
                )
            }),
        ),
        ("meminfo".into(), file(dev, "meminfo", 0, |_| meminfo())),
        ("stat".into(), file(dev, "stat", 0, |_| stat())),
        ("cpuinfo".into(), file(dev, "cpuinfo", 0, |_| cpuinfo())),
        (
            "cgroups".into(),
            file(dev, "cgroups", 0, |_| crate::fs::cgroupfs::proc_cgroups()),
        ),
        (
            "devices".into(),
            // The character devices /dev holds (fs/dev.rs, fs/pty/), by
            // major number, in Linux's format; no block devices.
            file(dev, "devices", 0, |_| {
                text(
                    "Character devices:\n  1 mem\n  4 /dev/vc/0\n  4 tty\n  5 /dev/tty\n  \
                     5 /dev/console\n  5 /dev/ptmx\n136 pts\n\nBlock devices:\n"
                        .into(),
                )
            }),
        ),
    ]
}

/// /proc/meminfo: the container's memory (its limit, less what the
/// workload uses), as gVisor shows it, so programs that size themselves by
/// MemTotal fit the container.
fn meminfo() -> Vec<u8> {
    let m = crate::kernel::resources::memory();
    let kb = |x: u64| x / 1024;
    let mut s = String::new();
    for (name, v) in [
        ("MemTotal", kb(m.total)),
        ("MemFree", kb(m.free)),
        ("MemAvailable", kb(m.free)),
        ("Buffers", 0),
        (
            "Cached",
            kb(crate::kernel::resources::file_memory().min(m.used)),
        ),
        ("SwapCached", 0),
        ("Active", 0),
        ("Inactive", 0),
        ("SwapTotal", 0),
        ("SwapFree", 0),
        ("Dirty", 0),
        ("Shmem", 0),
        ("CommitLimit", kb(m.total)),
        ("HugePages_Total", 0),
        ("Hugepagesize", 2048),
    ] {
        if name.starts_with("HugePages") {
            s.push_str(&format!("{:<16}{v:>8}\n", format!("{name}:")));
        } else {
            s.push_str(&format!("{:<16}{v:>8} kB\n", format!("{name}:")));
        }
    }
    text(s)
}

/// /proc/stat: the sandbox's CPU time (all of it user time, as getrusage
/// reports it), boot time, and process counts.
fn stat() -> Vec<u8> {
    let n = cpus() as u64;
    let up = (uptime_secs() * HZ as f64) as u64;
    let user = busy_ticks();
    let idle = (up * n).saturating_sub(user);
    let mut s = format!("cpu  {user} 0 0 {idle} 0 0 0 0 0 0\n");
    for i in 0..n {
        s.push_str(&format!(
            "cpu{i} {} 0 0 {} 0 0 0 0 0 0\n",
            user / n,
            idle / n
        ));
    }
    let now = crate::vfs::stat::now().tv_sec as u64;
    let btime = now.saturating_sub(up / HZ);
    let (running, _) = task_counts();
    let forks = crate::kernel::get().map(|k| k.last_pid()).unwrap_or(1);
    s.push_str(&format!(
        "intr 0\nctxt 0\nbtime {btime}\nprocesses {forks}\nprocs_running {running}\nprocs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n"
    ));
    text(s)
}

/// One CPUID leaf of the CPU the Sentry runs on (the workload runs on the
/// same CPUs and may execute CPUID itself).
fn cpuid(leaf: u32, sub: u32) -> [u32; 4] {
    let r = std::arch::x86_64::__cpuid_count(leaf, sub);
    [r.eax, r.ebx, r.ecx, r.edx]
}

/// Feature flags as /proc/cpuinfo names them: (leaf, register, bit, name).
const FLAGS: &[(u32, usize, u32, &str)] = &[
    (1, 3, 0, "fpu"),
    (1, 3, 1, "vme"),
    (1, 3, 2, "de"),
    (1, 3, 3, "pse"),
    (1, 3, 4, "tsc"),
    (1, 3, 5, "msr"),
    (1, 3, 6, "pae"),
    (1, 3, 7, "mce"),
    (1, 3, 8, "cx8"),
    (1, 3, 9, "apic"),
    (1, 3, 11, "sep"),
    (1, 3, 12, "mtrr"),
    (1, 3, 13, "pge"),
    (1, 3, 14, "mca"),
    (1, 3, 15, "cmov"),
    (1, 3, 16, "pat"),
    (1, 3, 17, "pse36"),
    (1, 3, 19, "clflush"),
    (1, 3, 23, "mmx"),
    (1, 3, 24, "fxsr"),
    (1, 3, 25, "sse"),
    (1, 3, 26, "sse2"),
    (1, 3, 27, "ss"),
    (1, 3, 28, "ht"),
    (0x8000_0001, 3, 11, "syscall"),
    (0x8000_0001, 3, 20, "nx"),
    (0x8000_0001, 3, 26, "pdpe1gb"),
    (0x8000_0001, 3, 27, "rdtscp"),
    (0x8000_0001, 3, 29, "lm"),
    (1, 2, 0, "pni"),
    (1, 2, 1, "pclmulqdq"),
    (1, 2, 9, "ssse3"),
    (1, 2, 12, "fma"),
    (1, 2, 13, "cx16"),
    (1, 2, 19, "sse4_1"),
    (1, 2, 20, "sse4_2"),
    (1, 2, 21, "x2apic"),
    (1, 2, 22, "movbe"),
    (1, 2, 23, "popcnt"),
    (1, 2, 25, "aes"),
    (1, 2, 26, "xsave"),
    (1, 2, 28, "avx"),
    (1, 2, 29, "f16c"),
    (1, 2, 30, "rdrand"),
    (1, 2, 31, "hypervisor"),
    (0x8000_0001, 2, 0, "lahf_lm"),
    (0x8000_0001, 2, 5, "abm"),
    (0x8000_0001, 2, 8, "3dnowprefetch"),
    (7, 1, 0, "fsgsbase"),
    (7, 1, 3, "bmi1"),
    (7, 1, 5, "avx2"),
    (7, 1, 7, "smep"),
    (7, 1, 8, "bmi2"),
    (7, 1, 9, "erms"),
    (7, 1, 10, "invpcid"),
    (7, 1, 16, "avx512f"),
    (7, 1, 17, "avx512dq"),
    (7, 1, 18, "rdseed"),
    (7, 1, 19, "adx"),
    (7, 1, 20, "smap"),
    (7, 1, 23, "clflushopt"),
    (7, 1, 24, "clwb"),
    (7, 1, 28, "avx512cd"),
    (7, 1, 29, "sha_ni"),
    (7, 1, 30, "avx512bw"),
    (7, 1, 31, "avx512vl"),
    (7, 2, 1, "avx512vbmi"),
    (7, 2, 4, "pku"),
    (7, 2, 22, "rdpid"),
];

fn cpuinfo() -> Vec<u8> {
    let v = cpuid(0, 0);
    let max_leaf = v[0];
    let vendor: Vec<u8> = [v[1], v[3], v[2]]
        .iter()
        .flat_map(|r| r.to_le_bytes())
        .collect();
    let vendor = String::from_utf8_lossy(&vendor).into_owned();
    let sig = cpuid(1, 0)[0];
    let base_family = (sig >> 8) & 0xf;
    let family = if base_family == 0xf {
        base_family + ((sig >> 20) & 0xff)
    } else {
        base_family
    };
    let model = if base_family == 0x6 || base_family == 0xf {
        ((sig >> 4) & 0xf) | (((sig >> 16) & 0xf) << 4)
    } else {
        (sig >> 4) & 0xf
    };
    let max_ext = cpuid(0x8000_0000, 0)[0];
    let name = if max_ext >= 0x8000_0004 {
        let bytes: Vec<u8> = (0x8000_0002..=0x8000_0004)
            .flat_map(|l| cpuid(l, 0))
            .flat_map(|r| r.to_le_bytes())
            .collect();
        String::from_utf8_lossy(&bytes)
            .trim_matches(char::from(0))
            .trim()
            .to_string()
    } else {
        "unknown".into()
    };
    let flags: Vec<&str> = FLAGS
        .iter()
        .filter(|(leaf, reg, bit, _)| {
            let avail = if *leaf >= 0x8000_0000 {
                max_ext >= *leaf
            } else {
                max_leaf >= *leaf
            };
            avail && cpuid(*leaf, 0)[*reg] & (1 << bit) != 0
        })
        .map(|f| f.3)
        .collect();
    let n = cpus();
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!(
            "processor\t: {i}\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel\t\t: {model}\nmodel name\t: {name}\nstepping\t: {}\nphysical id\t: 0\nsiblings\t: {n}\ncore id\t\t: {i}\ncpu cores\t: {n}\napicid\t\t: {i}\nfpu\t\t: yes\nfpu_exception\t: yes\ncpuid level\t: {max_leaf}\nwp\t\t: yes\nflags\t\t: {}\nclflush size\t: 64\ncache_alignment\t: 64\naddress sizes\t: 46 bits physical, 48 bits virtual\n\n",
            sig & 0xf,
            flags.join(" ")
        ));
    }
    text(s)
}

/// The id mountinfo and fdinfo's mnt_id give the mount made `seq`th: its
/// place in mount order, after a few ids Linux would give to mounts outside.
fn mount_id(seq: u64) -> u64 {
    20 + seq
}

/// The id of the mount a file at `path` of `p`'s container lies on.
pub(super) fn mount_id_of(p: &Process, path: &str) -> u64 {
    let mounts = &p.container.mounts;
    mounts
        .containing(path)
        .and_then(|(mp, _)| mounts.seq(mp))
        .map(mount_id)
        .unwrap_or(0)
}

/// A path or source as Linux prints it in the mount tables: space, tab,
/// newline and backslash in octal.
fn mangle(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            ' ' | '\t' | '\n' | '\\' => out.push_str(&format!("\\{:03o}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// /proc/mounts' options: the mount's `rw`/`ro`, the super block's
/// generic flags, the per-mount flags, then the file system's own options.
fn mounts_options(m: &crate::vfs::mount::Mount) -> String {
    let mut sb = m.super_options.split(',');
    let sb_ro = sb.next() == Some("ro");
    let (generic, own): (Vec<&str>, Vec<&str>) = sb
        .filter(|o| !o.is_empty())
        .partition(|o| matches!(*o, "sync" | "dirsync" | "mand" | "lazytime"));
    let flags = m.flags.render();
    let per_mount = flags.split(',').skip(1);
    let rw = if m.flags.readonly || sb_ro {
        "ro"
    } else {
        "rw"
    };
    std::iter::once(rw)
        .chain(generic)
        .chain(per_mount)
        .chain(own)
        .collect::<Vec<_>>()
        .join(",")
}

/// /proc/PID/mounts (and /proc/mounts, the reader's), in mount order:
/// the table of `p`'s container.
pub(super) fn mounts_text(p: &Process) -> Vec<u8> {
    let mut s = String::new();
    for (_, path, m) in p.container.mounts.in_order() {
        s.push_str(&format!(
            "{} {} {} {} 0 0\n",
            mangle(&m.source),
            mangle(path),
            m.fstype,
            mounts_options(m)
        ));
    }
    text(s)
}

/// /proc/PID/mountinfo, in mount order: ids, parents, device numbers,
/// roots, per-mount flags and the super blocks' options.
pub(super) fn mountinfo_text(p: &Process) -> Vec<u8> {
    let mounts = &p.container.mounts;
    let mut s = String::new();
    for (seq, path, m) in mounts.in_order() {
        // The root's parent lies outside the sandbox, as in a container.
        let parent = match path.rsplit_once('/') {
            Some((up, _)) if path != "/" => {
                let up = if up.is_empty() { "/" } else { up };
                mounts
                    .containing(up)
                    .and_then(|(p, _)| mounts.seq(p))
                    .map(mount_id)
                    .unwrap_or(19)
            }
            _ => 19,
        };
        let dev = m.root.stat().map(|st| st.dev).unwrap_or(0);
        let (major, minor) = ((dev >> 8) & 0xfff, (dev & 0xff) | ((dev >> 12) & !0xff));
        s.push_str(&format!(
            "{} {parent} {major}:{minor} {} {} {} - {} {} {}\n",
            mount_id(seq),
            mangle(&m.fs_root),
            mangle(path),
            m.flags.render(),
            m.fstype,
            mangle(&m.source),
            m.super_options
        ));
    }
    text(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::MountFlags;
    use crate::vfs::mount::Mount;

    fn mount(flags: &[&str], super_options: &str) -> Mount {
        let root = crate::fs::synthetic::file(1, "x", 0, |_| Vec::new());
        let flags = MountFlags::with_options(MountFlags::default(), flags);
        Mount::new(root, flags, "tmpfs", "shm", super_options.into())
    }

    #[test]
    fn mounts_options_in_linuxs_order() {
        let m = mount(&["nosuid", "nodev", "noexec"], "rw,size=65536k");
        assert_eq!(
            mounts_options(&m),
            "rw,nosuid,nodev,noexec,relatime,size=65536k"
        );
        // The super block's generic flags come before the per-mount ones.
        let m = mount(&["ro"], "rw,lazytime,discard");
        assert_eq!(mounts_options(&m), "ro,lazytime,relatime,discard");
        let m = mount(&["strictatime"], "ro");
        assert_eq!(mounts_options(&m), "ro");
    }

    #[test]
    fn mangles_as_linux() {
        assert_eq!(mangle("/a b\\c\td"), "/a\\040b\\134c\\011d");
    }

    #[test]
    fn bind_roots() {
        let m = mount(&[], "rw");
        let inode = crate::fs::synthetic::file(1, "y", 0, |_| Vec::new());
        assert_eq!(m.bind_of(inode.clone(), "sys", m.flags).fs_root, "/sys");
        let sub = m.bind_of(inode.clone(), "a", m.flags);
        assert_eq!(sub.bind_of(inode.clone(), "b/c", m.flags).fs_root, "/a/b/c");
        assert_eq!(sub.bind_of(inode, "", m.flags).fs_root, "/a");
    }
}
