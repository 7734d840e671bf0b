//! Issue 2: hostile input from the workload gets a clear error, never a
//! crash of the Sentry, and no system call reaches the host kernel.
//!
//! A small static C program (built with gcc during the test) makes the
//! calls. Each check runs natively first (the control), then in the sandbox.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use sandbox_tests::{assert_clean, native_in_chroot, Bundle, Output, Runtime};

const PROBE: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "";
    long r;
    errno = 0;
    if (!strcmp(what, "huge-write")) {
        char b[16] = "x";
        int fd = open("/tmp/huge", O_CREAT | O_WRONLY | O_TRUNC, 0600);
        r = syscall(SYS_write, fd, b, 1UL << 40);
    } else if (!strcmp(what, "bad-pointer")) {
        r = syscall(SYS_write, 1, (void *)16, 10);
    } else if (!strcmp(what, "bad-path")) {
        r = syscall(SYS_openat, AT_FDCWD, (void *)0x10, O_RDONLY);
    } else if (!strcmp(what, "unknown")) {
        r = syscall(1000, 1, 2, 3);
    } else if (!strcmp(what, "unshare")) {
        r = syscall(SYS_unshare, CLONE_NEWUTS);
    } else {
        return 2;
    }
    printf("%s %ld %d\n", what, r, r < 0 ? errno : 0);
    return 0;
}
"#;

/// A busybox bundle with the probe at /bin/probe and two hostile ELF files.
fn bundle(tag: &str, script: &str) -> Bundle {
    let b = Bundle::sh(tag, script);
    let src = b.path().join("probe.c");
    fs::write(&src, PROBE).expect("write probe.c");
    let out = Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(b.rootfs().join("bin/probe"))
        .arg(&src)
        .output()
        .expect("gcc runs (apt-get install gcc)");
    assert!(
        out.status.success(),
        "gcc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    write_exec(&b.rootfs().join("bin/truncated-elf"), &elf_header(0)[..20]);
    write_exec(&b.rootfs().join("bin/huge-segment"), &elf_header(1 << 35));
    b
}

fn write_exec(path: &Path, bytes: &[u8]) {
    fs::write(path, bytes).expect("write an ELF file");
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// An ELF64 x86-64 executable whose single PT_LOAD claims `filesz` bytes of
/// a file that holds only its headers.
fn elf_header(filesz: u64) -> Vec<u8> {
    let mut h = vec![0u8; 64 + 56];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2; // 64-bit
    h[5] = 1; // little endian
    h[6] = 1; // version
    h[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    h[18..20].copy_from_slice(&62u16.to_le_bytes()); // x86-64
    h[20..24].copy_from_slice(&1u32.to_le_bytes());
    h[24..32].copy_from_slice(&0x40_0078u64.to_le_bytes()); // entry
    h[32..40].copy_from_slice(&64u64.to_le_bytes()); // phoff
    h[52..54].copy_from_slice(&64u16.to_le_bytes()); // ehsize
    h[54..56].copy_from_slice(&56u16.to_le_bytes()); // phentsize
    h[56..58].copy_from_slice(&1u16.to_le_bytes()); // phnum
    let p = 64;
    h[p..p + 4].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    h[p + 4..p + 8].copy_from_slice(&5u32.to_le_bytes()); // R+X
    h[p + 16..p + 24].copy_from_slice(&0x40_0000u64.to_le_bytes()); // vaddr
    h[p + 32..p + 40].copy_from_slice(&filesz.max(120).to_le_bytes()); // filesz
    h[p + 40..p + 48].copy_from_slice(&filesz.max(120).to_le_bytes()); // memsz
    h
}

/// The probe's report line for `what`: (result, errno).
fn report(out: &Output, what: &str) -> (i64, i32) {
    let line = out
        .stdout_lines()
        .into_iter()
        .find(|l| l.starts_with(what))
        .unwrap_or_else(|| panic!("no report for {what}:\n{out}"))
        .to_string();
    let f: Vec<&str> = line.split_whitespace().collect();
    (f[1].parse().expect("result"), f[2].parse().expect("errno"))
}

const SCRIPT: &str =
    "probe huge-write; probe bad-pointer; probe bad-path; probe unknown; probe unshare; \
                      truncated-elf; echo truncated=$?; huge-segment; echo huge=$?; echo alive";

fn check(out: &Output, native: bool) {
    assert_eq!(out.code(), Some(0), "\n{out}");
    // A 1 TiB write from a 16-byte buffer: EFAULT or a short count, never a crash.
    let (r, e) = report(out, "huge-write");
    assert!(
        (r == -1 && e == libc::EFAULT) || (0..1 << 40).contains(&r),
        "huge write: {r} {e}\n{out}"
    );
    assert_eq!(report(out, "bad-pointer"), (-1, libc::EFAULT), "\n{out}");
    assert_eq!(report(out, "bad-path"), (-1, libc::EFAULT), "\n{out}");
    assert_eq!(report(out, "unknown"), (-1, libc::ENOSYS), "\n{out}");
    let unshare = report(out, "unshare");
    if native {
        // The control: as root the host kernel really performs the call.
        assert_eq!(
            unshare,
            (0, 0),
            "native unshare must succeed as root\n{out}"
        );
    } else {
        // In the sandbox it never reaches the host: the Sentry has no
        // namespaces of its own and refuses new ones (issue 16).
        assert_eq!(unshare, (-1, libc::EPERM), "\n{out}");
    }
    let lines = out.stdout_lines();
    let status = |k: &str| -> i32 {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {k}\n{out}"))
    };
    assert_ne!(
        status("truncated="),
        0,
        "a truncated ELF must not run\n{out}"
    );
    assert_ne!(
        status("huge="),
        0,
        "an ELF claiming 32 GiB of file must not run\n{out}"
    );
    assert_eq!(
        lines.last().copied(),
        Some("alive"),
        "the shell must survive\n{out}"
    );
}

#[test]
fn native_control_hostile_calls() {
    let b = bundle("hostile-native", SCRIPT);
    check(&native_in_chroot(&b, SCRIPT), true);
}

#[test]
fn sandbox_hostile_calls() {
    let b = bundle("hostile", SCRIPT);
    let rt = Runtime::sandbox();
    let out = rt.run(&b);
    check(&out, false);
    assert_clean(rt.root(), &b.id, b.path());
}
