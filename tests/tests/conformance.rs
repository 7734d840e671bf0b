//! Issue 3: the C conformance suite. One small C program per area
//! (`tests/conformance/<area>.c`), compiled here with gcc, static and
//! dynamic, checks results against Linux's documented behaviour (errno
//! values included) and prints one `ok NAME` or `FAIL NAME: ...` line per
//! check. Each build runs natively (the control: in a chroot of the same
//! root filesystem; it must pass, or the check is wrong) and under the
//! sandbox on every platform. A report lists native / platform results per
//! program.
//!
//! The regression rule: `tests/conformance/known-failures` lists the
//! checks the Sentry fails today. The test fails when the native control
//! fails anything, when a sandboxed check fails that is not listed, or when
//! a listed check passes (the list must not go stale). The native run's
//! check names are the plan: a name the sandboxed run never printed (it
//! crashed or hung first) is a failure of that check.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sandbox_tests::cleanup::leftovers;
use sandbox_tests::{
    native_command, run_bounded, run_quietly, unique_name, Bundle, Output, Runtime, TempDir,
};

/// The areas, most fundamental first.
const AREAS: &[&str] = &[
    "files",
    "process",
    "signals",
    "memory",
    "pipes",
    "threads",
    "time",
    "identity",
    "events",
    "sockets",
    "network",
    "timers",
    "ipc",
    "procfs",
    "inotify",
    "devices",
    "vdso",
    "capabilities",
    "ptrace",
];

/// The sandbox's platforms (`sandbox --platform`): every one this host can
/// run runs every program. kvm needs a usable /dev/kvm; without one the
/// suite says so and runs ptrace and seccomp only.
fn platforms() -> Vec<&'static str> {
    let mut p = vec!["ptrace", "seccomp"];
    match fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        Ok(_) => p.push("kvm"),
        Err(e) => eprintln!("conformance: NOT running the kvm platform: /dev/kvm: {e}"),
    }
    // `CONFORMANCE_PLATFORMS` (comma-separated) narrows the run, to iterate
    // on one platform quickly.
    let only = std::env::var("CONFORMANCE_PLATFORMS").unwrap_or_default();
    p.retain(|x| only.is_empty() || only.split(',').any(|o| o.trim() == *x));
    p
}

/// A known failure whose reason starts with this fails only sometimes (a
/// race the reason names): the suite accepts it passing.
const INTERMITTENT: &str = "intermittent:";

/// Every platform name a known-failures entry may be limited to.
const ALL_PLATFORMS: &[&str] = &["ptrace", "seccomp", "kvm"];

const VARIANTS: &[(&str, &[&str])] = &[("static", &["-static"]), ("dynamic", &[])];

/// How long one program may run; each program has its own, shorter,
/// watchdog (check.h), so this only catches a wedged runtime.
const PROGRAM_TIMEOUT: Duration = Duration::from_secs(90);

/// The pseudo-check that fails when a program's exit status disagrees with
/// its checks (it exited non-zero, or was killed, with every check passed;
/// or it exited 0 with a failure), or when it had to be killed on timeout.
const EXIT_CHECK: &str = "exit-status";

/// The areas this run covers: all, or those named (comma-separated) in
/// `CONFORMANCE_AREAS`, to iterate on one area quickly.
fn selected_areas() -> Vec<&'static str> {
    let only = std::env::var("CONFORMANCE_AREAS").unwrap_or_default();
    AREAS
        .iter()
        .copied()
        .filter(|a| only.is_empty() || only.split(',').any(|o| o.trim() == *a))
        .collect()
}

fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance")
}

/// The result of one check in one run.
#[derive(Clone, Debug, PartialEq)]
enum Verdict {
    Ok,
    Fail(String),
}

/// One run of one program: its checks in the order printed.
struct Run {
    checks: Vec<(String, Verdict)>,
    output: Output,
    timed_out: bool,
}

impl Run {
    fn parse(output: Output, timed_out: bool) -> Run {
        let mut checks = Vec::new();
        for line in output.stdout.lines() {
            if let Some(name) = line.strip_prefix("ok ") {
                checks.push((name.trim().to_string(), Verdict::Ok));
            } else if let Some(rest) = line.strip_prefix("FAIL ") {
                let (name, why) = rest.split_once(": ").unwrap_or((rest, ""));
                checks.push((name.trim().to_string(), Verdict::Fail(why.to_string())));
            }
        }
        Run {
            checks,
            output,
            timed_out,
        }
    }

    fn all_ok(&self) -> bool {
        self.checks.iter().all(|(_, v)| *v == Verdict::Ok)
    }

    /// Does the exit status agree with the printed checks?
    fn exit_agrees(&self) -> bool {
        !self.timed_out && (self.output.code() == Some(0)) == self.all_ok()
    }

