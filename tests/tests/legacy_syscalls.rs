//! 32-bit system calls never run. A 64-bit program that executes
//! `int 0x80` (tests/c/int80.c: getpid, number 20 in the 32-bit table and
//! writev in the 64-bit one) gets SIGSEGV with si_code SI_KERNEL at the
//! instruction, with rax untouched, on every platform: what Linux booted
//! with `ia32_emulation=0` does. The Sentry implements the 64-bit ABI only,
//! and must neither run the call on the host nor read it as a 64-bit call.
//!
//! The control: natively (this host's kernel has IA32 emulation) the same
//! instruction is a real system call that returns the pid.

use std::path::Path;

use sandbox_tests::cprog::build_static;
use sandbox_tests::{assert_clean, native_in_chroot, Bundle, Runtime};

const SANDBOXED: &str = "signal 11 code 128 addr (nil) at-int80 1 rax 20\n";

fn bundle(tag: &str) -> Bundle {
    let b = Bundle::busybox(tag, &["/bin/int80"]);
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("c/int80.c");
    build_static(&src, &b.rootfs().join("bin/int80"));
    b
}

#[test]
fn native_control_int80_is_a_system_call() {
    let b = bundle("int80-native");
    let out = native_in_chroot(&b, "exec /bin/int80");
    assert_eq!(out.code(), Some(0), "\n{out}");
    assert_eq!(out.stdout, "ran: int 0x80 getpid == getpid()\n", "\n{out}");
}

#[test]
fn int80_faults_on_every_platform() {
    let mut runtimes = Vec::new();
    for platform in ["ptrace", "seccomp"] {
        let mut rt = Runtime::sandbox();
        rt.set_platform(platform);
        runtimes.push((platform, rt));
    }
    if let Some(rt) = Runtime::sandbox_vm() {
        runtimes.push(("kvm", rt));
    }
    for (platform, rt) in runtimes {
        let b = bundle(&format!("int80-{platform}"));
        let out = rt.run(&b);
        assert_eq!(out.code(), Some(0), "on {platform}:\n{out}");
        assert_eq!(out.stdout, SANDBOXED, "on {platform}:\n{out}");
        assert_clean(rt.root(), &b.id, b.path());
    }
}
