//! Running one container under a runtime (runc or this binary) with a
//! timeout, and removing it afterwards whatever happened.

use std::fs::{self, File};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// Set by SIGINT, SIGTERM or SIGHUP: the run in progress is killed and
/// the selftest cleans up and stops.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Makes SIGINT, SIGTERM and SIGHUP set [`INTERRUPTED`] instead of
/// killing the selftest before it removed its containers.
pub fn catch_interrupts() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet};
    let action = SigAction::new(
        SigHandler::Handler(on_interrupt),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe.
        let _ = unsafe { sigaction(s, &action) };
    }
}

/// Which runtime a run uses.
#[derive(Debug, Clone)]
pub enum Target {
    /// runc: the control.
    Control { runc: PathBuf },
    /// This binary with the sentry backend on `platform`.
    Sentry { bin: PathBuf, platform: String },
    /// This binary with the microvm backend.
    Microvm { bin: PathBuf },
}

impl Target {
    pub fn label(&self) -> String {
        match self {
            Target::Control { .. } => "control (runc)".into(),
            Target::Sentry { platform, .. } => format!("sentry ({platform})"),
            Target::Microvm { .. } => "microvm (kvm)".into(),
        }
    }

    pub fn short(&self) -> String {
        match self {
            Target::Control { .. } => "runc".into(),
            Target::Sentry { platform, .. } => platform.clone(),
            Target::Microvm { .. } => "kvm".into(),
        }
    }

    pub fn is_control(&self) -> bool {
        matches!(self, Target::Control { .. })
    }

    /// `BIN [global flags] --root ROOT ARGS`.
    fn command(&self, root: &Path, args: &[&str]) -> Command {
        let mut cmd = match self {
            Target::Control { runc } => Command::new(runc),
            Target::Sentry { bin, platform } => {
                let mut c = Command::new(bin);
                c.arg("--platform").arg(platform);
                c
            }
            Target::Microvm { bin } => {
                let mut c = Command::new(bin);
                c.arg("--backend=microvm");
                c
            }
        };
        cmd.arg("--root").arg(root).args(args);
        cmd
    }
}

/// What a finished (or killed) `run` printed and how it ended.
pub struct Finished {
    pub status: Option<ExitStatus>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// "exit N", "signal N" or "timeout".
    pub fn describe(&self) -> String {
        match (self.timed_out, self.status) {
            (true, _) => "timed out".into(),
            (false, Some(s)) => match (s.code(), s.signal()) {
                (Some(c), _) => format!("exit status {c}"),
                (None, Some(sig)) => format!("killed by signal {sig}"),
                _ => format!("{s}"),
            },
            (false, None) => "not run".into(),
        }
    }
}

/// How one run is set up.
pub struct RunSpec<'a> {
    pub target: &'a Target,
    pub root: &'a Path,
    pub bundle: &'a Path,
    pub id: &'a str,
    /// Passed to the container as fd 3 (`--preserve-fds 1`).
    pub leaked_dir: Option<&'a Path>,
    pub timeout: Duration,
}

/// `run --bundle B ID` to completion or timeout, then `delete --force`.
pub fn run(spec: &RunSpec) -> std::io::Result<Finished> {
    let bundle = spec.bundle.to_string_lossy().into_owned();
    let mut args = vec!["run", "--bundle", bundle.as_str()];
    if spec.leaked_dir.is_some() {
        args.extend(["--preserve-fds", "1"]);
    }
    args.push(spec.id);
    let mut cmd = spec.target.command(spec.root, &args);
    let out_path = spec.bundle.join("stdout");
    let err_path = spec.bundle.join("stderr");
    cmd.stdin(Stdio::null())
        .stdout(File::create(&out_path)?)
        .stderr(File::create(&err_path)?)
        .process_group(0);
    let leaked = match spec.leaked_dir {
        Some(dir) => Some(File::open(dir)?),
        None => None,
    };
    if let Some(dir) = &leaked {
        use std::os::fd::AsRawFd;
        let fd = dir.as_raw_fd();
        // SAFETY: between fork and exec the closure only calls dup2 and
        // fcntl, which are async-signal-safe. dup2 clears FD_CLOEXEC on
        // fd 3, except when fd is 3 already: then fcntl does.
        unsafe {
            cmd.pre_exec(move || {
                let r = if fd == 3 {
                    libc::fcntl(3, libc::F_SETFD, 0)
                } else {
                    libc::dup2(fd, 3)
                };
                if r < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let result = wait(cmd, spec.timeout);
    drop(leaked);
    remove(spec.target, spec.root, spec.id);
    remove_cgroups(spec.id);
    let (status, timed_out) = result?;
    let read = |p: &Path| String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned();
    Ok(Finished {
        status,
        timed_out,
        stdout: read(&out_path),
        stderr: read(&err_path),
    })
}

/// Spawns `cmd` in its own process group and waits at most `timeout`
/// (less if interrupted); on timeout the whole group is killed.
fn wait(mut cmd: Command, timeout: Duration) -> std::io::Result<(Option<ExitStatus>, bool)> {
    let mut child = cmd.spawn()?;
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok((Some(status), false));
        }
        if start.elapsed() >= timeout || INTERRUPTED.load(Ordering::SeqCst) {
            let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let status = child.wait()?;
            return Ok((Some(status), true));
        }
        sleep(Duration::from_millis(10));
    }
}

/// `delete --force ID`, bounded, ignoring every error: the container may
/// already be gone.
pub fn remove(target: &Target, root: &Path, id: &str) {
    let mut cmd = target.command(root, &["delete", "--force", id]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    if let Ok(mut child) = cmd.spawn() {
        let start = Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if start.elapsed() < Duration::from_secs(10) => {
                    sleep(Duration::from_millis(10))
                }
                _ => {
                    let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
                    let _ = child.wait();
                    break;
                }
            }
        }
    }
}

/// The parent of every run's cgroup (config.json's `cgroupsPath`).
pub const CGROUP_PARENT: &str = "sandbox-selftest";

/// Removes the run's cgroup directories if a runtime left them (a
/// runtime killed by a timeout or an interruption while it created the
/// container may have made the cgroup but not yet the state `delete`
/// finds). Only empty ones go: rmdir of a cgroup with a process fails.
fn remove_cgroups(id: &str) {
    let Ok(mountinfo) = fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fstype = right.split_whitespace().next().unwrap_or_default();
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        if let Some(mount_point) = left.split_whitespace().nth(4) {
            let dir = Path::new(mount_point).join(CGROUP_PARENT).join(id);
            if dir.is_dir() {
                let _ = fs::remove_dir(&dir);
            }
        }
    }
}

/// Force-deletes every container left in `root` (after an interruption).
pub fn remove_all(target: &Target, root: &Path) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        if e.path().is_dir() {
            remove(target, root, &e.file_name().to_string_lossy());
        }
    }
}
