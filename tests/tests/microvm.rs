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
//! A crash or hang of the guest is the container's exit and leaves nothing
//! behind:
//!
//! - A workload that breaks its own CPU state in every way user mode can
//!   (bad selectors, privileged instructions, non-canonical jumps and
//!   stacks, a garbage `iretq` frame, the trap flag, a sigreturn to a
//!   non-canonical rip) gets Linux's signal for each, line for line with
//!   the native control, and the VM survives all of them (so do the
//!   sentry backend's ptrace and seccomp platforms).
//! - `kill 9` ends a workload whose threads spin in guest code, and
//!   `kill -9` of the VMM process from outside stops the container;
//!   `delete` then leaves nothing. runc is the control of both.
//!
//! A munmap or mprotect in one thread is seen by the process's other
//! threads, running on other vCPUs, before the call returns (the TLB
//! shootdown; native control).
//!
//! `events --stats` reports the VMM's exit counters, which grow as the
//! workload runs (the sentry backend, the control, reports its platform and
//! no counters).
//!
//! And the guest's memory is the container's memory limit: a workload
//! that asks for more gets ENOMEM from mmap (where Linux's cgroup would
//! OOM-kill it), while the same program without the limit gets all it
//! asks for.
//!
//! A host without KVM gets a clear error at `create` and nothing is left
//! behind (shown in a mount namespace whose /dev lacks the device node; the
//! control is the same namespace with it).
//!
//! Without /dev/kvm these tests say SKIPPED and pass.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use sandbox_tests::reaper::{become_subreaper, reap};
use sandbox_tests::runner::run_with_timeout;
use sandbox_tests::{assert_clean, native_in_chroot, Bundle, DeleteOnPanic, Runtime, TempDir};

const EXPECTED: &str = "getpgid done\nsignal 11 code 128 addr (nil)\n";

