//! Running a runtime binary (or a native control) with a timeout.

use std::fmt;
use std::fs::{self, File};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::TempDir;

/// How long a single runtime command may take before it is killed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// What a finished command did.
pub struct Output {
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The exit code, or None if it was killed by a signal.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub fn success(&self) -> bool {
        self.status.success()
    }

    pub fn stdout_lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// Panics, showing everything, unless the command exited 0.
    #[track_caller]
    pub fn assert_success(&self) -> &Output {
        assert!(self.success(), "command failed:\n{self}");
        self
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {}", self.command)?;
        match (self.status.code(), self.status.signal()) {
            (Some(c), _) => writeln!(f, "exit status: {c}")?,
            (None, Some(s)) => writeln!(f, "killed by signal {s}")?,
            _ => writeln!(f, "status: {}", self.status)?,
        }
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        write!(f, "--- stderr ---\n{}", self.stderr)
    }
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` with stdin from /dev/null and stdout/stderr captured in files
/// (not pipes: a container started by `create` keeps its stdio open long
/// after the runtime returns). On timeout the whole process group is killed
/// and the test fails, showing what was printed so far.
#[track_caller]
pub fn run_with_timeout(cmd: Command, timeout: Duration) -> Output {
    let dir = TempDir::new("output");
    run_with_timeout_in(cmd, timeout, dir.path())
}

/// As [`run_with_timeout`], with stdout and stderr in `out_dir/stdout` and
/// `out_dir/stderr`, which outlive the call: a container started by
/// `create` goes on writing there, as it would to the shim's fifos.
#[track_caller]
pub fn run_with_timeout_in(cmd: Command, timeout: Duration, out_dir: &Path) -> Output {
    match run_bounded_in(cmd, timeout, out_dir) {
        Ok(out) => out,
        Err(out) => panic!(
            "TIMEOUT after {timeout:?}, killed: {}\n--- stdout so far ---\n{}\n--- stderr so far ---\n{}",
            out.command, out.stdout, out.stderr
        ),
    }
}

/// As [`run_with_timeout`], but a timeout is an answer rather than a
/// panic: `Err` holds what the killed command printed (for suites that
/// report a hang as one failure among many).
#[track_caller]
pub fn run_bounded(cmd: Command, timeout: Duration) -> Result<Output, Output> {
    let dir = TempDir::new("output");
    run_bounded_in(cmd, timeout, dir.path())
}

#[track_caller]
fn run_bounded_in(mut cmd: Command, timeout: Duration, out_dir: &Path) -> Result<Output, Output> {
    let out_path = out_dir.join("stdout");
    let err_path = out_dir.join("stderr");
    let create = |p: &Path| File::create(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let command = describe(&cmd);
    cmd.stdin(Stdio::null())
        .stdout(create(&out_path))
        .stderr(create(&err_path))
        .process_group(0);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{command}`: {e}"));
    let start = Instant::now();
    let read = |p: &Path| String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                return Ok(Output {
                    command,
                    status,
                    stdout: read(&out_path),
                    stderr: read(&err_path),
                })
            }
            Ok(None) if start.elapsed() < timeout => sleep(Duration::from_millis(10)),
            Ok(None) => {
                let pgid = Pid::from_raw(child.id() as i32);
                let _ = killpg(pgid, Signal::SIGKILL);
                let status = child
                    .wait()
                    .unwrap_or_else(|e| panic!("waiting for `{command}`: {e}"));
                return Err(Output {
                    command,
                    status,
                    stdout: read(&out_path),
                    stderr: read(&err_path),
                });
            }
            Err(e) => panic!("waiting for `{command}`: {e}"),
        }
    }
}

/// Runs `cmd` silently for at most `timeout`; never panics (for use in Drop).
pub fn run_quietly(mut cmd: Command, timeout: Duration) -> Option<ExitStatus> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    let mut child = cmd.spawn().ok()?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if start.elapsed() < timeout => sleep(Duration::from_millis(10)),
            _ => {
                let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Kills and force-deletes a container if the test panics while holding
/// this guard, so that a failing test leaves no workload running.
pub struct DeleteOnPanic<'a> {
    rt: &'a Runtime,
    id: String,
}

