//! Issue 15: `sandbox selftest`, the escape suite shipped in the binary.
//! It runs every attack under runc (the control, where it must succeed)
//! and under the sandbox on every backend this host has; here it runs
//! once per sentry platform (seccomp, ptrace; the microvm backend joins
//! each run where /dev/kvm opens).
//!
//! Checked: the last line parses; every attack whose control worked was
//! blocked on every backend (B == N - F) and none escaped (E == 0); every
//! attack the binary lists ran; the controls that must work on any Linux
//! host with runc did (else the suite would prove nothing: a run where
//! every control fails has B == N - F trivially); the exit status says
//! the same; nothing is left in the work directory. It runs with an empty
//! environment and PATH, as on a host with only `sandbox` and runc.

use std::fs;
use std::io::Write;
use std::time::Duration;

use sandbox_tests::{run_bounded, Output, Runtime, TempDir};

/// The whole selftest (about 30 s here); generous for a loaded CI host.
const TIMEOUT: Duration = Duration::from_secs(150);

/// Attacks whose control needs nothing of the host kernel's build options
/// or of its file systems beyond what these tests already need (a shared
/// pid, network or IPC namespace, ptrace, keyrings, cgroup-free runc features, packet
/// sockets, x86-64's own instructions, the kernel log as root, a
/// remount with CAP_SYS_ADMIN). Their controls must succeed.
const CONTROLS_THAT_MUST_WORK: &[&str] = &[
    "proc_pid_exe",
    "proc_pid_mem",
    "process_vm_writev",
    "ptrace_attach",
    "kcmp",
    "kill_host",
    "setns_host_mnt",
    "abstract_unix",
    "host_ipc_shm",
    "proc_pid_root",
    "leaked_fd",
    "keyctl_host_keyring",
    "add_key",
    "packet_socket",
    "stub_jump",
    "kernel_log",
    "proc_sys_remount",
];

/// runc's absolute path (`$RUNC_BIN`, else the first `runc` on PATH).
fn runc() -> String {
    if let Ok(p) = std::env::var("RUNC_BIN") {
        return p;
    }
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .map(|d| std::path::Path::new(d).join("runc"))
        .find(|p| p.is_file())
        .map(|p| p.to_string_lossy().into_owned())
        .expect("runc on PATH (tests/setup.sh installs it)")
}

/// (N, B, E, F) from `selftest: N attacks, B blocked, E escaped, F control failed`.
fn summary(line: &str) -> Option<(u32, u32, u32, u32)> {
    let rest = line.strip_prefix("selftest: ")?;
    let words: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize, word: &str| -> Option<u32> {
        let w = words.get(i + 1)?.trim_end_matches(',');
        (w == word).then_some(())?;
        words.get(i)?.parse().ok()
    };
    if words.len() != 9 || words[7] != "control" || words[8] != "failed" {
        return None;
    }
    Some((
        n(0, "attacks")?,
        n(2, "blocked")?,
        n(4, "escaped")?,
        n(6, "control")?,
    ))
}

/// The table's row of `attack`: its cells after the name and what it tries.
fn row<'a>(out: &'a Output, attack: &str) -> Vec<&'a str> {
    let line = out
        .stdout_lines()
        .into_iter()
        .find(|l| l.split_whitespace().next() == Some(attack))
        .unwrap_or_else(|| panic!("no row for {attack}:\n{out}"));
    line.split(" | ").skip(1).map(str::trim).collect()
}

fn listed_attacks() -> Vec<String> {
    let rt = Runtime::sandbox();
    let out = run_bounded(rt.command(&["selftest", "--list"]), Duration::from_secs(20))
        .unwrap_or_else(|o| panic!("selftest --list timed out:\n{o}"));
    assert!(out.success(), "\n{out}");
    out.stdout_lines()
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect()
}

#[test]
fn summary_line_parses() {
    assert_eq!(
        summary("selftest: 28 attacks, 23 blocked, 0 escaped, 5 control failed"),
        Some((28, 23, 0, 5))
    );
    assert_eq!(summary("selftest: 28 attacks, 23 blocked"), None);
}

