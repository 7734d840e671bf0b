//! Facts about host processes read from /proc. A pid alone is not an
//! identity (pids are reused), so a container's init is recognised by its
//! pid *and* the start time the kernel recorded for it.

use std::fs;

/// The start time of `pid` in clock ticks since boot (field 22 of
/// /proc/PID/stat), and whether it is a zombie; None when there is no
/// such process.
pub fn stat(pid: i32) -> Option<(u64, bool)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

fn parse_stat(text: &str) -> Option<(u64, bool)> {
    // The command name (field 2) may contain spaces and parentheses; the
    // fields after the *last* ')' are unambiguous.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    // `state` is field 3; start time is field 22, i.e. 18 further on.
    let start = fields.nth(18)?.parse().ok()?;
    Some((start, state == "Z" || state == "X"))
}

/// Whether `pid` is still the live process that had `start_time`.
pub fn is_alive(pid: i32, start_time: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    matches!(stat(pid), Some((start, zombie)) if start == start_time && !zombie)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_with_spaces_and_parens() {
        let line = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10 18446744073709551615";
        assert_eq!(parse_stat(line), Some((98765, false)));
        let zombie = "7 (sh) Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 555 0 0 0";
        assert_eq!(parse_stat(zombie), Some((555, true)));
    }

    #[test]
    fn our_own_process_is_alive() {
        let me = std::process::id() as i32;
        let (start, zombie) = stat(me).unwrap();
        assert!(!zombie);
        assert!(is_alive(me, start));
        assert!(!is_alive(me, start + 1));
        assert!(!is_alive(0, start));
    }
}