    fn describe_exit(&self) -> String {
        let st = self.output.status;
        let how = match (st.code(), st.signal()) {
            (Some(c), _) => format!("exited {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            _ => format!("{st}"),
        };
        if self.timed_out {
            format!("timed out after {PROGRAM_TIMEOUT:?} and was killed ({how})")
        } else {
            how
        }
    }

    /// The failures of this sandboxed run against the native plan: check
    /// name -> why. Checks not in the plan are failures too (a program
    /// that takes another path under the sandbox).
    fn failures(&self, plan: &[String]) -> BTreeMap<String, String> {
        let mut seen: BTreeMap<&str, &Verdict> = BTreeMap::new();
        let mut failed = BTreeMap::new();
        for (name, v) in &self.checks {
            if seen.insert(name, v).is_some() {
                failed.insert(name.clone(), "printed more than once".to_string());
            }
            if let Verdict::Fail(why) = v {
                failed.insert(name.clone(), why.clone());
            }
            if !plan.contains(name) {
                failed.entry(name.clone()).or_insert_with(|| {
                    "printed a check the native control does not have".to_string()
                });
            }
        }
        let last = self.checks.last().map(|(n, _)| n.as_str()).unwrap_or("");
        for name in plan {
            if !seen.contains_key(name.as_str()) {
                failed.insert(
                    name.clone(),
                    format!(
                        "never printed ({}; last check printed: {last:?})",
                        self.describe_exit()
                    ),
                );
            }
        }
        if !self.exit_agrees() {
            failed.insert(EXIT_CHECK.to_string(), self.describe_exit());
        }
        failed
    }
}

/// `[platform:]area/variant/check` entries of
/// tests/conformance/known-failures; the variant may be `*` (both builds),
/// and an entry without a platform applies to every platform.
struct KnownFailures {
    /// (platform or "*", area, variant, check) → reason.
    entries: BTreeMap<(String, String, String, String), String>,
}

impl KnownFailures {
    fn load() -> KnownFailures {
        let path = source_dir().join("known-failures");
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut entries = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, reason) = line.split_once('#').unwrap_or((line, ""));
            let where_ = format!("{}:{}", path.display(), i + 1);
            assert!(
                !reason.trim().is_empty(),
                "{where_}: every known failure needs a `# reason`"
            );
            let (platform, key) = match key.trim().split_once(':') {
                Some((p, k)) => (p, k),
                None => ("*", key.trim()),
            };
            let parts: Vec<&str> = key.split('/').collect();
            assert!(
                (platform == "*" || ALL_PLATFORMS.contains(&platform))
                    && parts.len() == 3
                    && AREAS.contains(&parts[0])
                    && ["static", "dynamic", "*"].contains(&parts[1])
                    && !parts[2].is_empty(),
                "{where_}: want `[<platform>:]<area>/<static|dynamic|*>/<check>  # reason`, \
                 got {raw:?}"
            );
            let k = (
                platform.into(),
                parts[0].into(),
                parts[1].into(),
                parts[2].into(),
            );
            assert!(
                entries.insert(k, reason.trim().to_string()).is_none(),
                "{where_}: listed twice"
            );
        }
        KnownFailures { entries }
    }

    /// Whether an entry covers `check` of `area`'s `variant` build on
    /// `platform`.
    fn covers(&self, platform: &str, area: &str, variant: &str, check: &str) -> bool {
        [platform, "*"].iter().any(|p| {
            [variant, "*"].iter().any(|v| {
                let k = (
                    p.to_string(),
                    area.to_string(),
                    v.to_string(),
                    check.to_string(),
                );
                self.entries.contains_key(&k)
            })
        })
    }
}

/// Compiles every area, static and dynamic, into `out`, and returns the
/// shared libraries the dynamic builds need.
fn compile(out: &Path) -> BTreeSet<PathBuf> {
    let src = source_dir();
    let mut libs = BTreeSet::new();
    for area in selected_areas() {
        for (variant, flags) in VARIANTS {
            let bin = out.join(format!("{area}-{variant}"));
            let res = Command::new("gcc")
                .args(*flags)
                .args(["-O1", "-pthread", "-Wall", "-I"])
                .arg(&src)
                .arg("-o")
                .arg(&bin)
                .arg(src.join(format!("{area}.c")))
                .arg("-lrt")
                .output()
                .expect("gcc runs (install gcc)");
            assert!(
                res.status.success(),
                "gcc {area}.c ({variant}):\n{}",
                String::from_utf8_lossy(&res.stderr)
            );
            if !res.stderr.is_empty() {
                eprintln!(
                    "gcc {area}.c ({variant}) warned:\n{}",
                    String::from_utf8_lossy(&res.stderr)
                );
            }
            if flags.is_empty() {
                let ldd = Command::new("ldd").arg(&bin).output().expect("ldd runs");
                libs.extend(
                    String::from_utf8_lossy(&ldd.stdout)
                        .split_whitespace()
                        .filter(|w| w.starts_with('/'))
                        .map(PathBuf::from),
                );
            }
        }
    }
    // pthread_exit and pthread_cancel load libgcc_s to unwind.
    let libgcc = Command::new("gcc")
        .arg("-print-file-name=libgcc_s.so.1")
        .output()
        .expect("gcc runs");
    let libgcc = PathBuf::from(String::from_utf8_lossy(&libgcc.stdout).trim());
    if libgcc.is_absolute() {
        libs.insert(libgcc);
    }
    libs
}