/// A busybox bundle with tests/programs/`src` compiled (static) to
/// /bin/`name`.
fn c_bundle(tag: &str, src: &str, name: &str, args: &[&str]) -> Bundle {
    let b = Bundle::busybox(tag, args);
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("programs")
        .join(src);
    let out = b.rootfs().join("bin").join(name);
    let st = Command::new("gcc")
        .args(["-static", "-O1", "-pthread", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("run gcc (tests/setup.sh installs it)");
    assert!(st.success(), "gcc failed on {}", src.display());
    b
}

fn program_bundle(tag: &str, args: &[&str]) -> Bundle {
    c_bundle(tag, "guest_mode.c", "guest-mode", args)
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

#[test]
fn a_workload_that_breaks_its_cpu_state_gets_linux_signals_and_the_vm_survives() {
    let Some(rt) = Runtime::sandbox_vm() else {
        return;
    };
    let b = c_bundle("misbehave", "misbehave.c", "misbehave", &["/bin/misbehave"]);
    let native = native_in_chroot(&b, "exec /bin/misbehave");
    assert_eq!(native.code(), Some(0), "native control:\n{native}");
    assert!(
        native.stdout.ends_with("done\n") && native.stdout.lines().count() > 15,
        "native control:\n{native}"
    );
    let out = rt.run(&b);
    assert_eq!(out.stdout, native.stdout, "under microvm:\n{out}");
    assert_eq!(out.code(), Some(0), "under microvm:\n{out}");
    assert_clean(rt.root(), &b.id, b.path());
    // The sentry backend's platforms give the same signals.
    let sentry = Runtime::sandbox();
    for platform in ["ptrace", "seccomp"] {
        let bpath = b.path().to_string_lossy().into_owned();
        let id = format!("{}-{platform}", b.id);
        let out = sentry.exec(&["--platform", platform, "run", "--bundle", &bpath, &id]);
        assert_eq!(out.stdout, native.stdout, "on {platform}:\n{out}");
        assert_eq!(out.code(), Some(0), "on {platform}:\n{out}");
        assert_clean(sentry.root(), &id, b.path());
    }
}

/// How the container's init was made to end.
#[derive(Clone, Copy, Debug)]
enum Ending {
    /// `RUNTIME kill ID 9`.
    RuntimeKill,
    /// `kill -9` of the init pid (for microvm: the VMM) from outside.
    HostKill,
}

/// Creates and starts a container whose two threads spin in user mode
/// without a system call, ends it the way `how` says, and checks that it
/// ends within `bound`, is reported stopped, and that `delete` leaves
/// nothing.
fn spinning_container_ends(rt: &Runtime, how: Ending) {
    become_subreaper();
    let b = c_bundle("spin", "spin.c", "spin", &["/bin/spin", "2"]);
    let id = b.id.as_str();
    let _guard = DeleteOnPanic::new(rt, id);
    let (pid, _stdio) = create_and_start(rt, &b, "spinning\n");
    // Let the threads settle into their loops.
    sleep(Duration::from_millis(300));
    match how {
        Ending::RuntimeKill => {
            rt.exec(&["kill", id, "9"]).assert_success();
        }
        Ending::HostKill => {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL)
                .unwrap_or_else(|e| panic!("kill -9 {pid}: {e}"));
        }
    }
    // A bound for a hang, not a performance figure.
    let status = reap(pid, Duration::from_secs(20)).unwrap_or_else(|| {
        panic!(
            "{}: the container's init {pid} still runs 20 s after {how:?}",
            rt.name
        )
    });
    let killed = matches!(status, WaitStatus::Signaled(_, Signal::SIGKILL, _))
        || matches!(status, WaitStatus::Exited(_, 137));
    assert!(killed, "{}: after {how:?}: {status:?}", rt.name);
    let start = Instant::now();
    loop {
        let out = rt.exec(&["state", id]);
        out.assert_success();
        if out.stdout.contains("\"stopped\"") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{}: not stopped after {how:?}:\n{out}",
            rt.name
        );
        sleep(Duration::from_millis(50));
    }
    rt.exec(&["delete", id]).assert_success();
    assert_clean(rt.root(), id, b.path());
}

/// Creates and starts `b` as the shim would (stdio in files of the returned
/// directory), and waits until its stdout reads `first`. Returns the init
/// pid, which the caller (a subreaper) must reap.
fn create_and_start(rt: &Runtime, b: &Bundle, first: &str) -> (i32, TempDir) {
    let id = b.id.as_str();
    let bpath = b.path().to_string_lossy().into_owned();
    let pid_file = b.path().join("init.pid");
    let pf = pid_file.to_string_lossy().into_owned();
    let stdio = TempDir::new("vm-stdio");
    rt.exec_in(
        &["create", "--bundle", &bpath, "--pid-file", &pf, id],
        stdio.path(),
    )
    .assert_success();
    let pid: i32 = fs::read_to_string(&pid_file)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or_else(|| panic!("{}: no pid file after create", rt.name));
    rt.exec(&["start", id]).assert_success();
    let stdout = stdio.path().join("stdout");
    let start = Instant::now();
    while fs::read_to_string(&stdout).unwrap_or_default() != first {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{}: the workload never printed {first:?}",
            rt.name
        );
        sleep(Duration::from_millis(50));
    }
    (pid, stdio)
}

#[test]
fn runc_control_spinning_container_ends_on_kill_9() {
    spinning_container_ends(&Runtime::runc(), Ending::RuntimeKill);
}

#[test]
fn runc_control_spinning_container_ends_when_its_init_is_killed() {
    spinning_container_ends(&Runtime::runc(), Ending::HostKill);
}

#[test]
fn microvm_spinning_guest_ends_on_kill_9() {
    if let Some(rt) = Runtime::sandbox_vm() {
        spinning_container_ends(&rt, Ending::RuntimeKill);
    }
}

#[test]
fn microvm_vmm_killed_from_outside_stops_the_container() {
    if let Some(rt) = Runtime::sandbox_vm() {
        spinning_container_ends(&rt, Ending::HostKill);
    }
}