impl<'a> DeleteOnPanic<'a> {
    pub fn new(rt: &'a Runtime, id: &str) -> DeleteOnPanic<'a> {
        DeleteOnPanic {
            rt,
            id: id.to_owned(),
        }
    }
}

impl Drop for DeleteOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let t = Duration::from_secs(10);
            run_quietly(self.rt.command(&["kill", &self.id, "9"]), t);
            run_quietly(self.rt.command(&["delete", "--force", &self.id]), t);
        }
    }
}

/// An OCI runtime binary with its own state directory (`--root`).
pub struct Runtime {
    pub name: &'static str,
    pub bin: PathBuf,
    root: TempDir,
    /// `--platform` for every command that does not choose its own.
    platform: Option<String>,
    /// Global flags given before every command (`--backend=microvm`).
    global: Vec<String>,
}

/// A test that ends early (a panic, a timeout) may leave containers in the
/// runtime's state directory: force-delete every one of them, so that no
/// workload outlives the test that started it.
impl Drop for Runtime {
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.root()) else {
            return;
        };
        let t = Duration::from_secs(10);
        for e in entries.flatten() {
            if !e.path().join("state.json").exists() {
                continue; // not a container (runc and sandbox keep one directory each)
            }
            let id = e.file_name().to_string_lossy().into_owned();
            run_quietly(self.command(&["delete", "--force", &id]), t);
        }
    }
}

impl Runtime {
    /// The binary under test: `$SANDBOX_BIN`, else `<workspace>/target/debug/sandbox`
    /// (`$CARGO_TARGET_DIR/debug/sandbox` when that is set). Building it is
    /// the test runner's job (tests/run.sh), not the test's. With
    /// `$SANDBOX_PLATFORM` set, every command runs on that platform
    /// (`--platform`), unless it names one itself.
    pub fn sandbox() -> Runtime {
        let bin = match std::env::var_os("SANDBOX_BIN") {
            Some(p) => PathBuf::from(p),
            None => {
                let target = std::env::var_os("CARGO_TARGET_DIR")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
                target.join("debug/sandbox")
            }
        };
        assert!(
            bin.is_file(),
            "the sandbox binary is missing at {} (build it: `cargo build -p sandbox-runtime`, or set SANDBOX_BIN)",
            bin.display()
        );
        let mut rt = Runtime::new("sandbox", bin);
        rt.platform = std::env::var("SANDBOX_PLATFORM")
            .ok()
            .filter(|p| !p.is_empty());
        rt
    }

    /// The binary under test with the microvm backend (`--backend=microvm`,
    /// the workload in a KVM guest), or None, with a note on stderr, where
    /// /dev/kvm cannot be opened.
    pub fn sandbox_vm() -> Option<Runtime> {
        if let Err(e) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
        {
            eprintln!("SKIPPED: the microvm backend needs /dev/kvm: {e}");
            return None;
        }
        let mut rt = Runtime::sandbox();
        rt.name = "sandbox-vm";
        rt.global = vec!["--backend=microvm".into()];
        Some(rt)
    }

    /// The sandbox on every platform this host has: seccomp, ptrace, and
    /// the microvm backend where /dev/kvm opens.
    pub fn every_sandbox() -> Vec<Runtime> {
        let mut out = Vec::new();
        for platform in ["seccomp", "ptrace"] {
            let mut rt = Runtime::sandbox();
            rt.set_platform(platform);
            out.push(rt);
        }
        out.extend(Runtime::sandbox_vm());
        out
    }

    /// runc (the control) first, then [`Runtime::every_sandbox`].
    pub fn control_then_sandboxes() -> Vec<Runtime> {
        let mut out = vec![Runtime::runc()];
        out.extend(Runtime::every_sandbox());
        out
    }

