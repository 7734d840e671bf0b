//! Builds the Sentry's vDSO (vdso/vdso.c) into a small shared object with
//! the host's C compiler; src/vdso/image.rs embeds it with include_bytes!.
//! Freestanding: no libc, no relocations, one read+exec segment (see
//! vdso/vdso.lds), so the Sentry can copy it into any address space as is.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = PathBuf::from("vdso/vdso.c");
    let lds = PathBuf::from("vdso/vdso.lds");
    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-changed={}", lds.display());
    println!("cargo:rerun-if-env-changed=CC");
    let out =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("vdso.so");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let status = Command::new(&cc)
        .args([
            "-shared",
            "-nostdlib",
            "-ffreestanding",
            "-fPIC",
            "-O2",
            "-fno-stack-protector",
            "-fcf-protection=none",
            "-Wall",
            "-Wextra",
            "-Werror",
        ])
        .arg(format!("-Wl,-T,{}", lds.display()))
        .args([
            "-Wl,-soname=linux-vdso.so.1",
            "-Wl,--hash-style=both",
            "-Wl,--build-id=none",
            "-Wl,-z,max-page-size=4096",
            "-Wl,--no-undefined",
            "-Wl,-Bsymbolic",
            "-Wl,--eh-frame-hdr",
            "-o",
        ])
        .arg(&out)
        .arg(&src)
        .status()
        .unwrap_or_else(|e| {
            panic!("cannot run the C compiler `{cc}` to build the vDSO ({e}); install gcc (tests/setup.sh does)")
        });
    assert!(
        status.success(),
        "`{cc}` failed to build the vDSO from {}",
        src.display()
    );
}
