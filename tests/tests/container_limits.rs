//! Issue 16, container awareness: under `--memory=256m --cpus=1` (the
//! spec's `linux.resources`, as Docker writes it) the workload sees the
//! container's limits wherever programs look for them: /sys/fs/cgroup
//! (the Sentry's own cgroup v2 file system), /proc/meminfo and sysinfo,
//! the CPU count through sched_getaffinity, sysconf (glibc reads
//! /sys/devices/system/cpu) and Python's os module, and the JVM's heap
//! and processor count, which it derives from all of these.
//!
//! runc is the control. It shows the limits through the host's cgroups
//! (v1 on this host: memory/memory.limit_in_bytes, cpu/cpu.cfs_quota_us)
//! but leaves /proc/meminfo and the CPU count the host's; the sandbox, as
//! gVisor does, makes them follow the limits. So the checks compare the
//! meaning: the limits runc's cgroup files give are the ones the sandbox's
//! cgroup files, /proc/meminfo and CPU count show, and the JVM (which reads
//! cgroup v1 under runc and v2 under the sandbox) sizes itself the same.

use std::collections::HashMap;
use std::os::unix::fs::symlink;
use std::path::Path;

use sandbox_tests::cprog::build_static;
use sandbox_tests::{assert_clean, Bundle, Runtime};
use serde_json::json;

/// `--memory=256m`.
const MEMORY: u64 = 256 << 20;
/// `--cpus=1`: this much CPU time every period.
const QUOTA: u64 = 100_000;
const PERIOD: u64 = 100_000;

/// Debian's JVM (tests/setup.sh installs openjdk-17-jre-headless).
const JAVA: &str = "/usr/lib/jvm/java-17-openjdk-amd64/bin/java";
const JAVA_CONF: &str = "/etc/java-17-openjdk";

/// Prints "name value" lines: the C program's view, Python's, the cgroup
/// files (v2 where /sys/fs/cgroup has them, else runc's v1 layout, in the
/// same format) and the JVM's.
const SCRIPT: &str = r#"
/bin/limits
/usr/bin/python3 -c 'import os; print("py_affinity", len(os.sched_getaffinity(0))); print("py_cpu_count", os.cpu_count())'
cg=/sys/fs/cgroup
dd if=/dev/zero of=/dev/shm/fill bs=1024 count=4096 2>/dev/null
if [ -e $cg/memory.max ]; then
    echo "cg_file $(sed -n 's/^file //p' $cg/memory.stat)"
    echo "cg_anon $(sed -n 's/^anon //p' $cg/memory.stat)"
    echo "cg_memory_max $(cat $cg/memory.max)"
    echo "cg_memory_current $(cat $cg/memory.current)"
    echo "cg_cpu_max $(cat $cg/cpu.max)"
    echo "cg_pids_max $(cat $cg/pids.max)"
    echo "cg_pids_current $(cat $cg/pids.current)"
    echo "cg_procs_has_self $(grep -cx $$ $cg/cgroup.procs)"
else
    echo "cg_file $(sed -n 's/^total_cache //p' $cg/memory/memory.stat)"
    echo "cg_anon $(sed -n 's/^total_rss //p' $cg/memory/memory.stat)"
    echo "cg_memory_max $(cat $cg/memory/memory.limit_in_bytes)"
    echo "cg_memory_current $(cat $cg/memory/memory.usage_in_bytes)"
    echo "cg_cpu_max $(cat $cg/cpu/cpu.cfs_quota_us) $(cat $cg/cpu/cpu.cfs_period_us)"
    echo "cg_pids_max $(cat $cg/pids/pids.max)"
    echo "cg_pids_current $(cat $cg/pids/pids.current)"
    echo "cg_procs_has_self $(grep -cx $$ $cg/pids/cgroup.procs)"
fi
if [ -n "$JAVA" ]; then
    $JAVA -XX:+PrintFlagsFinal -XshowSettings:system -version 2>&1 |
        sed -n 's/^ *size_t MaxHeapSize *= *\([0-9]*\).*/java_max_heap \1/p
                s/^ *Effective CPU Count: */java_cpus /p
                s/^ *Provider: */java_provider /p
                s/^ *Memory Limit: */java_memory_limit /p'
fi
echo done
"#;

