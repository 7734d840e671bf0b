//! `pause` and `resume` (what `docker pause`/`unpause` call): a paused
//! container's processes make no progress and its state says `paused`;
//! after `resume` they go on where they were. A paused container can be
//! force-deleted. runc (the cgroup freezer) is the control.

use std::fs;
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use sandbox_tests::reaper::become_subreaper;
use sandbox_tests::{assert_clean, Bundle, DeleteOnPanic, Runtime};
use serde_json::Value;

/// Counts as fast as it can into /tmp/count (the bundle's rootfs on the
/// host, so the test can watch it).
const WORKLOAD: &str = "i=0; while true; do i=$((i+1)); echo $i > /tmp/count.new; \
    mv /tmp/count.new /tmp/count; done";

fn status(rt: &Runtime, id: &str) -> String {
    let out = rt.exec(&["state", id]);
    out.assert_success();
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("`state` printed invalid JSON ({e}):\n{out}"));
    v["status"].as_str().unwrap_or_default().to_owned()
}

fn count(rootfs: &Path) -> u64 {
    fs::read_to_string(rootfs.join("tmp/count"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits up to 20 s for the counter to pass `above`.
#[track_caller]
fn wait_past(rootfs: &Path, above: u64, what: &str) {
    let start = Instant::now();
    while count(rootfs) <= above {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what}: the counter stayed at {}",
            count(rootfs)
        );
        sleep(Duration::from_millis(20));
    }
}

fn check_pause(rt: &Runtime) {
    become_subreaper();
    let bundle = Bundle::sh("pause", WORKLOAD);
    let id = bundle.id.as_str();
    let rootfs = bundle.rootfs();
    let _guard = DeleteOnPanic::new(rt, id);
    let b = bundle.path().to_string_lossy().into_owned();
    let stdio = sandbox_tests::TempDir::new("pause-stdio");
    rt.exec_in(&["create", "--bundle", &b, id], stdio.path())
        .assert_success();
    rt.exec(&["start", id]).assert_success();
    wait_past(&rootfs, 0, "after start");

    rt.exec(&["pause", id]).assert_success();
    assert_eq!(status(rt, id), "paused", "{}", rt.name);
    // A step in flight may still land; after that nothing moves.
    sleep(Duration::from_millis(200));
    let frozen = count(&rootfs);
    sleep(Duration::from_millis(700));
    assert_eq!(
        count(&rootfs),
        frozen,
        "{}: the workload ran while paused",
        rt.name
    );
    let again = rt.exec(&["pause", id]);
    assert!(
        !again.success(),
        "{}: pausing twice must fail:\n{again}",
        rt.name
    );

    rt.exec(&["resume", id]).assert_success();
    assert_eq!(status(rt, id), "running", "{}", rt.name);
    wait_past(&rootfs, frozen, "after resume");
    let again = rt.exec(&["resume", id]);
    assert!(
        !again.success(),
        "{}: resuming a running container must fail:\n{again}",
        rt.name
    );

    // A paused container goes with delete --force.
    rt.exec(&["pause", id]).assert_success();
    rt.exec(&["delete", "--force", id]).assert_success();
    assert!(!rt.root().join(id).exists(), "state dir left after delete");
    assert_clean(rt.root(), id, bundle.path());
}

#[test]
fn runc_control_pause_resume() {
    check_pause(&Runtime::runc());
}

#[test]
fn sandbox_pause_resume() {
    check_pause(&Runtime::sandbox());
}

#[test]
fn sandbox_ptrace_pause_resume() {
    let mut rt = Runtime::sandbox();
    rt.set_platform("ptrace");
    check_pause(&rt);
}

#[test]
fn sandbox_microvm_pause_resume() {
    if let Some(rt) = Runtime::sandbox_vm() {
        check_pause(&rt);
    }
}
