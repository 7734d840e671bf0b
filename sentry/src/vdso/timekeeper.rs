//! Keeps the data page's clock lines close to the host's clocks.
//!
//! The host's TSC is read with `rdtsc`; the Sentry learns its rate against
//! the host's clocks over an ever longer baseline and republishes the lines
//! periodically (10 ms after start, then at growing intervals up to once a
//! second). Each republication starts the lines where the host's clocks are,
//! except that a clock never goes back: if the old line ran ahead of the
//! host, the new line starts where the old one is and runs a little slower
//! so that it meets the host by the next update. The Sentry's own
//! clock_gettime reads the same lines, so the vDSO and the system call
//! agree exactly.

use std::sync::Arc;
use std::time::Duration;

use super::vvar::{rdtsc, Line, Params, Vvar, LINES};

const CLOCK_IDS: [libc::clockid_t; 4] = [
    libc::CLOCK_REALTIME,
    libc::CLOCK_MONOTONIC,
    libc::CLOCK_BOOTTIME,
    libc::CLOCK_MONOTONIC_RAW,
];

/// Intervals between updates: short at first, while the rate is still
/// learned over a short baseline, then once a second.
const SCHEDULE_MS: [u64; 5] = [10, 40, 150, 500, 1000];

/// A host realtime step backwards larger than this is followed (Linux's
/// CLOCK_REALTIME jumps back too when the host's clock is set); smaller
/// differences are treated as drift and smoothed.
const REALTIME_STEP_NS: u64 = 10_000_000;

/// The host's clocks at one TSC reading.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Read before the clocks: the lines, based here, are never behind.
    pub tsc: u64,
    pub ns: [u64; 4],
}