    /// The control: runc (`$RUNC_BIN`, else `runc` on PATH).
    pub fn runc() -> Runtime {
        let bin = std::env::var_os("RUNC_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("runc"));
        Runtime::new("runc", bin)
    }

    fn new(name: &'static str, bin: PathBuf) -> Runtime {
        let root = TempDir::new(&format!("{name}-root"));
        Runtime {
            name,
            bin,
            root,
            platform: None,
            global: Vec::new(),
        }
    }

    /// Runs every later command on `platform` (`--platform`), whatever
    /// `$SANDBOX_PLATFORM` says.
    pub fn set_platform(&mut self, platform: &str) {
        self.platform = Some(platform.to_owned());
    }

    /// The platform every command runs on (`default` when not chosen).
    pub fn platform_name(&self) -> String {
        match (
            &self.platform,
            self.global.iter().any(|g| g == "--backend=microvm"),
        ) {
            (_, true) => "kvm".into(),
            (Some(p), _) => p.clone(),
            (None, _) => "default".into(),
        }
    }

    /// Adds a global flag given before every command (e.g. `--network=none`).
    pub fn add_global(&mut self, flag: &str) {
        self.global.push(flag.to_owned());
    }

    /// The state directory given as `--root`.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// `BIN --root ROOT ARGS...`, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(&self.global).arg("--root").arg(self.root());
        if let Some(p) = &self.platform {
            if !args.contains(&"--platform") {
                cmd.arg("--platform").arg(p);
            }
        }
        cmd.args(args);
        cmd
    }

    /// Runs `BIN --root ROOT ARGS...` with the default timeout.
    #[track_caller]
    pub fn exec(&self, args: &[&str]) -> Output {
        run_with_timeout(self.command(args), DEFAULT_TIMEOUT)
    }

    /// As [`Runtime::exec`], with stdout and stderr kept in `out_dir`.
    #[track_caller]
    pub fn exec_in(&self, args: &[&str], out_dir: &Path) -> Output {
        run_with_timeout_in(self.command(args), DEFAULT_TIMEOUT, out_dir)
    }

    /// `run --bundle B ID`: runs the bundle's process to completion.
    #[track_caller]
    pub fn run(&self, bundle: &crate::Bundle) -> Output {
        let b = bundle.path().to_string_lossy().into_owned();
        self.exec(&["run", "--bundle", &b, &bundle.id])
    }
}

/// The native control: `sh -c script` run by the host kernel in a chroot of
/// the bundle's rootfs, in new pid and mount namespaces with /proc mounted,
/// with the spec's environment and umask 022 (the OCI runtimes' default).
#[track_caller]
pub fn native_in_chroot(bundle: &crate::Bundle, script: &str) -> Output {
    run_with_timeout(native_command(bundle, script), DEFAULT_TIMEOUT)
}

/// The command [`native_in_chroot`] runs, not yet run.
pub fn native_command(bundle: &crate::Bundle, script: &str) -> Command {
    let rootfs = bundle.rootfs();
    let mut cmd = Command::new("/bin/busybox");
    cmd.env_clear()
        .env("PATH", crate::bundle::ENV_PATH.trim_start_matches("PATH="))
        .env("HOME", "/root")
        .env("TERM", "xterm")
        .args(["sh", "-c", "umask 022 && exec \"$@\"", "native"])
        .arg("/usr/bin/unshare")
        .args(["--mount", "--pid", "--fork", "--propagation", "private"])
        .arg(format!("--mount-proc={}", rootfs.join("proc").display()))
        // A private tmpfs at /dev/shm, as the sandbox's bundles have.
        .args([
            "/bin/sh",
            "-c",
            "mkdir -p \"$1/dev/shm\" && mount -t tmpfs -o mode=1777 shm \"$1/dev/shm\" \
             && exec /usr/sbin/chroot \"$@\"",
            "native-root",
        ])
        .arg(&rootfs)
        .args(["/bin/sh", "-c", script]);
    cmd
}
