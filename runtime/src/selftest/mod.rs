//! `sandbox selftest`: real container-escape attacks, each run under a
//! control where it must succeed (runc, with the capability, mount or
//! privilege it needs) and under the sandbox on every backend this host
//! has, with a table of what happened. Issue 15; SECURITY.md, "Checking
//! it yourself".
//!
//! The attack programs are C (runtime/selftest/), built into one static
//! binary at cargo build time (build.rs) and embedded here, so the host
//! needs only this binary and runc. Each run gets its own bundle in a
//! temporary directory: a root filesystem holding only that binary, a
//! secret file beside it (outside the root) and, for some attacks, a
//! decoy host process; everything is removed at the end, and on SIGINT,
//! SIGTERM or SIGHUP.

mod bundle;
mod catalogue;
mod host;
mod report;
mod run;
mod verdict;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use catalogue::{Attack, Proof, ATTACKS};
use host::Decoy;
use run::{RunSpec, Target};
use verdict::{field, HostEvidence, Outcome};

use crate::cli::{GlobalOpts, SelftestArgs};

/// The attack binary, built by build.rs.
static PROGRAM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/selftest-attack"));

#[derive(Debug, thiserror::Error)]
pub enum SelftestError {
    #[error("selftest must run as root (it runs runc and containers with host privileges)")]
    NotRoot,
    #[error("unknown attack {0:?} (`sandbox selftest --list` shows them)")]
    UnknownAttack(String),
    #[error("cannot run the control runtime {runc}: {source} (install runc or pass --runc PATH)")]
    NoRunc {
        runc: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("interrupted; every container and temporary file was removed")]
    Interrupted,
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SelftestError {
    let path = path.to_path_buf();
    move |source| SelftestError::Io { what, path, source }
}

/// The temporary directory of one selftest: bundles, state roots. Its
/// drop force-deletes any container left and removes it all.
struct WorkDir {
    path: PathBuf,
    targets: Vec<Target>,
}

impl WorkDir {
    fn new(parent: &Path) -> Result<WorkDir, SelftestError> {
        let template = parent.join("sandbox-selftest-XXXXXX");
        let path = nix::unistd::mkdtemp(&template).map_err(|e| SelftestError::Io {
            what: "create a temporary directory in",
            path: parent.to_path_buf(),
            source: e.into(),
        })?;
        Ok(WorkDir {
            path,
            targets: Vec::new(),
        })
    }

    fn state_root(&self, target: &Target) -> PathBuf {
        self.path.join(format!("state-{}", target.short()))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        for t in &self.targets {
            run::remove_all(t, &self.state_root(t));
        }
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// What each run needs from the selftest as a whole.
struct Context<'a> {
    work: &'a WorkDir,
    timeout: Duration,
    host_keyring: Option<i64>,
}

pub fn command(g: &GlobalOpts, a: &SelftestArgs) -> Result<i32, SelftestError> {
    if a.list {
        for at in ATTACKS {
            println!("{:<22}{}", at.name, at.tries);
        }
        return Ok(0);
    }
    let chosen: Vec<&Attack> = if a.attacks.is_empty() {
        ATTACKS.iter().collect()
    } else {
        a.attacks
            .iter()
            .map(|n| {
                ATTACKS
                    .iter()
                    .find(|at| at.name == n)
                    .ok_or_else(|| SelftestError::UnknownAttack(n.clone()))
            })
            .collect::<Result<_, _>>()?
    };
    if !nix::unistd::geteuid().is_root() {
        return Err(SelftestError::NotRoot);
    }
    std::process::Command::new(&a.runc)
        .arg("--version")
        .output()
        .map_err(|source| SelftestError::NoRunc {
            runc: a.runc.clone(),
            source,
        })?;
    let bin = std::env::current_exe().map_err(io("find", Path::new("/proc/self/exe")))?;

    let mut targets = vec![
        Target::Control {
            runc: a.runc.clone(),
        },
        Target::Sentry {
            bin: bin.clone(),
            platform: g.platform.clone(),
        },
    ];
    match fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        Ok(_) => targets.push(Target::Microvm { bin }),
        Err(e) => eprintln!("selftest: microvm backend skipped: /dev/kvm: {e}"),
    }

    run::catch_interrupts();
    let parent = a.workdir.clone().unwrap_or_else(std::env::temp_dir);
    let mut work = WorkDir::new(&parent)?;
    work.targets = targets.clone();
    let ctx = Context {
        work: &work,
        timeout: Duration::from_secs(a.timeout),
        host_keyring: host::user_keyring_id(),
    };

    let mut table = report::Table::new(&targets);
    table.print_header();
    for attack in chosen {
        let mut outcomes = Vec::new();
        for target in &targets {
            if run::INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(SelftestError::Interrupted);
            }
            outcomes.push(run_once(&ctx, attack, target)?);
        }
        table.add(attack, outcomes);
    }
    if run::INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(SelftestError::Interrupted);
    }
    Ok(table.finish())
}

/// One attack under one runtime, from a fresh bundle.
fn run_once(ctx: &Context, attack: &Attack, target: &Target) -> Result<Outcome, SelftestError> {
    let dir = ctx
        .work
        .path
        .join(format!("{}-{}", attack.name, target.short()));
    fs::create_dir_all(&dir).map_err(io("create", &dir))?;
    let outcome = prepare_and_run(ctx, attack, target, &dir);
    let _ = fs::remove_dir_all(&dir);
    outcome
}

const READ_ONLY_CONTENT: &[u8] = b"SELFTEST-ORIGINAL-CONTENT-OF-A-READ-ONLY-HOST-FILE\n";

