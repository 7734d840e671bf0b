//! The table `sandbox selftest` prints, one row per attack as it
//! finishes, and its last line, which scripts parse:
//! `selftest: N attacks, B blocked, E escaped, F control failed`.

use super::catalogue::Attack;
use super::run::Target;
use super::verdict::Outcome;

pub struct Table {
    columns: Vec<(String, bool)>,
    attacks: usize,
    blocked: usize,
    escaped: usize,
    control_failed: usize,
    /// Rows with a working control and a sandbox run without a verdict.
    undecided: Vec<String>,
    /// Whether any sandbox result was not "blocked".
    any_not_blocked: bool,
}

const NAME: usize = 24;
const TRIES: usize = 62;
const CELL: usize = 48;

impl Table {
    pub fn new(targets: &[Target]) -> Table {
        Table {
            columns: targets
                .iter()
                .map(|t| (t.label(), t.is_control()))
                .collect(),
            attacks: 0,
            blocked: 0,
            escaped: 0,
            control_failed: 0,
            undecided: Vec::new(),
            any_not_blocked: false,
        }
    }

    pub fn print_header(&self) {
        let mut line = format!("{:<NAME$} {:<TRIES$}", "ATTACK", "WHAT IT TRIES");
        for (label, _) in &self.columns {
            line.push_str(&format!(" | {:<CELL$}", label.to_uppercase()));
        }
        println!("{}", line.trim_end());
    }

    /// Prints `attack`'s row; `outcomes` are in the order of the targets.
    pub fn add(&mut self, attack: &Attack, outcomes: Vec<Outcome>) {
        let mut line = format!("{:<NAME$} {:<TRIES$}", attack.name, attack.tries);
        let mut control_ok = false;
        let mut escaped = false;
        let mut all_blocked = true;
        for ((_, is_control), o) in self.columns.iter().zip(&outcomes) {
            let cell = if *is_control {
                control_ok = matches!(o, Outcome::Worked { .. });
                control_cell(o)
            } else {
                escaped |= matches!(o, Outcome::Worked { .. });
                all_blocked &= matches!(o, Outcome::Blocked(_));
                sandbox_cell(o)
            };
            line.push_str(&format!(" | {cell:<CELL$}"));
        }
        println!("{}", line.trim_end());
        self.attacks += 1;
        self.any_not_blocked |= !all_blocked;
        if escaped {
            self.escaped += 1;
        } else if !control_ok {
            self.control_failed += 1;
        } else if all_blocked {
            self.blocked += 1;
        } else {
            self.undecided.push(attack.name.to_string());
        }
    }

    /// Prints the summary; returns the exit status (1 unless every
    /// sandbox result was "blocked").
    pub fn finish(&self) -> i32 {
        if !self.undecided.is_empty() {
            println!(
                "no verdict on the sandbox (counted neither blocked nor escaped): {}",
                self.undecided.join(", ")
            );
        }
        println!(
            "selftest: {} attacks, {} blocked, {} escaped, {} control failed",
            self.attacks, self.blocked, self.escaped, self.control_failed
        );
        i32::from(self.any_not_blocked)
    }
}

fn control_cell(o: &Outcome) -> String {
    match o {
        Outcome::Worked {
            detail,
            proved_on_host: true,
        } => format!("escaped: {detail}"),
        Outcome::Worked { detail, .. } => format!("worked: {detail}"),
        Outcome::Blocked(d) | Outcome::NoVerdict(d) => format!("control failed: {d}"),
    }
}

fn sandbox_cell(o: &Outcome) -> String {
    match o {
        Outcome::Worked { detail, .. } => format!("ESCAPED: {detail}"),
        Outcome::Blocked(d) => format!("blocked: {d}"),
        Outcome::NoVerdict(d) => format!("NO VERDICT: {d}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selftest::catalogue::ATTACKS;
    use std::path::PathBuf;

    fn table() -> Table {
        Table::new(&[
            Target::Control {
                runc: PathBuf::from("runc"),
            },
            Target::Sentry {
                bin: PathBuf::from("sandbox"),
                platform: "seccomp".into(),
            },
            Target::Microvm {
                bin: PathBuf::from("sandbox"),
            },
        ])
    }

    fn worked() -> Outcome {
        Outcome::Worked {
            detail: "x".into(),
            proved_on_host: true,
        }
    }

    fn blocked() -> Outcome {
        Outcome::Blocked("EPERM".into())
    }

    #[test]
    fn counts_follow_the_rules() {
        let a = &ATTACKS[0];
        let mut t = table();
        t.add(a, vec![worked(), blocked(), blocked()]);
        assert_eq!((t.blocked, t.escaped, t.control_failed), (1, 0, 0));
        assert_eq!(t.finish(), 0);
        // A failed control is never counted as blocked, and does not
        // make the exit status fail when the sandbox blocked too.
        t.add(a, vec![blocked(), blocked(), blocked()]);
        assert_eq!((t.blocked, t.control_failed), (1, 1));
        assert_eq!(t.finish(), 0);
        // An escape on one backend counts once, and fails the run.
        t.add(a, vec![worked(), blocked(), worked()]);
        assert_eq!(t.escaped, 1);
        assert_eq!(t.finish(), 1);
    }

    #[test]
    fn no_verdict_is_neither_blocked_nor_escaped() {
        let mut t = table();
        t.add(
            &ATTACKS[0],
            vec![worked(), blocked(), Outcome::NoVerdict("timed out".into())],
        );
        assert_eq!(
            (t.attacks, t.blocked, t.escaped, t.control_failed),
            (1, 0, 0, 0)
        );
        assert_eq!(t.undecided.len(), 1);
        assert_eq!(t.finish(), 1);
    }
}