/// Runs memhog asking for `mib` MiB under microvm, without a memory limit.
fn memhog(rt: &Runtime, mib: u64) -> sandbox_tests::Output {
    let arg = mib.to_string();
    let b = c_bundle("memhog", "memhog.c", "memhog", &["/bin/memhog", &arg]);
    let mut spec = b.spec();
    if let Some(r) = spec["linux"].get_mut("resources") {
        r.as_object_mut().map(|o| o.remove("memory"));
    }
    b.write_spec(&spec);
    let out = rt.run(&b);
    assert_clean(rt.root(), &b.id, b.path());
    out
}

#[test]
fn microvm_guest_memory_without_a_limit() {
    let Some(rt) = Runtime::sandbox_vm() else {
        return;
    };
    // Without a limit, 256 MiB is no problem. (Under a limit, the
    // workload that outgrows it is OOM-killed as under runc:
    // tests/tests/container_limits.rs.)
    let out = memhog(&rt, 256);
    assert_eq!(out.stdout, "allocated 256 MiB\n", "without a limit:\n{out}");
    assert_eq!(out.code(), Some(0), "without a limit:\n{out}");
}

/// `events --stats ID` of `rt`, parsed.
#[track_caller]
fn stats(rt: &Runtime, id: &str) -> serde_json::Value {
    let out = rt.exec(&["events", "--stats", id]);
    out.assert_success();
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("events --stats printed no JSON ({e}):\n{out}"))
}

/// `events --stats` of a running container: runc's envelope, with the
/// platform and (microvm) the VMM's exit counters, which grow as the
/// workload runs; a stopped container is "not running".
fn events_stats(rt: &Runtime, platform: &str) {
    become_subreaper();
    let b = Bundle::sh("events", "echo started; while true; do sleep 1; done");
    let id = b.id.as_str();
    let _guard = DeleteOnPanic::new(rt, id);
    let (pid, _stdio) = create_and_start(rt, &b, "started\n");
    let first = stats(rt, id);
    assert_eq!(first["type"], "stats", "{first}");
    assert_eq!(first["id"], id, "{first}");
    // The shell, and its `sleep` most of the time.
    let pids = first["data"]["pids"]["current"].as_u64();
    assert!(matches!(pids, Some(1 | 2)), "{first}");
    // The cgroup's figures, as runc reports them.
    assert!(
        first["data"]["cpu"]["usage"]["total"].as_u64() > Some(0),
        "{first}"
    );
    assert!(
        first["data"]["memory"]["usage"]["usage"].as_u64() > Some(0),
        "{first}"
    );
    let sandbox = &first["data"]["sandbox"];
    assert_eq!(sandbox["platform"], platform, "{first}");
    if platform == "kvm" {
        let syscalls = |v: &serde_json::Value| {
            v["data"]["sandbox"]["exits"]["syscalls"]
                .as_u64()
                .unwrap_or_else(|| panic!("no syscall count: {v}"))
        };
        let before = syscalls(&first);
        assert!(before > 0, "{first}");
        for key in [
            "page_faults",
            "other_exceptions",
            "interruptions",
            "kvm_run_returns",
        ] {
            assert!(sandbox["exits"][key].is_u64(), "no {key} counter: {first}");
        }
        // The shell's loop goes on making system calls (sleep, wait).
        sleep(Duration::from_millis(2500));
        let second = stats(rt, id);
        assert!(syscalls(&second) > before, "{first}\nthen {second}");
    } else {
        assert!(sandbox.get("exits").is_none(), "{first}");
    }
    rt.exec(&["kill", id, "9"]).assert_success();
    reap(pid, Duration::from_secs(20)).expect("the container ended after kill 9");
    let out = rt.exec(&["events", "--stats", id]);
    assert!(
        !out.success() && out.stderr.contains("container not running"),
        "events --stats of a stopped container:\n{out}"
    );
    rt.exec(&["delete", id]).assert_success();
    assert_clean(rt.root(), id, b.path());
}

