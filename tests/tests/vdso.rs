//! The Sentry's vDSO answers the clocks without a trap (issues 3 and 5).
//!
//! A program reads CLOCK_MONOTONIC 100000 times through glibc (and
//! gettimeofday and time 10000 times each) on every platform; the Sentry's
//! debug log, written when the sandbox ends, says how many of those calls it
//! serviced as system calls: almost none. The control is the same program
//! making the calls with `syscall()`: then the Sentry counts every one, so
//! the counter can see them. The native run shows the program itself works.

use std::path::Path;
use std::time::Duration;

use sandbox_tests::cprog::build_both;
use sandbox_tests::runner::run_with_timeout;
use sandbox_tests::{assert_clean, native_in_chroot, Bundle, Runtime, TempDir};

const CALLS: u64 = 100_000;

fn platforms() -> Vec<&'static str> {
    let mut p = vec!["ptrace", "seccomp"];
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
    {
        p.push("kvm");
    } else {
        eprintln!("vdso: NOT running the kvm platform: no usable /dev/kvm");
    }
    p
}

/// The number after `name=` in the Sentry's "vDSO calls serviced" log line.
fn serviced(log: &str, name: &str) -> u64 {
    let line = log
        .lines()
        .find(|l| l.contains("vDSO calls serviced"))
        .unwrap_or_else(|| panic!("no vDSO counters in the log:\n{log}"));
    let key = format!(" {name}=");
    line.split(&key)
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {name} count in: {line}"))
}

/// Runs `program mode` under `platform`; returns its stdout and the log.
fn run(rt: &Runtime, platform: &str, program: &str, mode: &str) -> (String, String) {
    let calls = CALLS.to_string();
    let b = program_bundle(&format!("vdso-{platform}-{mode}"), &[program, mode, &calls]);
    let logdir = TempDir::new("vdso-log");
    let log = logdir.path().join("log.json");
    let bpath = b.path().to_string_lossy().into_owned();
    let out = run_with_timeout(
        rt.command(&[
            "--debug",
            "--log",
            &log.to_string_lossy(),
            "--platform",
            platform,
            "run",
            "--bundle",
            &bpath,
            &b.id,
        ]),
        Duration::from_secs(120),
    );
    assert_eq!(
        out.code(),
        Some(0),
        "{program} {mode} on {platform}:\n{out}"
    );
    assert_clean(rt.root(), &b.id, b.path());
    (
        out.stdout,
        std::fs::read_to_string(&log).unwrap_or_default(),
    )
}

fn program_bundle(tag: &str, args: &[&str]) -> Bundle {
    let b = Bundle::busybox(tag, args);
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("programs/clock_loop.c");
    build_both(&b.rootfs(), &src, "clock-loop", &[]);
    b
}

#[test]
fn clock_reads_do_not_trap() {
    let native_bundle = program_bundle("vdso-native", &["/bin/true"]);
    let native = native_in_chroot(&native_bundle, "exec /bin/clock-loop libc 1000");
    assert_eq!(native.code(), Some(0), "native control:\n{native}");
    assert!(
        native.stdout.starts_with("done 1000, 0 steps back"),
        "{native}"
    );

    let rt = Runtime::sandbox();
    for platform in platforms() {
        for program in ["/bin/clock-loop", "/bin/clock-loop-static"] {
            let (out, log) = run(&rt, platform, program, "libc");
            assert!(out.starts_with("done 100000, 0 steps back"), "{out}");
            for call in ["clock_gettime", "gettimeofday", "time"] {
                let n = serviced(&log, call);
                assert!(
                    n < 100,
                    "{program} on {platform}: the Sentry serviced {n} {call} calls:\n{log}"
                );
            }
        }
        // The control: raw system calls are all counted.
        let (out, log) = run(&rt, platform, "/bin/clock-loop-static", "syscall");
        assert!(out.starts_with("done 100000, 0 steps back"), "{out}");
        assert!(serviced(&log, "clock_gettime") >= CALLS, "{log}");
        assert!(serviced(&log, "gettimeofday") >= CALLS / 10, "{log}");
        assert!(serviced(&log, "time") >= CALLS / 10, "{log}");
    }
}