#[test]
fn every_attack_is_blocked_on_every_platform() {
    let attacks = listed_attacks();
    assert!(attacks.len() >= 38, "only {} attacks listed", attacks.len());
    for platform in ["seccomp", "ptrace"] {
        let work = TempDir::new("selftest-work");
        let mut rt = Runtime::sandbox();
        rt.set_platform(platform);
        let workdir = work.path().to_string_lossy().into_owned();
        let mut cmd = rt.command(&["selftest", "--runc", &runc(), "--workdir", &workdir]);
        // Nothing but the binary and runc: no PATH, no compiler, no shell.
        cmd.env_clear().env("PATH", "/nonexistent");
        let out = run_bounded(cmd, TIMEOUT)
            .unwrap_or_else(|o| panic!("selftest on {platform} timed out:\n{o}"));
        // Straight to stderr, past the test harness's capture: the table
        // belongs in the CI log even when the test passes.
        let _ = writeln!(
            std::io::stderr(),
            "sandbox selftest on {platform}:\n{}",
            out.stdout
        );

        let last = out.stdout_lines().last().copied().unwrap_or_default();
        let (n, b, e, f) =
            summary(last).unwrap_or_else(|| panic!("bad last line {last:?} on {platform}:\n{out}"));
        assert_eq!(
            n as usize,
            attacks.len(),
            "on {platform}: not every attack ran:\n{out}"
        );
        assert_eq!(e, 0, "on {platform}: an attack escaped the sandbox:\n{out}");
        assert_eq!(b, n - f, "on {platform}: an attack was not blocked:\n{out}");
        assert_eq!(
            out.code(),
            Some(0),
            "on {platform}: the exit status disagrees:\n{out}"
        );

        for attack in CONTROLS_THAT_MUST_WORK {
            let cells = row(&out, attack);
            assert!(
                cells[0].starts_with("escaped:") || cells[0].starts_with("worked:"),
                "on {platform}: the control of {attack} failed, so it proves nothing: {cells:?}"
            );
            assert!(
                cells[1..].iter().all(|c| c.starts_with("blocked:")),
                "on {platform}: {attack} was not blocked: {cells:?}"
            );
            assert!(cells.len() >= 2, "{attack}: no sandbox column: {cells:?}");
        }
        // On the sentry backend the stub's pages exist: the attacks on
        // them must have found them, not passed for want of a target.
        for (attack, found) in [
            (
                "stub_jump",
                "sites of the stub page reached only the Sentry",
            ),
            ("stub_write", "no write to stub pages landed"),
        ] {
            let cells = row(&out, attack);
            assert!(
                cells[1].contains(found),
                "on {platform}: {attack} did not reach the stub's pages: {cells:?}"
            );
        }
        let left = leftovers(work.path());
        assert!(left.is_empty(), "on {platform}: selftest left {left:?}");
    }
}

#[test]
fn an_unknown_attack_is_a_clear_error() {
    let rt = Runtime::sandbox();
    let out = run_bounded(
        rt.command(&["selftest", "--attack", "no_such_attack"]),
        Duration::from_secs(20),
    )
    .unwrap_or_else(|o| panic!("timed out:\n{o}"));
    assert_eq!(out.code(), Some(1), "\n{out}");
    assert!(
        out.stderr.contains("unknown attack") && out.stderr.contains("no_such_attack"),
        "\n{out}"
    );
}

/// What the selftest left in its work directory.
fn leftovers(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    fs::read_dir(dir)
        .expect("the work directory")
        .flatten()
        .map(|e| e.path())
        .collect()
}

/// The cgroup directories of the containers of the selftest with pid
/// `pid` (ids `selftest-PID-...` below `sandbox-selftest`), on every
/// cgroup mount.
fn cgroups_of(pid: u32) -> Vec<std::path::PathBuf> {
    let prefix = format!("selftest-{pid}-");
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let mut found = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        if !right.starts_with("cgroup") {
            continue;
        }
        let Some(mount_point) = left.split_whitespace().nth(4) else {
            continue;
        };
        let parent = std::path::Path::new(mount_point).join("sandbox-selftest");
        for e in fs::read_dir(parent).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                found.push(e.path());
            }
        }
    }
    found
}

/// Processes whose command line or executable mentions `dir`.
fn processes_under(dir: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in fs::read_dir("/proc").expect("/proc").flatten() {
        let p = e.path();
        let cmdline = fs::read(p.join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let exe = fs::read_link(p.join("exe"))
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_default();
        if cmdline.contains(dir) || exe.contains(dir) {
            found.push(format!("{}: {cmdline} ({exe})", p.display()));
        }
    }
    found
}

#[test]
fn an_interrupted_selftest_leaves_nothing() {
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    use std::time::Instant;

    let work = TempDir::new("selftest-interrupted");
    let workdir = work.path().to_string_lossy().into_owned();
    let rt = Runtime::sandbox();
    let mut cmd = rt.command(&["selftest", "--runc", &runc(), "--workdir", &workdir]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn().expect("run sandbox selftest");
    // Well into the attacks, at a moment when a container (or a decoy)
    // of the selftest's is running: else the check below proves nothing.
    std::thread::sleep(Duration::from_secs(3));
    let start = Instant::now();
    while processes_under(&workdir).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no container of the selftest ran within 13 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("selftest did not stop within 60 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    use std::io::Read;
    let _ = child
        .stderr
        .take()
        .map(|mut e| e.read_to_string(&mut stderr));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let left = leftovers(work.path());
    assert!(left.is_empty(), "an interrupted selftest left {left:?}");
    let procs = processes_under(&workdir);
    assert!(procs.is_empty(), "still running: {procs:?}");
    let cgroups = cgroups_of(child.id());
    assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
}