/// Copies `src` (resolving symlinks) to `dst_rel` under `rootfs`.
fn install(rootfs: &Path, src: &Path, dst_rel: &Path) {
    let dst = rootfs.join(dst_rel.strip_prefix("/").unwrap_or(dst_rel));
    fs::create_dir_all(dst.parent().expect("a parent")).expect("create_dir_all in the rootfs");
    let real = fs::canonicalize(src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    fs::copy(&real, &dst)
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", real.display(), dst.display()));
}

/// A fresh busybox bundle running `/bin/conf-<program>`, with the dynamic
/// builds' libraries. Fresh for every run, so no run sees another's files.
fn bundle(bins: &Path, libs: &BTreeSet<PathBuf>, program: &str) -> Bundle {
    let prog = format!("/bin/conf-{program}");
    let b = Bundle::busybox(&format!("conf-{program}"), &[&prog]);
    // As the native control runs: without no_new_privs (Docker's default
    // too), so set-user-ID programs can be checked; the checks that want
    // it set it themselves.
    let mut spec = b.spec();
    spec["process"]["noNewPrivileges"] = serde_json::Value::Bool(false);
    b.write_spec(&spec);
    install(&b.rootfs(), &bins.join(program), Path::new(&prog));
    for lib in libs {
        // The library's own path, as ldd named it (the loader looks there).
        let name = if lib.file_name().is_some_and(|n| n == "libgcc_s.so.1") {
            PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1")
        } else {
            lib.clone()
        };
        install(&b.rootfs(), lib, &name);
    }
    b
}

/// The native control's /dev, made the way runc makes a container's.
const NATIVE_DEV: &str = "mount -t tmpfs -o nosuid,strictatime,mode=755,size=65536k tmpfs /dev && \
    mknod -m 666 /dev/null c 1 3 && mknod -m 666 /dev/zero c 1 5 && \
    mknod -m 666 /dev/full c 1 7 && mknod -m 666 /dev/random c 1 8 && \
    mknod -m 666 /dev/urandom c 1 9 && mknod -m 666 /dev/tty c 5 0 && \
    mkdir -p /dev/pts /dev/shm && \
    mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts && \
    ln -s pts/ptmx /dev/ptmx && ln -s /proc/self/fd /dev/fd && \
    ln -s /proc/self/fd/0 /dev/stdin && ln -s /proc/self/fd/1 /dev/stdout && \
    ln -s /proc/self/fd/2 /dev/stderr && \
    mount -t tmpfs -o nosuid,noexec,nodev,mode=1777,size=65536k shm /dev/shm && \
    mount -t sysfs sysfs /sys";

fn run_native(bins: &Path, libs: &BTreeSet<PathBuf>, program: &str) -> Run {
    let b = bundle(bins, libs, program);
    // The mounts a container has beyond /proc: a /dev as runc makes it
    // (a tmpfs with the usual device nodes, a new devpts instance, the
    // standard symlinks), a tmpfs /dev/shm of the bundle's size and the
    // host's /sys, so the control meets the same kinds of file system as
    // the sandboxed run.
    let cmd = native_command(&b, &format!("{NATIVE_DEV} && exec /bin/conf-{program}"));
    match run_bounded(cmd, PROGRAM_TIMEOUT) {
        Ok(out) => Run::parse(out, false),
        Err(out) => Run::parse(out, true),
    }
}

/// Runs `program` under the sandbox on `platform`; also returns anything
/// the container left behind.
fn run_sandbox(
    rt: &Runtime,
    platform: &str,
    bins: &Path,
    libs: &BTreeSet<PathBuf>,
    program: &str,
) -> (Run, Vec<String>) {
    let mut b = bundle(bins, libs, program);
    b.id = unique_name(&format!("conf-{}-{platform}", program.replace('/', "-")));
    let bundle_path = b.path().to_string_lossy().into_owned();
    let cmd = rt.command(&[
        "--platform",
        platform,
        "run",
        "--bundle",
        &bundle_path,
        &b.id,
    ]);
    let run = match run_bounded(cmd, PROGRAM_TIMEOUT) {
        Ok(out) => Run::parse(out, false),
        Err(out) => {
            let t = Duration::from_secs(10);
            run_quietly(rt.command(&["kill", &b.id, "9"]), t);
            run_quietly(rt.command(&["delete", "--force", &b.id]), t);
            Run::parse(out, true)
        }
    };
    // Leftovers may take a moment to go (a killed process on its way out).
    let start = Instant::now();
    let mut left = leftovers(rt.root(), &b.id, b.path());
    while !left.is_empty() && start.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(100));
        left = leftovers(rt.root(), &b.id, b.path());
    }
    (run, left)
}

