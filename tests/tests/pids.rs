//! The spec's pids limit (`docker run --pids-limit N`): the workload gets
//! the number of tasks it asked for. Under runc the pids cgroup counts the
//! container's tasks; under the sandbox the host cgroup also holds the
//! Sentry's threads and stubs, so the Sentry enforces the limit on the
//! workload's tasks itself and the host cgroup gets room besides. A
//! program forks 30 children under a limit of 20: the count of forks that
//! succeed, and the EAGAIN of the first that fails, must be runc's.

use std::path::Path;

use sandbox_tests::cprog::build_static;
use sandbox_tests::{assert_clean, Bundle, Runtime};

fn runtimes() -> Vec<Runtime> {
    Runtime::control_then_sandboxes()
}

#[test]
fn the_pids_limit_counts_the_workloads_tasks() {
    let mut control: Option<String> = None;
    for rt in runtimes() {
        let b = Bundle::sh("pids", "exec /bin/forkcount 30");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("programs/forkcount.c");
        build_static(&src, &b.rootfs().join("bin/forkcount"));
        let mut spec = b.spec();
        spec["linux"]["resources"]["pids"] = serde_json::json!({ "limit": 20 });
        b.write_spec(&spec);
        let out = rt.run(&b);
        assert_clean(rt.root(), &b.id, b.path());
        assert!(out.success(), "{} {}: {out}", rt.name, rt.platform_name());
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with("forks "))
            .unwrap_or_default()
            .to_string();
        match &control {
            None => {
                // The control: 20 tasks, the parent being one of them.
                assert_eq!(line, "forks 19 errno EAGAIN", "runc: {out}");
                control = Some(line);
            }
            Some(want) => assert_eq!(&line, want, "{} {}: {out}", rt.name, rt.platform_name()),
        }
    }
}