#[test]
fn microvm_events_stats_reports_the_vmm_exit_counters() {
    if let Some(rt) = Runtime::sandbox_vm() {
        events_stats(&rt, "kvm");
    }
}

#[test]
fn sentry_events_stats_reports_the_platform() {
    let mut rt = Runtime::sandbox();
    // The default platform unless the environment chose another.
    let platform = std::env::var("SANDBOX_PLATFORM")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "seccomp".into());
    rt.name = "sandbox";
    events_stats(&rt, &platform);
}

#[test]
fn microvm_munmap_and_mprotect_reach_the_other_vcpus_before_returning() {
    let Some(rt) = Runtime::sandbox_vm() else {
        return;
    };
    let b = c_bundle("tlb", "tlb.c", "tlb", &["/bin/tlb"]);
    let native = native_in_chroot(&b, "exec /bin/tlb");
    assert_eq!(native.code(), Some(0), "native control:\n{native}");
    assert!(
        native.stdout.contains("munmap: "),
        "native control:\n{native}"
    );
    let out = rt.run(&b);
    assert_eq!(out.code(), Some(0), "under microvm:\n{out}");
    for what in ["mprotect", "munmap"] {
        assert!(
            out.stdout.contains(&format!("{what}: ")) && !out.stdout.contains(" 0 rounds faulted"),
            "under microvm:\n{out}"
        );
    }
    assert_eq!(
        out.stdout.matches(", 0 stale").count(),
        2,
        "under microvm:\n{out}"
    );
    assert_clean(rt.root(), &b.id, b.path());
}

/// `create` in a mount namespace whose /dev is a tmpfs holding /dev/null
/// and, when `with_kvm`, the KVM device node: how a host without KVM looks
/// to the runtime, and the control that differs from it only by the node.
fn create_with_private_dev(rt: &Runtime, b: &Bundle, with_kvm: bool) -> sandbox_tests::Output {
    let bpath = b.path().to_string_lossy().into_owned();
    let inner = rt.command(&["create", "--bundle", &bpath, &b.id]);
    let kvm = if with_kvm {
        "mknod -m 660 /dev/kvm c 10 232 && "
    } else {
        ""
    };
    let script = format!(
        "mount -t tmpfs -o mode=755 none /dev && mknod -m 666 /dev/null c 1 3 && {kvm}exec \"$0\" \"$@\""
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", &script])
        .arg(inner.get_program())
        .args(inner.get_args());
    run_with_timeout(cmd, Duration::from_secs(60))
}

#[test]
fn a_host_without_kvm_gets_a_clear_error_at_create_and_nothing_left_behind() {
    let Some(rt) = Runtime::sandbox_vm() else {
        return;
    };
    // The control: the same namespace with the device node creates.
    let b = Bundle::busybox("vm-with-kvm", &["true"]);
    let _cleanup = DeleteOnPanic::new(&rt, &b.id);
    create_with_private_dev(&rt, &b, true).assert_success();
    rt.exec(&["delete", "--force", &b.id]).assert_success();
    assert_clean(rt.root(), &b.id, b.path());

    let b = Bundle::busybox("vm-without-kvm", &["true"]);
    let _cleanup = DeleteOnPanic::new(&rt, &b.id);
    let out = create_with_private_dev(&rt, &b, false);
    assert_ne!(out.code(), Some(0), "create without KVM succeeded:\n{out}");
    assert!(
        out.stderr.contains("cannot open /dev/kvm") && out.stderr.contains("needs KVM"),
        "the error does not say what is missing:\n{out}"
    );
    let state = rt.exec(&["state", &b.id]);
    assert_ne!(
        state.code(),
        Some(0),
        "a failed create left a container:\n{state}"
    );
    assert_clean(rt.root(), &b.id, b.path());
}
