//! Issue 2: `create` / `state` / `start` / `kill` / `delete` in the order
//! containerd's shim calls them, with the state reported at each step, and
//! the errors containerd matches on.
//!
//! This test process plays the shim: it is a child subreaper, so the
//! container's init, once the runtime that created it has exited, is
//! reparented to us, and we reap it, as the shim does.

use std::fs;
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use sandbox_tests::reaper::{become_subreaper, is_alive, parent_of, reap};
use sandbox_tests::{assert_clean, wait_until, Bundle, DeleteOnPanic, Output, Runtime};
use serde_json::Value;

/// A workload that says when it began and exits 0 on SIGTERM. (It needs the
/// trap: as pid 1 of its namespace, it would ignore an unhandled SIGTERM.)
const WORKLOAD: &str = "trap 'exit 0' TERM; echo started; while true; do sleep 1; done";

#[track_caller]
fn state(rt: &Runtime, id: &str) -> Value {
    let out = rt.exec(&["state", id]);
    out.assert_success();
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("`state` printed invalid JSON ({e}):\n{out}"))
}

#[track_caller]
fn status_of(state: &Value) -> &str {
    state["status"]
        .as_str()
        .unwrap_or_else(|| panic!("state has no status: {state}"))
}

/// Polls `state` until its status is `want`, for up to 10 s.
#[track_caller]
fn wait_for_status(rt: &Runtime, id: &str, want: &str) -> Value {
    let start = Instant::now();
    loop {
        let s = state(rt, id);
        if status_of(&s) == want || start.elapsed() > Duration::from_secs(10) {
            assert_eq!(status_of(&s), want, "state: {s}");
            return s;
        }
        sleep(Duration::from_millis(50));
    }
}

#[track_caller]
fn assert_fails_with(out: &Output, phrase: &str) {
    assert!(!out.success(), "expected a failure:\n{out}");
    assert!(
        out.stderr.contains(phrase),
        "the error must say {phrase:?}:\n{out}"
    );
}

fn check_lifecycle(rt: &Runtime, signal: &str) {
    become_subreaper();
    let bundle = Bundle::sh("life", WORKLOAD);
    let id = bundle.id.as_str();
    let _guard = DeleteOnPanic::new(rt, id);
    let b = bundle.path().to_string_lossy().into_owned();
    let pid_file = bundle.path().join("init.pid");
    // The container's stdio is create's: these files, as the shim's fifos.
    let stdio = sandbox_tests::TempDir::new("stdio");
    let stdout = stdio.path().join("stdout");
    let started = || fs::read_to_string(&stdout).unwrap_or_default() == "started\n";

    // create: returns only after the pid file is written.
    let pf = pid_file.to_string_lossy().into_owned();
    rt.exec_in(
        &["create", "--bundle", &b, "--pid-file", &pf, id],
        stdio.path(),
    )
    .assert_success();
    let text = fs::read_to_string(&pid_file)
        .unwrap_or_else(|e| panic!("no pid file when `create` returned: {e}"));
    let pid: i32 = text
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("pid file holds {text:?}: {e}"));
    assert!(pid > 0);

    let s = state(rt, id);
    assert_eq!(status_of(&s), "created", "state: {s}");
    assert_eq!(s["id"], id, "state: {s}");
    assert_eq!(
        s["pid"].as_i64(),
        Some(i64::from(pid)),
        "state pid vs pid file: {s}"
    );
    assert!(
        is_alive(pid),
        "the container's init {pid} is not alive after create"
    );
    assert_eq!(
        parent_of(pid),
        Some(std::process::id() as i32),
        "the container's init must descend from the runtime (and so be reparented to the subreaper)"
    );
    sleep(Duration::from_millis(300));
    assert!(
        fs::read_to_string(&stdout).unwrap_or_default().is_empty(),
        "the workload began before `start`"
    );

    // start: only once.
    rt.exec(&["start", id]).assert_success();
    let s = state(rt, id);
    assert_eq!(status_of(&s), "running", "state: {s}");
    assert!(
        wait_until(started, Duration::from_secs(20)),
        "the workload did not print `started` after `start`: {:?}",
        fs::read_to_string(&stdout)
    );
    let again = rt.exec(&["start", id]);
    assert!(!again.success(), "a second `start` must fail:\n{again}");
    assert_eq!(status_of(&state(rt, id)), "running");

    // kill: the signal reaches the workload; we reap its init, as the shim does.
    rt.exec(&["kill", id, signal]).assert_success();
    let status = reap(pid, Duration::from_secs(20))
        .unwrap_or_else(|| panic!("the container's init did not exit after `kill {signal}`"));
    let killed = matches!(status, WaitStatus::Signaled(_, Signal::SIGKILL, _))
        || matches!(status, WaitStatus::Exited(_, 137));
    if signal.ends_with("KILL") || signal == "9" {
        assert!(killed, "after SIGKILL: {status:?}");
    } else {
        // The trap ran: `exit 0`.
        assert!(
            matches!(status, WaitStatus::Exited(_, 0)),
            "after SIGTERM the trap should exit 0: {status:?}"
        );
    }
    wait_for_status(rt, id, "stopped");
    let out = rt.exec(&["kill", id, "15"]);
    assert_fails_with(&out, "container not running");

    // delete: the state is gone, and so is everything else.
    rt.exec(&["delete", id]).assert_success();
    assert!(!rt.root().join(id).exists(), "state dir left after delete");
    assert_fails_with(&rt.exec(&["state", id]), "does not exist");
    assert_clean(rt.root(), id, bundle.path());
}

