//! Issue 5: the application cannot make host system calls through its
//! platform's stub. A C program (tests/c/stub_jump.c) jumps to every
//! `syscall` instruction of the stub page with registers asking for
//! kill(parent, SIGUSR1); each must reach the Sentry (the parent gets the
//! signal), never the host. Run on every platform.
//!
//! The control: natively the stub page does not exist (the program says
//! so). Were a site's call executed by the host, kill(2) would name a host
//! pid and the parent would see no signal: the test would fail.

use std::path::Path;

use sandbox_tests::cprog::build_static;
use sandbox_tests::{assert_clean, native_in_chroot, Bundle, Output, Runtime};

const PLATFORMS: &[&str] = &["ptrace", "seccomp"];

fn bundle(tag: &str) -> Bundle {
    let b = Bundle::busybox(tag, &["/bin/stub-jump"]);
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("c/stub_jump.c");
    build_static(&src, &b.rootfs().join("bin/stub-jump"));
    b
}

/// (sites found, sites whose call the Sentry serviced).
fn summary(out: &Output) -> (u32, u32) {
    let line = out
        .stdout_lines()
        .into_iter()
        .find(|l| l.starts_with("sites "))
        .unwrap_or_else(|| panic!("no summary line:\n{out}"))
        .to_string();
    let f: Vec<&str> = line.split_whitespace().collect();
    (
        f[1].parse().expect("a site count"),
        f[3].parse().expect("a serviced count"),
    )
}

#[test]
fn native_has_no_stub_page() {
    let b = bundle("stub-jump-native");
    let out = native_in_chroot(&b, "exec /bin/stub-jump");
    assert_eq!(out.code(), Some(0), "\n{out}");
    assert_eq!(out.stdout_lines(), vec!["no-stub-page"], "\n{out}");
}

#[test]
fn stub_syscall_sites_reach_only_the_sentry() {
    for platform in PLATFORMS {
        let b = bundle(&format!("stub-jump-{platform}"));
        let rt = Runtime::sandbox();
        let id = b.id.clone();
        let path = b.path().to_string_lossy().into_owned();
        let out = rt.exec(&["--platform", platform, "run", "--bundle", &path, &id]);
        assert_eq!(out.code(), Some(0), "on {platform}:\n{out}");
        let (sites, serviced) = summary(&out);
        assert!(sites > 0, "on {platform}: no syscall site found:\n{out}");
        assert_eq!(
            serviced, sites,
            "on {platform}: a call made from the stub page did not reach the Sentry:\n{out}"
        );
        assert_clean(rt.root(), &b.id, b.path());
    }
}