#[test]
fn conformance() {
    let known = KnownFailures::load();
    let build = TempDir::new("conformance-build");
    let libs = compile(build.path());
    let rt = Runtime::sandbox();
    let platforms = platforms();

    let mut problems: Vec<String> = Vec::new();
    let mut report = String::new();
    let mut details = String::new();
    let _ = write!(report, "{:<20} {:<8}", "program", "native");
    for p in &platforms {
        let _ = write!(report, " {p:<24}");
    }
    report.push('\n');

    for area in selected_areas() {
        for (variant, _) in VARIANTS {
            let program = format!("{area}-{variant}");
            let label = format!("{area}/{variant}");
            let native = run_native(build.path(), &libs, &program);
            let plan: Vec<String> = native.checks.iter().map(|(n, _)| n.clone()).collect();
            let native_ok = native.all_ok()
                && native.exit_agrees()
                && !plan.is_empty()
                && plan.iter().collect::<BTreeSet<_>>().len() == plan.len();
            let _ = write!(
                report,
                "{label:<20} {:<8}",
                if native_ok { "pass" } else { "FAIL" }
            );
            if !native_ok {
                problems.push(format!(
                    "{label}: the native control failed, so the program is wrong (fix the C \
                     program, not the expectation):\n{}",
                    native.output
                ));
            }
            for &platform in &platforms {
                let (run, left) = run_sandbox(&rt, platform, build.path(), &libs, &program);
                if !left.is_empty() {
                    problems.push(format!(
                        "{label} on {platform}: the container left things behind:\n  {}",
                        left.join("\n  ")
                    ));
                }
                let failures = run.failures(&plan);
                let mut unexpected = 0;
                for (check, why) in &failures {
                    if !known.covers(platform, area, variant, check) {
                        unexpected += 1;
                        problems.push(format!(
                            "{label} on {platform}: check {check} failed and is not in \
                             known-failures: {why}"
                        ));
                    }
                }
                // A listed check that passed: the list is stale.
                for ((p, a, v, check), reason) in &known.entries {
                    // An intermittent failure may pass; it is never stale.
                    if reason.starts_with(INTERMITTENT) {
                        continue;
                    }
                    if (p == platform || p == "*")
                        && a == area
                        && (v == variant || v == "*")
                        && !failures.contains_key(check)
                    {
                        if plan.contains(check) || check == EXIT_CHECK {
                            problems.push(format!(
                                "{label} on {platform}: {check} is listed in known-failures \
                                 but passes now: remove it from known-failures"
                            ));
                        } else {
                            problems.push(format!(
                                "{p}:{area}/{v}/{check} in known-failures names no check of \
                                 {label}: remove or correct it"
                            ));
                        }
                    }
                }
                let cell = if failures.is_empty() {
                    "pass".to_string()
                } else {
                    format!(
                        "FAIL {}/{} ({} known)",
                        failures.len(),
                        plan.len(),
                        failures.len() - unexpected
                    )
                };
                let _ = write!(report, " {cell:<24}");
                if !failures.is_empty() {
                    let _ = writeln!(
                        details,
                        "--- {label} on {platform}: {}",
                        run.describe_exit()
                    );
                    for (check, why) in &failures {
                        let mark = if known.covers(platform, area, variant, check) {
                            "known"
                        } else {
                            "NEW  "
                        };
                        let _ = writeln!(details, "  {mark} FAIL {check}: {why}");
                    }
                    if !run.output.stderr.trim().is_empty() {
                        let tail: Vec<&str> = run.output.stderr.lines().rev().take(10).collect();
                        let _ = writeln!(details, "  stderr (last lines):");
                        for l in tail.iter().rev() {
                            let _ = writeln!(details, "    {l}");
                        }
                    }
                }
            }
            report.push('\n');
            // Show progress: the whole suite takes a while.
            eprintln!("conformance: {label} done");
        }
    }
    println!("\n{report}\n{details}");
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
