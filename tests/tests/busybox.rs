//! Issue 2: a busybox bundle runs through `sandbox run` with the expected
//! output and exit status, and a missing program fails cleanly.
//!
//! Each check runs three ways: natively (host kernel, chroot of the same
//! rootfs), under runc (the control runtime), and under sandbox.

use sandbox_tests::{assert_clean, native_in_chroot, Bundle, Output, Runtime};

const SCRIPT: &str = "echo hello; echo $((6*7)); for i in 1 2 3; do echo $i; done | wc -l; \
                      ls /; cat /proc/self/status | head -3; echo data > /tmp/f && cat /tmp/f";

/// What SCRIPT prints on Linux: the first three lines of /proc/self/status
/// as read by busybox cat (checked natively by `native_control_script`).
fn expected_script_output(bundle: &Bundle) -> Vec<String> {
    let mut lines: Vec<String> = vec!["hello".into(), "42".into(), "3".into()];
    lines.extend(bundle.root_listing());
    lines.extend(
        ["Name:\tcat", "Umask:\t0022", "State:\tR (running)", "data"]
            .iter()
            .map(|s| s.to_string()),
    );
    lines
}

#[track_caller]
fn assert_script_output(out: &Output, bundle: &Bundle) {
    assert_eq!(out.code(), Some(0), "\n{out}");
    assert_eq!(
        out.stdout_lines(),
        expected_script_output(bundle),
        "unexpected output:\n{out}"
    );
}

#[test]
fn native_control_script() {
    let bundle = Bundle::sh("native-script", SCRIPT);
    let out = native_in_chroot(&bundle, SCRIPT);
    assert_script_output(&out, &bundle);
}

fn check_script(rt: &Runtime) {
    let bundle = Bundle::sh("script", SCRIPT);
    let out = rt.run(&bundle);
    assert_script_output(&out, &bundle);
    assert_clean(rt.root(), &bundle.id, bundle.path());
}

#[test]
fn runc_control_script() {
    check_script(&Runtime::runc());
}

#[test]
fn sandbox_script() {
    check_script(&Runtime::sandbox());
}

#[test]
fn native_control_exit_status() {
    let bundle = Bundle::sh("native-exit", "exit 7");
    let out = native_in_chroot(&bundle, "exit 7");
    assert_eq!(out.code(), Some(7), "\n{out}");
}

fn check_exit_status(rt: &Runtime) {
    let bundle = Bundle::sh("exit", "exit 7");
    let out = rt.run(&bundle);
    assert_eq!(
        out.code(),
        Some(7),
        "`run` must exit with the process's status:\n{out}"
    );
    assert_clean(rt.root(), &bundle.id, bundle.path());
}

#[test]
fn runc_control_exit_status() {
    check_exit_status(&Runtime::runc());
}

#[test]
fn sandbox_exit_status() {
    check_exit_status(&Runtime::sandbox());
}

fn check_missing_program(rt: &Runtime) {
    let bundle = Bundle::busybox("missing", &["/nonexistent"]);
    let out = rt.run(&bundle);
    assert!(
        !out.success() && out.code().is_some(),
        "a missing program must make `run` fail with a non-zero exit status:\n{out}"
    );
    assert!(
        out.stderr.contains("/nonexistent"),
        "the error must name the missing program:\n{out}"
    );
    assert_clean(rt.root(), &bundle.id, bundle.path());
}

#[test]
fn runc_control_missing_program() {
    check_missing_program(&Runtime::runc());
}

#[test]
fn sandbox_missing_program() {
    check_missing_program(&Runtime::sandbox());
}

// The same programs with the microvm backend (the workload in a KVM guest).

#[test]
fn microvm_script() {
    if let Some(rt) = Runtime::sandbox_vm() {
        check_script(&rt);
    }
}

#[test]
fn microvm_exit_status() {
    if let Some(rt) = Runtime::sandbox_vm() {
        check_exit_status(&rt);
    }
}

#[test]
fn microvm_missing_program() {
    if let Some(rt) = Runtime::sandbox_vm() {
        check_missing_program(&rt);
    }
}