fn host_ns(id: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec (the host's vDSO: no
    // system call in the Sentry either).
    unsafe { libc::clock_gettime(id, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// Reads the host's clocks between two TSC readings; keeps the tightest of
/// a few tries (a preemption in between would widen the bracket).
pub fn sample() -> Sample {
    let mut best: Option<(u64, Sample)> = None;
    for _ in 0..5 {
        let t0 = rdtsc();
        let ns = CLOCK_IDS.map(host_ns);
        let t1 = rdtsc();
        let width = t1.wrapping_sub(t0);
        if best.is_none_or(|(w, _)| width < w) {
            best = Some((width, Sample { tsc: t0, ns }));
        }
    }
    best.map(|(_, s)| s).unwrap_or(Sample {
        tsc: rdtsc(),
        ns: CLOCK_IDS.map(host_ns),
    })
}

/// Fixed-point (32 fractional bits) nanoseconds per tick of `line` between
/// two samples; REALTIME runs at MONOTONIC's rate (the host may step it).
fn rate(first: &Sample, now: &Sample, line: Line) -> Option<u64> {
    let src = if line == Line::Realtime {
        Line::Monotonic
    } else {
        line
    } as usize;
    let ticks = now.tsc.checked_sub(first.tsc).filter(|&t| t > 0)?;
    let ns = now.ns[src].checked_sub(first.ns[src])?;
    u64::try_from(((ns as u128) << 32) / ticks as u128).ok()
}

/// The next lines: from `now`, at the rate learned since `first`, never
/// behind `old` (the lines in force), meeting the host after about
/// `next_ns`. None when the samples make no sense (a TSC that went back).
pub fn next_params(
    first: &Sample,
    now: &Sample,
    old: Option<&Params>,
    next_ns: u64,
) -> Option<Params> {
    let mut p = Params {
        base_tsc: now.tsc,
        ..Params::default()
    };
    for line in LINES {
        let i = line as usize;
        let rate = rate(first, now, line)?;
        let host = now.ns[i];
        let predicted = old.map(|o| o.at(line, now.tsc)).unwrap_or(host);
        let stepped_back = line == Line::Realtime && predicted > host + REALTIME_STEP_NS;
        let base = if stepped_back {
            host
        } else {
            host.max(predicted)
        };
        // Ahead of the host: run slower so as to meet it in `next_ns`
        // (but never slower than half speed, and never backwards).
        let ahead = (base - host) as u128;
        let slow = (((ahead << 32) / next_ns.max(1) as u128) * rate as u128) >> 32;
        let mult = (rate as u128).saturating_sub(slow).max(rate as u128 / 2);
        p.base_ns[i] = base;
        p.mult[i] = mult as u64;
    }
    Some(p)
}

/// Whether the host's TSC can stand in for its clocks: the CPU says it is
/// invariant (CPUID 0x8000_0007 EDX bit 8: a constant rate through P- and
/// C-states, Linux's constant_tsc + nonstop_tsc). CPUID works anywhere,
/// unlike /proc/cpuinfo, which the Sentry's mount namespace may not have.
pub fn tsc_usable() -> bool {
    let max_ext = std::arch::x86_64::__cpuid(0x8000_0000).eax;
    if max_ext < 0x8000_0007 {
        return false;
    }
    let power = std::arch::x86_64::__cpuid(0x8000_0007);
    power.edx & (1 << 8) != 0
}

/// The host's coarse-clock resolution (its tick), in ns.
pub fn coarse_resolution_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_getres writes one timespec.
    let r = unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    if r != 0 {
        return 0;
    }
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// Runs the updates for the life of the Sentry (a thread of its own).
pub fn run(vvar: Arc<Vvar>, first: Sample) {
    let mut old: Option<Params> = None;
    let mut step = 0;
    loop {
        let pause = SCHEDULE_MS[step.min(SCHEDULE_MS.len() - 1)];
        step += 1;
        std::thread::sleep(Duration::from_millis(pause));
        let next = SCHEDULE_MS[step.min(SCHEDULE_MS.len() - 1)];
        let now = sample();
        match next_params(&first, &now, old.as_ref(), next * 1_000_000) {
            Some(p) => {
                vvar.publish(&p);
                old = Some(p);
            }
            None => tracing::warn!("the TSC went backwards; vDSO clocks not updated"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(tsc: u64, ns: u64) -> Sample {
        Sample { tsc, ns: [ns; 4] }
    }

    #[test]
    fn first_lines_start_at_the_host_and_run_at_its_rate() {
        // 2 ticks per ns.
        let p = next_params(&s(1000, 0), &s(3000, 1000), None, 1_000_000).unwrap();
        assert_eq!(p.base_tsc, 3000);
        assert_eq!(p.at(Line::Monotonic, 3000), 1000);
        assert_eq!(p.at(Line::Monotonic, 5000), 2000);
    }

    #[test]
    fn a_line_ahead_of_the_host_never_goes_back() {
        let first = s(0, 0);
        // Lines in force run 1% fast: at tsc 2_000_000 they say 1_010_000.
        let old = Params {
            base_tsc: 0,
            base_ns: [0; 4],
            mult: [(1u64 << 31) * 101 / 100; 4],
        };
        let now = s(2_000_000, 1_000_000);
        let p = next_params(&first, &now, Some(&old), 1_000_000).unwrap();
        let before = old.at(Line::Monotonic, now.tsc);
        assert_eq!(p.at(Line::Monotonic, now.tsc), before, "no jump back");
        // And it meets the host (1 ns per 2 ticks) after about next_ns.
        let later = p.at(Line::Monotonic, now.tsc + 2_000_000);
        assert!(later.abs_diff(2_000_000) < 100, "{later}");
    }

    #[test]
    fn a_line_behind_the_host_jumps_forward() {
        let old = Params {
            base_tsc: 0,
            base_ns: [0; 4],
            mult: [1 << 30; 4],
        };
        let p = next_params(&s(0, 0), &s(4000, 2000), Some(&old), 1000).unwrap();
        assert_eq!(p.at(Line::Raw, 4000), 2000);
    }

    #[test]
    fn realtime_follows_a_host_step_backwards() {
        let old = Params {
            base_tsc: 0,
            base_ns: [10_000_000_000, 0, 0, 0],
            mult: [1 << 31; 4],
        };
        let mut now = s(2000, 1000);
        now.ns[0] = 5_000_000_000;
        let p = next_params(&s(0, 0), &now, Some(&old), 1000).unwrap();
        assert_eq!(p.at(Line::Realtime, 2000), 5_000_000_000);
    }

    #[test]
    fn real_samples_make_a_line_close_to_the_host() {
        if !tsc_usable() {
            return;
        }
        let first = sample();
        std::thread::sleep(Duration::from_millis(20));
        let now = sample();
        let p = next_params(&first, &now, None, 1_000_000_000).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let tsc = rdtsc();
        let host = host_ns(libc::CLOCK_MONOTONIC);
        let line = p.at(Line::Monotonic, tsc);
        // Tens of µs at most after 20 ms on a 20 ms baseline.
        assert!(line.abs_diff(host) < 200_000, "line {line} host {host}");
    }
}
