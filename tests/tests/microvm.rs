//! Issue 4: the microvm backend really runs the workload in a KVM guest.
//!
//! - A privileged instruction (`hlt`, `cli`) executed by the workload gets
//!   SIGSEGV (SI_KERNEL), as on Linux: it runs in guest *user* mode.
//! - The VMM's exit counters, logged when the sandbox ends, count the
//!   workload's system calls.
//! - A host-side trace of the whole sandbox (strace -f) shows none of the
//!   workload's 1000 getpgid calls: they never run on the host. The same
//!   trace of the native control shows all of them, so the trace can see
//!   them.
//!
//! Without /dev/kvm these tests say SKIPPED and pass.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sandbox_tests::runner::run_with_timeout;
use sandbox_tests::{assert_clean, native_in_chroot, Bundle, Runtime, TempDir};

const EXPECTED: &str = "getpgid done\nsignal 11 code 128 addr (nil)\n";

fn program_bundle(tag: &str, args: &[&str]) -> Bundle {
    let b = Bundle::busybox(tag, args);
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("programs/guest_mode.c");
    let out = b.rootfs().join("bin/guest-mode");
    let st = Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("run gcc (tests/setup.sh installs it)");
    assert!(st.success(), "gcc failed on {}", src.display());
    b
}

/// Runs the bundle under the microvm backend with a log file; returns the
/// output and the log.
fn run_logged(rt: &Runtime, b: &Bundle, logdir: &TempDir) -> (sandbox_tests::Output, String) {
    let log = logdir.path().join("log.json");
    let bpath = b.path().to_string_lossy().into_owned();
    let out = run_with_timeout(
        rt.command(&[
            "--log",
            &log.to_string_lossy(),
            "run",
            "--bundle",
            &bpath,
            &b.id,
        ]),
        Duration::from_secs(60),
    );
    (out, std::fs::read_to_string(&log).unwrap_or_default())
}

#[test]
fn privileged_instructions_fault_in_guest_user_mode() {
    let Some(rt) = Runtime::sandbox_vm() else {
        return;
    };
    for insn in ["hlt", "cli"] {
        let b = program_bundle(&format!("guest-{insn}"), &["/bin/guest-mode", insn]);
        let native = native_in_chroot(&b, &format!("exec /bin/guest-mode {insn}"));
        assert_eq!(native.code(), Some(0), "native control:\n{native}");
        assert_eq!(native.stdout, EXPECTED, "native control:\n{native}");

        let logdir = TempDir::new("guest-log");
        let (out, log) = run_logged(&rt, &b, &logdir);
        assert_eq!(out.code(), Some(0), "{insn} under microvm:\n{out}");
        assert_eq!(out.stdout, native.stdout, "{insn} under microvm:\n{out}");
        // The VMM counted the system calls and the one fault.
        let syscalls: u64 = log
            .split("syscalls=")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no exit counters in the log:\n{log}"));
        assert!(syscalls >= 1000, "{syscalls} system calls counted:\n{log}");
        assert!(log.contains("faults=1 "), "one fault counted:\n{log}");
        assert_clean(rt.root(), &b.id, b.path());
    }
}

/// How many getpgid calls `strace -f` saw while `cmd` ran.
fn traced_getpgid(cmd: &Command, dir: &TempDir) -> (usize, String) {
    let trace = dir.path().join("trace");
    let mut st = Command::new("strace");
    st.args(["-f", "-qq", "-e", "trace=getpgid", "-o"])
        .arg(&trace)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    let out = run_with_timeout(st, Duration::from_secs(60));
    let text = std::fs::read_to_string(&trace)
        .unwrap_or_else(|e| panic!("strace wrote no trace ({e}); is strace installed?\n{out}"));
    (
        text.lines().filter(|l| l.contains("getpgid(")).count(),
        out.stdout,
    )
}

#[test]
fn the_workloads_system_calls_never_run_on_the_host() {
    let Some(rt) = Runtime::sandbox_vm() else {
        return;
    };
    let b = program_bundle("guest-trace", &["/bin/guest-mode"]);
    // Control: the trace sees a native run's calls.
    let dir = TempDir::new("guest-trace-native");
    let native = sandbox_tests::native_command(&b, "exec /bin/guest-mode");
    let (n, stdout) = traced_getpgid(&native, &dir);
    assert_eq!(stdout, EXPECTED);
    assert!(n >= 1000, "the trace saw only {n} native getpgid calls");

    let dir = TempDir::new("guest-trace-vm");
    let bpath = b.path().to_string_lossy().into_owned();
    let cmd = rt.command(&["run", "--bundle", &bpath, &b.id]);
    let (n, stdout) = traced_getpgid(&cmd, &dir);
    assert_eq!(stdout, EXPECTED, "the workload ran under strace");
    assert!(
        n < 10,
        "{n} getpgid calls ran on the host: the workload's system calls reached it"
    );
    assert_clean(rt.root(), &b.id, b.path());
}
