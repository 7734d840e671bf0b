//! Issue 3: the spec's `process.rlimits` apply to the container's first
//! process and are enforced, the same under sandbox as under runc (the
//! control): the limits read back, a file cannot outgrow RLIMIT_FSIZE
//! (the writer dies of SIGXFSZ). Limits such as RLIMIT_AS and
//! RLIMIT_FSIZE constrain the workload, not the Sentry serving it (which
//! would not start under them). The C conformance suite (identity.c)
//! checks the enforcement of each limit in detail.

use sandbox_tests::{assert_clean, Bundle, Runtime};
use serde_json::json;

const SCRIPT: &str = "ulimit -v; ulimit -f; ulimit -n; ulimit -s; \
    dd if=/dev/zero of=/tmp/big bs=1024 count=2048 2>/dev/null; echo dd=$?; \
    wc -c < /tmp/big";

fn bundle() -> Bundle {
    let b = Bundle::sh("rlimits", SCRIPT);
    let mut spec = b.spec();
    spec["process"]["rlimits"] = json!([
        { "type": "RLIMIT_NOFILE", "soft": 100, "hard": 200 },
        { "type": "RLIMIT_AS", "soft": 256u64 << 20, "hard": 256u64 << 20 },
        { "type": "RLIMIT_FSIZE", "soft": 1u64 << 20, "hard": 1u64 << 20 },
        { "type": "RLIMIT_STACK", "soft": 16u64 << 20, "hard": 16u64 << 20 },
        { "type": "RLIMIT_NPROC", "soft": 512, "hard": 512 },
    ]);
    b.write_spec(&spec);
    b
}

fn run(rt: &Runtime) -> Vec<String> {
    let b = bundle();
    let out = rt.run(&b);
    assert_eq!(out.code(), Some(0), "\n{out}");
    assert_clean(rt.root(), &b.id, b.path());
    out.stdout_lines().iter().map(|s| s.to_string()).collect()
}

#[test]
fn spec_rlimits_enforced_as_under_runc() {
    let control = run(&Runtime::runc());
    // The control itself shows the limits at work.
    assert!(
        control.contains(&"1048576".to_string()) && control.iter().any(|l| l == "dd=153"),
        "runc: the file should stop at RLIMIT_FSIZE and dd die of SIGXFSZ: {control:?}"
    );
    eprintln!("runc: {control:?}");
    let sandbox = run(&Runtime::sandbox());
    assert_eq!(sandbox, control, "sandbox and runc disagree");
}
