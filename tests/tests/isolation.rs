//! Issue 2: what the workload sees of the host. Its pid is 1, /proc lists
//! only sandbox pids, files outside the rootfs cannot be reached, and
//! /proc/version is the sandbox kernel's, not the host's.
//!
//! runc is the control: it proves the bundle and each expectation (and, for
//! /proc/version, that the check can fail). The escape paths are also walked
//! on the host, to prove they really lead to the secret outside the rootfs.

use std::fs;
use std::os::unix::fs::symlink;

use sandbox_tests::{assert_clean, Bundle, Runtime};

fn check_pid_is_1(rt: &Runtime) {
    let bundle = Bundle::sh("pid1", "echo $$");
    let out = rt.run(&bundle);
    assert_eq!(out.code(), Some(0), "\n{out}");
    assert_eq!(
        out.stdout_lines(),
        ["1"],
        "the workload's pid must be 1:\n{out}"
    );
    assert_clean(rt.root(), &bundle.id, bundle.path());
}

#[test]
fn runc_control_pid_is_1() {
    check_pid_is_1(&Runtime::runc());
}

#[test]
fn sandbox_pid_is_1() {
    check_pid_is_1(&Runtime::sandbox());
}

/// The numeric entries of a `ls /proc` listing.
fn numeric(listing: &[&str]) -> Vec<u32> {
    listing
        .iter()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// While `sh -c 'ls /proc; ...'` runs in a fresh pid namespace, only sh
/// (pid 1) and ls exist: at most three entries, all small numbers (a
/// runtime may use a few pids of the namespace while it sets up; runc does).
fn only_sandbox_pids(pids: &[u32]) -> bool {
    pids.contains(&1) && pids.len() <= 3 && pids.iter().all(|&p| p <= 64)
}

#[test]
fn native_control_proc_listing_check_can_fail() {
    let host = fs::read_dir("/proc").expect("/proc");
    let names: Vec<String> = host
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let pids = numeric(&names);
    assert!(
        !only_sandbox_pids(&pids),
        "the host's own /proc passes the 'sandbox pids only' check, so it proves nothing: {pids:?}"
    );
}

fn check_proc_lists_only_sandbox_pids(rt: &Runtime) {
    let bundle = Bundle::sh("proc", "ls /proc; echo end");
    let out = rt.run(&bundle);
    assert_eq!(out.code(), Some(0), "\n{out}");
    let lines = out.stdout_lines();
    assert_eq!(lines.last(), Some(&"end"), "\n{out}");
    assert!(lines.contains(&"self"), "/proc has no `self`:\n{out}");
    let pids = numeric(&lines);
    assert!(
        only_sandbox_pids(&pids),
        "/proc must list only the sandbox's pids (1 and at most two more, all <= 64), got {pids:?}:\n{out}"
    );
    assert_clean(rt.root(), &bundle.id, bundle.path());
}

#[test]
fn runc_control_proc_lists_only_sandbox_pids() {
    check_proc_lists_only_sandbox_pids(&Runtime::runc());
}

#[test]
fn sandbox_proc_lists_only_sandbox_pids() {
    check_proc_lists_only_sandbox_pids(&Runtime::sandbox());
}

const SECRET_NAME: &str = "secret.txt";

/// A bundle whose rootfs has symlinks pointing out of it, next to a secret
/// file outside the rootfs; returns it with the marker text and the paths
/// that, walked on the host from the rootfs, lead to the secret.
fn escape_bundle(tag: &str) -> (Bundle, String, Vec<String>) {
    let bundle = Bundle::sh(tag, "true");
    let marker = format!("HOST-SECRET-{}", bundle.id);
    fs::write(bundle.path().join(SECRET_NAME), &marker).expect("write secret");
    let rootfs = bundle.rootfs();
    // Relative to the bundle: from the rootfs, `..` is the bundle.
    let abs = bundle
        .path()
        .to_string_lossy()
        .trim_start_matches('/')
        .to_owned();
    symlink("/", rootfs.join("escape")).expect("symlink escape");
    symlink("..", rootfs.join("up")).expect("symlink up");
    symlink("../../../../../../../../..", rootfs.join("updeep")).expect("symlink updeep");
    let paths = vec![
        format!("../{SECRET_NAME}"),
        format!("/../{SECRET_NAME}"),
        format!("/../../../../../../../../{abs}/{SECRET_NAME}"),
        format!("/escape/{abs}/{SECRET_NAME}"),
        format!("/up/{SECRET_NAME}"),
        format!("/updeep/{abs}/{SECRET_NAME}"),
        format!("/proc/self/root/../{SECRET_NAME}"),
        format!("/proc/self/root/../../../../../../{abs}/{SECRET_NAME}"),
        format!("/proc/1/root/../{SECRET_NAME}"),
        format!("/proc/self/cwd/../{SECRET_NAME}"),
    ];
    (bundle, marker, paths)
}

/// A script that tries to read each path and prints `READ path: content`
/// or `DENIED path` for it.
fn probe_script(paths: &[String]) -> String {
    let mut s = String::new();
    for p in paths {
        s.push_str(&format!(
            "if c=$(cat '{p}' 2>/dev/null); then echo \"READ {p}: $c\"; else echo 'DENIED {p}'; fi; "
        ));
    }
    s.push_str("echo end");
    s
}

#[test]
fn native_control_escape_paths_reach_the_secret_on_the_host() {
    let (bundle, marker, paths) = escape_bundle("escape-host");
    let rootfs = bundle.rootfs();
    for p in &paths {
        if p.starts_with("/proc/") {
            continue; // only meaningful inside a container
        }
        let host_path = format!("{}/{}", rootfs.display(), p.trim_start_matches('/'));
        let text = fs::read_to_string(&host_path)
            .unwrap_or_else(|e| panic!("on the host, {host_path} should reach the secret: {e}"));
        assert_eq!(text, marker, "{host_path}");
    }
}

fn check_escapes_fail(rt: &Runtime) {
    let (bundle, marker, mut denied) = escape_bundle("escape");
    denied.push("/../../etc/shadow".into());
    denied.push("/proc/self/root/../../../etc/shadow".into());
    denied.push("/escape/etc/shadow".into());
    denied.push("/updeep/etc/shadow".into());
    // Positive probes: the same symlinks resolve inside the container's
    // root, so a file in the rootfs is read through each of them. (This
    // also keeps a workload that cannot run `cat` at all from passing.)
    fs::write(bundle.rootfs().join("inside.txt"), "INSIDE").expect("write inside.txt");
    let read = [
        "/inside.txt",
        "/escape/inside.txt",
        "/up/inside.txt",
        "/updeep/inside.txt",
    ];
    let mut paths: Vec<String> = read.iter().map(|p| p.to_string()).collect();
    paths.extend(denied.iter().cloned());
    let script = probe_script(&paths);
    let mut spec = bundle.spec();
    spec["process"]["args"] = serde_json::json!(["sh", "-c", script]);
    bundle.write_spec(&spec);

    let out = rt.run(&bundle);
    assert_eq!(out.code(), Some(0), "\n{out}");
    assert!(
        !out.stdout.contains(&marker),
        "the workload read the host file outside its rootfs:\n{out}"
    );
    let expected: Vec<String> = read
        .iter()
        .map(|p| format!("READ {p}: INSIDE"))
        .chain(denied.iter().map(|p| format!("DENIED {p}")))
        .chain(["end".to_string()])
        .collect();
    assert_eq!(out.stdout_lines(), expected, "\n{out}");
    assert_clean(rt.root(), &bundle.id, bundle.path());
}

#[test]
fn runc_control_escapes_fail() {
    check_escapes_fail(&Runtime::runc());
}

#[test]
fn sandbox_escapes_fail() {
    check_escapes_fail(&Runtime::sandbox());
}

fn host_release() -> String {
    let r = fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
    r.trim().to_owned()
}

fn proc_version(rt: &Runtime) -> String {
    let bundle = Bundle::sh("version", "cat /proc/version");
    let out = rt.run(&bundle);
    assert_eq!(out.code(), Some(0), "\n{out}");
    assert!(out.stdout.starts_with("Linux version "), "\n{out}");
    assert_clean(rt.root(), &bundle.id, bundle.path());
    out.stdout
}

#[test]
fn runc_control_proc_version_is_the_hosts() {
    // The control proves the check can fail: under runc the host kernel answers.
    let version = proc_version(&Runtime::runc());
    assert!(version.contains(&host_release()), "{version}");
}

#[test]
fn sandbox_proc_version_is_not_the_hosts() {
    let version = proc_version(&Runtime::sandbox());
    let release = host_release();
    assert!(
        !version.contains(&release),
        "/proc/version shows the host's kernel release {release}: {version}"
    );
}
