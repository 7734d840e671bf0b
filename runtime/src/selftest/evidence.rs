//! What the runner plants on the host for one run (a secret outside the
//! root, a read-only file, a decoy process, a line in the kernel log),
//! what it tells the attack about them (environment variables), and what
//! it finds there afterwards.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::catalogue::{Needs, Proof};
use super::host::{self, AbstractServer, Decoy, HostShm};
use super::run::Finished;
use super::verdict::{field, HostEvidence};

const READ_ONLY_CONTENT: &[u8] = b"SELFTEST-ORIGINAL-CONTENT-OF-A-READ-ONLY-HOST-FILE\n";

/// The host side of one run, in its bundle directory `dir`.
pub struct Planted {
    dir: PathBuf,
    secret: String,
    /// The host file bind-mounted read-only at /ro/target.
    pub read_only: PathBuf,
    decoy: Option<Decoy>,
    /// Kept for their drop: the server stops, the segment goes.
    _server: Option<AbstractServer>,
    _shm: Option<HostShm>,
    /// What the attack is told (`SELFTEST_*`).
    pub env: Vec<(String, String)>,
}

/// Plants what `needs` asks for in `dir` (which already holds rootfs/).
pub fn plant(dir: &Path, needs: &Needs, program: &[u8]) -> std::io::Result<Planted> {
    let secret = host::random_token();
    let secret_path = dir.join("secret");
    fs::write(&secret_path, &secret)?;
    let read_only = dir.join("read-only-file");
    fs::write(&read_only, READ_ONLY_CONTENT.repeat(80))?;
    let mut env = vec![
        ("SELFTEST_SECRET".into(), secret_path.display().to_string()),
        (
            "SELFTEST_HOST_ROOTFS".into(),
            dir.join("rootfs").display().to_string(),
        ),
    ];
    if let Some(rel) = host::path_in_filesystem(&secret_path) {
        env.push(("SELFTEST_SECRET_IN_FS".into(), rel.display().to_string()));
    }
    if let Some(h) = host::file_handle(dir) {
        env.push(("SELFTEST_HANDLE".into(), h));
    }
    let decoy = if needs.host_pid_and_decoy {
        let d = Decoy::start(dir, program)?;
        env.push(("SELFTEST_DECOY_PID".into(), d.pid().to_string()));
        Some(d)
    } else {
        None
    };
    let server = if needs.host_network {
        let s = AbstractServer::start(&secret)?;
        env.push(("SELFTEST_ABSTRACT".into(), s.name.clone()));
        Some(s)
    } else {
        None
    };
    let shm = if needs.host_ipc {
        let m = HostShm::create(&secret)?;
        env.push(("SELFTEST_SHM_KEY".into(), m.key.to_string()));
        Some(m)
    } else {
        None
    };
    if needs.secret_in_kernel_log {
        // Best effort: without it the control cannot find the line and
        // fails, which the table shows.
        let line = format!("sandbox-selftest {secret}\n");
        if let Err(e) = fs::write("/dev/kmsg", line) {
            eprintln!("selftest: cannot write the host's kernel log (/dev/kmsg): {e}");
        }
    }
    Ok(Planted {
        dir: dir.to_path_buf(),
        secret,
        read_only,
        decoy,
        _server: server,
        _shm: shm,
        env,
    })
}

impl Planted {
    /// Looks on the host for the effect `proof` names, after the run
    /// that printed `finished`; ends the decoy.
    pub fn look(&mut self, proof: Proof, f: &Finished, host_keyring: Option<i64>) -> HostEvidence {
        let claimed = f.stdout.contains("RESULT worked");
        let seen = match proof {
            Proof::SelfReport => return HostEvidence::NotApplicable,
            Proof::SecretLeaked => f.stdout.contains(&self.secret),
            Proof::DecoyTouched => {
                let code = self.decoy.as_mut().and_then(|d| d.finish(claimed));
                matches!(
                    code,
                    Some(host::DECOY_EXIT_SIGNAL | host::DECOY_EXIT_MEMORY)
                )
            }
            Proof::DecoyBinaryChanged => self.decoy.as_mut().is_some_and(|d| {
                d.finish(claimed);
                d.binary_changed()
            }),
            Proof::ReadOnlyFileChanged => {
                fs::read(&self.read_only).map_or(true, |now| now != READ_ONLY_CONTENT.repeat(80))
            }
            Proof::ReleaseAgentRan => self.release_agent_ran(claimed),
            Proof::HostKeyring => {
                let got = field(&f.stdout, "KEYRING").and_then(|v| v.parse::<i64>().ok());
                got.is_some() && got == host_keyring
            }
            Proof::HostDisk => disk_matches(&f.stdout, &self.dir),
        };
        if seen {
            HostEvidence::Seen
        } else {
            HostEvidence::NotSeen
        }
    }

    /// The release agent's marker, waited for a little when the attack
    /// says it emptied the cgroup (the kernel runs the agent
    /// asynchronously).
    fn release_agent_ran(&self, claimed: bool) -> bool {
        let marker = self.dir.join("release-agent-ran");
        let patience = if claimed { 200 } else { 1 };
        for _ in 0..patience {
            if marker.exists() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
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