fn prepare_and_run(
    ctx: &Context,
    attack: &Attack,
    target: &Target,
    dir: &Path,
) -> Result<Outcome, SelftestError> {
    bundle::write_rootfs(dir, PROGRAM).map_err(io("write the root filesystem in", dir))?;
    let secret = host::random_token();
    let secret_path = dir.join("secret");
    fs::write(&secret_path, &secret).map_err(io("write", &secret_path))?;
    let read_only = dir.join("read-only-file");
    fs::write(&read_only, READ_ONLY_CONTENT.repeat(80)).map_err(io("write", &read_only))?;

    let mut env = vec![
        (
            "SELFTEST_SECRET".to_string(),
            secret_path.display().to_string(),
        ),
        (
            "SELFTEST_HOST_ROOTFS".to_string(),
            dir.join("rootfs").display().to_string(),
        ),
    ];
    if let Some(rel) = host::path_in_filesystem(&secret_path) {
        env.push(("SELFTEST_SECRET_IN_FS".into(), rel.display().to_string()));
    }
    if let Some(h) = host::file_handle(dir) {
        env.push(("SELFTEST_HANDLE".into(), h));
    }
    let mut decoy = if attack.needs.host_pid_and_decoy {
        let d = Decoy::start(dir, PROGRAM).map_err(io("start a decoy process in", dir))?;
        env.push(("SELFTEST_DECOY_PID".into(), d.pid().to_string()));
        Some(d)
    } else {
        None
    };
    if attack.needs.secret_in_kernel_log {
        // Best effort: without it the control cannot find the line and
        // fails, which the table shows.
        let line = format!("sandbox-selftest {secret}\n");
        if let Err(e) = fs::write("/dev/kmsg", line) {
            eprintln!("selftest: cannot write the host's kernel log (/dev/kmsg): {e}");
        }
    }
    if target.is_control() && attack.needs.control_demo {
        env.push(("SELFTEST_CONTROL".into(), "1".into()));
    }

    let id = format!(
        "selftest-{}-{}-{}",
        std::process::id(),
        attack.name.replace('_', "-"),
        target.short()
    );
    let spec = bundle::spec(&id, attack.name, &attack.needs, &env, &read_only);
    let config = dir.join("config.json");
    let text = serde_json::to_string_pretty(&spec).unwrap_or_default();
    fs::write(&config, text).map_err(io("write", &config))?;

    let root = ctx.work.state_root(target);
    fs::create_dir_all(&root).map_err(io("create", &root))?;
    let finished = run::run(&RunSpec {
        target,
        root: &root,
        bundle: dir,
        id: &id,
        leaked_dir: attack.needs.leaked_fd.then_some(dir),
        timeout: ctx.timeout,
    })
    .map_err(io("run a container from", dir))?;

    let claimed = finished.stdout.contains("RESULT worked");
    let seen = |yes: bool| {
        if yes {
            HostEvidence::Seen
        } else {
            HostEvidence::NotSeen
        }
    };
    let evidence = match attack.proof {
        Proof::SelfReport => HostEvidence::NotApplicable,
        Proof::SecretLeaked => seen(finished.stdout.contains(&secret)),
        Proof::DecoyTouched => {
            let code = decoy.as_mut().and_then(|d| d.finish(claimed));
            seen(matches!(
                code,
                Some(host::DECOY_EXIT_SIGNAL | host::DECOY_EXIT_MEMORY)
            ))
        }
        Proof::DecoyBinaryChanged => {
            let changed = decoy.as_mut().is_some_and(|d| {
                d.finish(claimed);
                d.binary_changed()
            });
            seen(changed)
        }
        Proof::ReadOnlyFileChanged => {
            seen(fs::read(&read_only).map_or(true, |now| now != READ_ONLY_CONTENT.repeat(80)))
        }
        Proof::ReleaseAgentRan => seen(release_agent_ran(dir, claimed)),
        Proof::HostKeyring => {
            let got = field(&finished.stdout, "KEYRING").and_then(|v| v.parse::<i64>().ok());
            seen(got.is_some() && got == ctx.host_keyring)
        }
        Proof::HostDisk => seen(disk_matches(&finished.stdout, &ctx.work.path)),
    };
    drop(decoy);
    // A demonstration control proves itself by its own report.
    let (proof, evidence) = if target.is_control() && attack.needs.control_demo {
        (Proof::SelfReport, HostEvidence::NotApplicable)
    } else {
        (attack.proof, evidence)
    };
    Ok(verdict::judge(attack.name, proof, &finished, evidence))
}

/// The release agent's marker, waited for a little when the attack says
/// it emptied the cgroup (the kernel runs the agent asynchronously).
fn release_agent_ran(dir: &Path, claimed: bool) -> bool {
    let marker = dir.join("release-agent-ran");
    let patience = if claimed { 200 } else { 1 };
    for _ in 0..patience {
        if marker.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// Whether the attack's `BLOCKHASH MAJ:MIN HASH` is the host's own hash
/// of that disk.
fn disk_matches(stdout: &str, scratch: &Path) -> bool {
    let Some(v) = field(stdout, "BLOCKHASH") else {
        return false;
    };
    let mut parts = v.split_whitespace();
    let (Some(dev), Some(hash)) = (parts.next(), parts.next()) else {
        return false;
    };
    let Some((ma, mi)) = dev.split_once(':') else {
        return false;
    };
    let (Ok(ma), Ok(mi)) = (ma.parse(), mi.parse()) else {
        return false;
    };
    host::disk_hash(ma, mi, scratch).is_some_and(|h| h == hash)
}