/// A busybox bundle with the host's /usr (Python, the JVM) bound
/// read-only, the C program, Docker's cgroup mount, and `resources`.
fn bundle(tag: &str, resources: serde_json::Value, java: bool) -> Bundle {
    let b = Bundle::sh(tag, SCRIPT);
    let root = b.rootfs();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("programs/limits.c");
    build_static(&src, &root.join("bin/limits"));
    std::fs::create_dir_all(root.join("usr")).expect("mkdir usr");
    for lib in ["lib", "lib64"] {
        symlink(format!("usr/{lib}"), root.join(lib)).expect("symlink lib");
    }
    let mut spec = b.spec();
    let mounts = spec["mounts"].as_array_mut().expect("mounts");
    let bind = |dst: &str| {
        json!({ "destination": dst, "type": "bind", "source": dst,
                "options": ["rbind", "ro", "nosuid", "nodev"] })
    };
    mounts.push(bind("/usr"));
    if java {
        std::fs::create_dir_all(root.join(&JAVA_CONF[1..])).expect("mkdir java conf");
        mounts.push(bind(JAVA_CONF));
        spec["process"]["env"]
            .as_array_mut()
            .expect("env")
            .push(json!(format!("JAVA={JAVA}")));
    }
    // As Docker's spec has it.
    spec["mounts"].as_array_mut().expect("mounts").push(json!({
        "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
        "options": ["ro", "nosuid", "noexec", "nodev"]
    }));
    let r = spec["linux"]["resources"]
        .as_object_mut()
        .expect("resources");
    for (k, v) in resources.as_object().expect("an object") {
        r.insert(k.clone(), v.clone());
    }
    b.write_spec(&spec);
    b
}

/// Runs the script under `rt`: its "name value" lines.
fn view(rt: &Runtime, tag: &str, resources: serde_json::Value, java: bool) -> View {
    let b = bundle(tag, resources, java);
    let out = rt.run(&b);
    assert_clean(rt.root(), &b.id, b.path());
    let who = format!("{} {}", rt.name, rt.platform_name());
    assert_eq!(out.code(), Some(0), "{who}:\n{out}");
    assert!(out.stdout.ends_with("done\n"), "{who}:\n{out}");
    let map = out
        .stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect();
    View {
        who,
        map,
        text: out.to_string(),
    }
}

struct View {
    who: String,
    map: HashMap<String, String>,
    text: String,
}

impl View {
    #[track_caller]
    fn get(&self, key: &str) -> &str {
        self.map
            .get(key)
            .unwrap_or_else(|| panic!("{}: no {key}:\n{}", self.who, self.text))
    }

    #[track_caller]
    fn num(&self, key: &str) -> u64 {
        let v = self.get(key);
        v.parse()
            .unwrap_or_else(|_| panic!("{}: {key} is {v:?}:\n{}", self.who, self.text))
    }

    /// The CPUs cpu.max (or runc's quota and period) allows: ceil(quota /
    /// period), None without a quota.
    #[track_caller]
    fn quota_cpus(&self) -> Option<u64> {
        let v = self.get("cg_cpu_max");
        let (q, p) = v
            .split_once(' ')
            .unwrap_or_else(|| panic!("{}: cpu.max {v:?}", self.who));
        match (q.parse::<u64>(), p.parse::<u64>()) {
            (Ok(q), Ok(p)) if p > 0 => Some(q.div_ceil(p)),
            // v2's "max", v1's -1.
            _ if q == "max" || q == "-1" => None,
            _ => panic!("{}: cpu.max {v:?}:\n{}", self.who, self.text),
        }
    }

    /// Every CPU count the workload can see.
    fn cpu_counts(&self) -> Vec<(&'static str, u64)> {
        [
            "affinity",
            "nprocessors_onln",
            "nprocessors_conf",
            "py_affinity",
            "py_cpu_count",
        ]
        .into_iter()
        .map(|k| (k, self.num(k)))
        .collect()
    }
}

fn java_present() {
    assert!(
        Path::new(JAVA).is_file() && Path::new(JAVA_CONF).is_dir(),
        "{JAVA} is missing: install openjdk-17-jre-headless (tests/setup.sh)"
    );
}

