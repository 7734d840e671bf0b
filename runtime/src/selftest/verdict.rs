//! Reading a run: the attack's own lines (selftest/attack.h's protocol)
//! and the host's evidence, into one outcome.

use super::catalogue::Proof;
use super::run::Finished;

/// What one run of an attack showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The attack did what it tries; `proved_on_host` when the runner saw
    /// the effect on the host itself (a secret read, a host process or
    /// file changed), not only the attack's word.
    Worked {
        detail: String,
        proved_on_host: bool,
    },
    /// It ran and did not: the errno or signal it met.
    Blocked(String),
    /// It did not run to a verdict (the container failed, a timeout).
    NoVerdict(String),
}

/// What the runner found on the host after the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostEvidence {
    /// The attack's proof is its own report.
    NotApplicable,
    Seen,
    NotSeen,
}

/// The attack's `RESULT` line: (worked, detail).
fn result_line(stdout: &str) -> Option<(bool, String)> {
    let line = stdout.lines().rev().find(|l| l.starts_with("RESULT "))?;
    let rest = line.trim_start_matches("RESULT ");
    let (word, detail) = rest.split_once(' ').unwrap_or((rest, ""));
    Some((word == "worked", detail.to_string()))
}

/// The signal the attack died of, from `run`'s exit status (runc and
/// sandbox both exit with 128 + N for a workload killed by signal N).
fn died_of(f: &Finished) -> Option<String> {
    let code = f.status?.code()?;
    (129..=192)
        .contains(&code)
        .then(|| format!("killed by signal {}", signal_name(code - 128)))
}

fn signal_name(n: i32) -> String {
    nix::sys::signal::Signal::try_from(n)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| n.to_string())
}

/// The last line of the runtime's error output (why a container failed).
fn last_error(f: &Finished) -> String {
    f.stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.chars().take(160).collect())
        .unwrap_or_else(|| "no error output".into())
}

/// Combines the run with the host's evidence. A proof on the host wins
/// over anything the attack says; without one, the attack's own
/// `RESULT` decides; an attack that never started has no verdict.
pub fn judge(attack: &str, proof: Proof, f: &Finished, host: HostEvidence) -> Outcome {
    let started = f.stdout.lines().any(|l| l == format!("START {attack}"));
    let result = result_line(&f.stdout);
    if host == HostEvidence::Seen {
        let detail = result
            .map(|(_, d)| d)
            .unwrap_or_else(|| "seen on the host".into());
        return Outcome::Worked {
            detail,
            proved_on_host: true,
        };
    }
    if f.timed_out {
        return Outcome::NoVerdict(format!("timed out ({})", last_error(f)));
    }
    if !started {
        return Outcome::NoVerdict(format!(
            "the attack did not start ({}: {})",
            f.describe(),
            last_error(f)
        ));
    }
    match result {
        Some((true, detail)) if proof == Proof::SelfReport => Outcome::Worked {
            detail,
            proved_on_host: false,
        },
        Some((true, detail)) => {
            Outcome::Blocked(format!("host unchanged (the attack saw: {detail})"))
        }
        Some((false, detail)) => Outcome::Blocked(detail),
        None => Outcome::Blocked(
            died_of(f)
                .unwrap_or_else(|| format!("the attack ended without a result ({})", f.describe())),
        ),
    }
}

/// The value after `key ` on the attack's first line that has one.
pub fn field<'a>(stdout: &'a str, key: &str) -> Option<&'a str> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    fn finished(stdout: &str, code: i32) -> Finished {
        Finished {
            status: Some(ExitStatus::from_raw(code << 8)),
            timed_out: false,
            stdout: stdout.into(),
            stderr: String::new(),
        }
    }

    #[test]
    fn self_report_decides_without_host_proof() {
        let f = finished("START bpf\nRESULT worked loaded\n", 0);
        assert!(matches!(
            judge("bpf", Proof::SelfReport, &f, HostEvidence::NotApplicable),
            Outcome::Worked {
                proved_on_host: false,
                ..
            }
        ));
        let f = finished("START bpf\nRESULT blocked bpf: ENOSYS\n", 0);
        assert_eq!(
            judge("bpf", Proof::SelfReport, &f, HostEvidence::NotApplicable),
            Outcome::Blocked("bpf: ENOSYS".into())
        );
    }

    #[test]
    fn a_host_proof_overrides_the_attack() {
        let f = finished("START kill_host\nRESULT worked sent\n", 0);
        assert_eq!(
            judge("kill_host", Proof::DecoyTouched, &f, HostEvidence::NotSeen),
            Outcome::Blocked("host unchanged (the attack saw: sent)".into())
        );
        let f = finished("", 1);
        assert!(matches!(
            judge("kill_host", Proof::DecoyTouched, &f, HostEvidence::Seen),
            Outcome::Worked {
                proved_on_host: true,
                ..
            }
        ));
    }

    #[test]
    fn no_start_is_no_verdict_and_a_signal_is_blocked() {
        let f = finished("", 1);
        assert!(matches!(
            judge("bpf", Proof::SelfReport, &f, HostEvidence::NotApplicable),
            Outcome::NoVerdict(_)
        ));
        let f = finished("START int80\n", 128 + 11);
        assert_eq!(
            judge("int80", Proof::SelfReport, &f, HostEvidence::NotApplicable),
            Outcome::Blocked("killed by signal SIGSEGV".into())
        );
    }

    #[test]
    fn fields() {
        assert_eq!(field("START x\nLEAK abc \n", "LEAK"), Some("abc"));
        assert_eq!(field("LEAKY x\n", "LEAK"), None);
    }
}
