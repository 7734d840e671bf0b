//! Builds the selftest's attack programs (runtime/selftest/*.c) into one
//! static binary that `sandbox selftest` embeds and writes into each
//! attack's root filesystem: the host that runs the selftest needs no
//! compiler, only this binary and runc.
//!
//! C rather than Rust because the attacks are a few system calls each
//! with raw kernel structures (file handles, BPF instructions, io_uring
//! parameters), and because a static C binary needs only the C compiler
//! and libc.a that every build host of this workspace has (tests/setup.sh
//! installs gcc), where a static Rust one would need a musl target.
//! Static and non-PIE: the decoy attacks rely on one variable having the
//! same address in every process of this binary (selftest/attack.h).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let src = Path::new("selftest");
    println!("cargo:rerun-if-changed=selftest");
    println!("cargo:rerun-if-env-changed=CC");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(src)
        .unwrap_or_else(|e| panic!("reading {}: {e}", src.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    sources.sort();
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let out = out_dir.join("selftest-attack");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let made = Command::new(&cc)
        .args([
            "-std=gnu11",
            "-O1",
            "-Wall",
            "-Wextra",
            "-static",
            "-no-pie",
        ])
        .arg("-o")
        .arg(&out)
        .args(&sources)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run the C compiler `{cc}` to build the selftest attacks: {e} (install gcc)"
            )
        });
    if !made.status.success() {
        panic!(
            "building the selftest attacks with `{cc}` failed (static linking needs libc6-dev):\n{}",
            String::from_utf8_lossy(&made.stderr)
        );
    }
    if !made.stderr.is_empty() {
        for line in String::from_utf8_lossy(&made.stderr).lines() {
            println!("cargo:warning={line}");
        }
    }
}
