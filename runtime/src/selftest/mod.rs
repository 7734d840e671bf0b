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
mod evidence;
mod host;
mod report;
mod run;
mod verdict;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use catalogue::{Attack, Proof, ATTACKS};
use run::{RunSpec, Target};
use verdict::Outcome;

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
    #[error("{0} is mounted noexec, but the attack programs run from there: pass --workdir DIR on another file system")]
    NoExec(PathBuf),
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
    if nix::sys::statvfs::statvfs(&parent)
        .is_ok_and(|v| v.flags().contains(nix::sys::statvfs::FsFlags::ST_NOEXEC))
    {
        return Err(SelftestError::NoExec(parent));
    }
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

fn prepare_and_run(
    ctx: &Context,
    attack: &Attack,
    target: &Target,
    dir: &Path,
) -> Result<Outcome, SelftestError> {
    bundle::write_rootfs(dir, PROGRAM).map_err(io("write the root filesystem in", dir))?;
    let mut planted = evidence::plant(dir, &attack.needs, PROGRAM).map_err(io(
        "prepare the host side (a decoy must run there: if it is noexec, pass --workdir) in",
        dir,
    ))?;
    let mut env = planted.env.clone();
    if target.is_control() && attack.needs.control_demo {
        env.push(("SELFTEST_CONTROL".into(), "1".into()));
    }

    let id = format!(
        "selftest-{}-{}-{}",
        std::process::id(),
        attack.name.replace('_', "-"),
        target.short()
    );
    let spec = bundle::spec(&id, attack.name, &attack.needs, &env, &planted.read_only);
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

    // A demonstration control proves itself by its own report.
    let proof = if target.is_control() && attack.needs.control_demo {
        Proof::SelfReport
    } else {
        attack.proof
    };
    let evidence = planted.look(proof, &finished, ctx.host_keyring);
    drop(planted);
    Ok(verdict::judge(attack.name, proof, &finished, evidence))
}