#[test]
fn memory_and_cpu_limits_are_what_the_workload_sees() {
    java_present();
    let resources = json!({
        "memory": { "limit": MEMORY, "swap": 2 * MEMORY },
        "cpu": { "quota": QUOTA, "period": PERIOD },
        "pids": { "limit": 100 }
    });
    let runc = view(&Runtime::runc(), "limits", resources.clone(), true);
    // The control: runc's cgroup has the limits; its CPU count is the
    // host's, more than the quota allows (else this check could not tell
    // a sandbox that ignores the quota from one that follows it).
    assert_eq!(runc.num("cg_memory_max"), MEMORY, "{}", runc.text);
    assert_eq!(runc.quota_cpus(), Some(1), "{}", runc.text);
    assert_eq!(runc.get("cg_pids_max"), "100", "{}", runc.text);
    // The shell and the `cat` it runs.
    assert_eq!(runc.get("cg_pids_current"), "2", "{}", runc.text);
    assert_eq!(runc.get("cg_procs_has_self"), "1", "{}", runc.text);
    // The 4 MiB file in /dev/shm (tmpfs) is file memory, beside anonymous.
    assert!(runc.num("cg_file") >= 4 << 20, "{}", runc.text);
    assert!(runc.num("cg_anon") > 0, "{}", runc.text);
    let host_cpus = runc.num("affinity");
    assert!(
        host_cpus > 1,
        "this check needs a host with 2 CPUs or more:\n{}",
        runc.text
    );
    let host_kb = runc.num("memtotal_kb");
    assert!(host_kb > MEMORY / 1024, "{}", runc.text);
    // What the JVM makes of runc's cgroup v1 files: at most half the
    // limit for the heap (MinRAMPercentage, for small machines), one CPU.
    let heap = runc.num("java_max_heap");
    assert!(heap > 0 && heap <= MEMORY / 2, "{}", runc.text);
    assert_eq!(runc.get("java_cpus"), "1", "{}", runc.text);
    assert_eq!(runc.get("java_memory_limit"), "256.00M", "{}", runc.text);
    assert_eq!(runc.get("java_provider"), "cgroupv1", "{}", runc.text);

    for rt in Runtime::every_sandbox() {
        let v = view(&rt, "limits", resources.clone(), true);
        // The same limits as runc's cgroup, in the v2 files.
        assert_eq!(v.get("cg_memory_max"), MEMORY.to_string(), "{}", v.text);
        assert_eq!(
            v.get("cg_cpu_max"),
            format!("{QUOTA} {PERIOD}"),
            "{}",
            v.text
        );
        // The workload's tasks and processes, as runc's cgroup counts them.
        for key in ["cg_pids_max", "cg_pids_current", "cg_procs_has_self"] {
            assert_eq!(v.get(key), runc.get(key), "{}: {key}:\n{}", v.who, v.text);
        }
        let used = v.num("cg_memory_current");
        assert!(used > 0 && used < MEMORY, "{}", v.text);
        let (file, anon) = (v.num("cg_file"), v.num("cg_anon"));
        assert!(file >= 4 << 20 && anon > 0, "{}", v.text);
        // The CPU count follows the quota everywhere.
        let allowed = v.quota_cpus().unwrap_or(host_cpus).min(host_cpus);
        for (what, n) in v.cpu_counts() {
            assert_eq!(n, allowed, "{}: {what}:\n{}", v.who, v.text);
        }
        // MemTotal and sysinfo follow the limit.
        assert_eq!(v.num("memtotal_kb"), MEMORY / 1024, "{}", v.text);
        assert_eq!(v.num("phys_kb"), MEMORY / 1024, "{}", v.text);
        // The JVM finds the Sentry's cgroup v2 file system and sizes
        // itself as under runc. (It reports no memory limit: it ignores a
        // cgroup limit that is not below the physical memory, which
        // sysinfo gives as the limit itself, as gVisor does.)
        assert_eq!(v.get("java_provider"), "cgroupv2", "{}", v.text);
        for key in ["java_max_heap", "java_cpus"] {
            assert_eq!(v.get(key), runc.get(key), "{}: {key}:\n{}", v.who, v.text);
        }
    }
}

#[test]
fn without_limits_the_hosts_figures_and_a_cpuset_bounds_the_cpus() {
    // No memory limit, no quota, but a cpuset of one CPU (the second: the
    // sandbox calls it CPU 0): runc's affinity is that CPU; the memory is
    // the host's.
    let resources = json!({ "cpu": { "cpus": "1", "mems": "0" } });
    let runc = view(&Runtime::runc(), "cpuset", resources.clone(), false);
    assert_eq!(runc.num("affinity"), 1, "{}", runc.text);
    assert_eq!(runc.num("py_affinity"), 1, "{}", runc.text);
    assert_eq!(runc.quota_cpus(), None, "{}", runc.text);
    let host_kb = runc.num("memtotal_kb");
    for rt in Runtime::every_sandbox() {
        let v = view(&rt, "cpuset", resources.clone(), false);
        assert_eq!(v.get("cg_memory_max"), "max", "{}", v.text);
        assert_eq!(v.quota_cpus(), None, "{}", v.text);
        for (what, n) in v.cpu_counts() {
            assert_eq!(n, 1, "{}: {what}:\n{}", v.who, v.text);
        }
        assert_eq!(v.num("memtotal_kb"), host_kb, "{}", v.text);
    }
}

#[test]
fn a_workload_over_its_memory_limit_is_oom_killed() {
    // 256 MiB touched under a 128 MiB limit: runc's container is killed by
    // the host's OOM killer (137); so is the sandbox, on every platform
    // (the microvm backend used to hand the workload ENOMEM instead).
    for rt in Runtime::control_then_sandboxes() {
        let b = Bundle::busybox("oom", &["/bin/memhog", "256"]);
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("programs/memhog.c");
        build_static(&src, &b.rootfs().join("bin/memhog"));
        let mut spec = b.spec();
        spec["linux"]["resources"]["memory"] = json!({ "limit": 128u64 << 20 });
        b.write_spec(&spec);
        let out = rt.run(&b);
        assert_clean(rt.root(), &b.id, b.path());
        let who = format!("{} {}", rt.name, rt.platform_name());
        assert_eq!(out.code(), Some(137), "{who}:\n{out}");
        assert_eq!(out.stdout, "", "{who}:\n{out}");
    }
}