#[test]
fn runc_control_lifecycle_kill_15() {
    check_lifecycle(&Runtime::runc(), "15");
}

#[test]
fn runc_control_lifecycle_kill_term() {
    check_lifecycle(&Runtime::runc(), "TERM");
}

#[test]
fn runc_control_lifecycle_kill_sigkill() {
    check_lifecycle(&Runtime::runc(), "SIGKILL");
}

#[test]
fn sandbox_lifecycle_kill_15() {
    check_lifecycle(&Runtime::sandbox(), "15");
}

#[test]
fn sandbox_lifecycle_kill_term() {
    check_lifecycle(&Runtime::sandbox(), "TERM");
}

#[test]
fn sandbox_lifecycle_kill_sigkill() {
    check_lifecycle(&Runtime::sandbox(), "SIGKILL");
}

fn check_missing_container_errors(rt: &Runtime) {
    assert_fails_with(&rt.exec(&["delete", "nosuch"]), "does not exist");
    assert_fails_with(&rt.exec(&["state", "nosuch"]), "does not exist");
    assert_fails_with(&rt.exec(&["kill", "nosuch", "15"]), "does not exist");
}

#[test]
fn runc_control_missing_container_errors() {
    check_missing_container_errors(&Runtime::runc());
}

#[test]
fn sandbox_missing_container_errors() {
    check_missing_container_errors(&Runtime::sandbox());
}

/// The shim passes `--log FILE --log-format json` and shows the user the
/// last `{"level":"error","msg":...}` line of that file.
fn check_json_error_log(rt: &Runtime) {
    let dir = sandbox_tests::TempDir::new("log");
    let log = dir.path().join("log.json");
    let l = log.to_string_lossy().into_owned();
    let out = rt.exec(&["--log", &l, "--log-format", "json", "delete", "nosuch"]);
    assert!(!out.success(), "{out}");
    let text = fs::read_to_string(&log).unwrap_or_else(|e| panic!("no --log file: {e}\n{out}"));
    let last_error = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .rfind(|v| v["level"] == "error")
        .unwrap_or_else(|| panic!("no JSON error line in the log:\n{text}"));
    let msg = last_error["msg"].as_str().unwrap_or_default();
    assert!(msg.contains("does not exist"), "log: {text}");
}

#[test]
fn runc_control_json_error_log() {
    check_json_error_log(&Runtime::runc());
}

#[test]
fn sandbox_json_error_log() {
    check_json_error_log(&Runtime::sandbox());
}

/// A program that cannot be started says why, as runc says it: a missing
/// path (`stat P: no such file or directory`), a path that is not an
/// executable file (`permission denied`), a bare name not in PATH
/// (`executable file not found in $PATH`). runc is the control.
fn check_exec_errors(rt: &Runtime) {
    for (args, phrase) in [
        (vec!["/no/such/program"], "no such file or directory"),
        (vec!["/etc/passwd"], "permission denied"),
        (vec!["nosuchprogram"], "executable file not found in $PATH"),
    ] {
        let b = Bundle::sh("execerr", "true");
        let mut spec = b.spec();
        spec["process"]["args"] = args.iter().map(|a| Value::from(*a)).collect();
        b.write_spec(&spec);
        let _guard = DeleteOnPanic::new(rt, &b.id);
        let out = rt.run(&b);
        assert_fails_with(&out, phrase);
        assert!(
            out.stderr.contains(args[0]),
            "the error must name {}:\n{out}",
            args[0]
        );
        let _ = rt.exec(&["delete", "--force", &b.id]);
    }
}

#[test]
fn runc_control_exec_errors() {
    check_exec_errors(&Runtime::runc());
}

#[test]
fn sandbox_exec_errors() {
    check_exec_errors(&Runtime::sandbox());
}
