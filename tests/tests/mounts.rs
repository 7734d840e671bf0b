//! Issue 3: the spec's mounts as a container sees them — a tmpfs with a size
//! limit, bind mounts (Docker volumes) read-write and read-only, masked
//! paths and read-only paths.
//!
//! The control is runc: the same bundle (same config.json, same host
//! directories) prints the same lines under runc as under the sandbox, and
//! leaves the same files in the host directories. The expected lines are
//! also written out here, so a control that silently did nothing fails too.

use std::fs;
use std::path::{Path, PathBuf};

use sandbox_tests::{assert_clean, Bundle, Output, Runtime, TempDir};

/// Each step prints one line; failures print the shell's error class, not
/// its wording (busybox and the sandbox may phrase errno differently).
const SCRIPT: &str = r#"
# tmpfs size=1m: a 2 MiB write fails with ENOSPC and the file stays <= 1 MiB.
dd if=/dev/zero of=/small/f bs=4k count=512 2>/tmp/dd.err && echo small-fit || \
    { grep -q 'No space left' /tmp/dd.err && echo small-enospc || cat /tmp/dd.err; }
[ "$(wc -c < /small/f)" -le 1048576 ] && echo small-bounded
rm /small/f && echo small-rm
# A read-write bind mount: the host's file is there, a new file reaches the host.
cat /vol/host.txt
echo from-container > /vol/new.txt && echo vol-write
mkdir /vol/sub && echo nested > /vol/sub/f && echo vol-mkdir
# A read-only bind mount: readable, never writable.
cat /ro/host.txt
echo x > /ro/host.txt 2>/dev/null && echo ro-WRITABLE || echo ro-refused
touch /ro/other 2>/dev/null && echo ro-CREATED || echo ro-create-refused
rm /ro/host.txt 2>/dev/null && echo ro-REMOVED || echo ro-rm-refused
# Masked paths: a masked file reads empty, a masked directory lists empty.
[ "$(cat /etc/secret | wc -c)" = 0 ] && echo masked-file-empty
[ "$(ls -A /etc/secretdir | wc -l)" = 0 ] && echo masked-dir-empty
cat /etc/secretdir/key 2>/dev/null || echo masked-dir-hides
# Read-only paths: readable, not writable.
cat /etc/rodir/f
echo y > /etc/rodir/f 2>/dev/null && echo rodir-WRITABLE || echo rodir-refused
touch /etc/rodir/new 2>/dev/null && echo rodir-CREATED || echo rodir-create-refused
echo done
"#;

const EXPECTED: &[&str] = &[
    "small-enospc",
    "small-bounded",
    "small-rm",
    "host file",
    "vol-write",
    "vol-mkdir",
    "read-only host file",
    "ro-refused",
    "ro-create-refused",
    "ro-rm-refused",
    "masked-file-empty",
    "masked-dir-empty",
    "masked-dir-hides",
    "rodir content",
    "rodir-refused",
    "rodir-create-refused",
    "done",
];

/// A bundle with a tmpfs at /small (1 MiB), /vol bound read-write and /ro
/// bound read-only to fresh host directories, and masked and read-only paths
/// in the rootfs's /etc.
struct Setup {
    bundle: Bundle,
    vol: TempDir,
    ro: TempDir,
}

fn setup(tag: &str) -> Setup {
    let bundle = Bundle::sh(tag, SCRIPT);
    let vol = TempDir::new(&format!("{tag}-vol"));
    let ro = TempDir::new(&format!("{tag}-ro"));
    fs::write(vol.path().join("host.txt"), "host file\n").expect("write vol/host.txt");
    fs::write(ro.path().join("host.txt"), "read-only host file\n").expect("write ro/host.txt");

    let rootfs = bundle.rootfs();
    for d in ["small", "vol", "ro", "etc/secretdir", "etc/rodir"] {
        fs::create_dir_all(rootfs.join(d)).expect("mkdir in rootfs");
    }
    fs::write(rootfs.join("etc/secret"), "top secret\n").expect("write etc/secret");
    fs::write(rootfs.join("etc/secretdir/key"), "key\n").expect("write etc/secretdir/key");
    fs::write(rootfs.join("etc/rodir/f"), "rodir content\n").expect("write etc/rodir/f");

    let mut spec = bundle.spec();
    let mounts = spec["mounts"].as_array_mut().expect("mounts array");
    mounts.push(serde_json::json!({
        "destination": "/small", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "nodev", "mode=1777", "size=1m"]
    }));
    mounts.push(serde_json::json!({
        "destination": "/vol", "type": "bind", "source": vol.path(),
        "options": ["rbind", "rw"]
    }));
    mounts.push(serde_json::json!({
        "destination": "/ro", "type": "bind", "source": ro.path(),
        "options": ["rbind", "ro"]
    }));
    let linux = &mut spec["linux"];
    linux["maskedPaths"]
        .as_array_mut()
        .expect("maskedPaths")
        .extend([
            serde_json::json!("/etc/secret"),
            serde_json::json!("/etc/secretdir"),
        ]);
    linux["readonlyPaths"]
        .as_array_mut()
        .expect("readonlyPaths")
        .push(serde_json::json!("/etc/rodir"));
    bundle.write_spec(&spec);
    Setup { bundle, vol, ro }
}

/// Every path under `dir` with the content of every file, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<PathBuf> = fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            let rel = p.strip_prefix(base).unwrap_or(&p).display().to_string();
            if p.is_dir() {
                out.push(format!("{rel}/"));
                walk(&p, base, out);
            } else {
                let text = fs::read_to_string(&p).unwrap_or_default();
                out.push(format!("{rel}: {}", text.trim_end()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
}

#[track_caller]
fn check(rt: &Runtime, tag: &str) {
    let s = setup(tag);
    let out: Output = rt.run(&s.bundle);
    assert_eq!(out.code(), Some(0), "{}:\n{out}", rt.name);
    assert_eq!(
        out.stdout_lines(),
        EXPECTED,
        "{}: unexpected output:\n{out}",
        rt.name
    );
    // The writes through the read-write volume reached the host; the
    // read-only one and the masked and read-only paths are unchanged.
    assert_eq!(
        tree(s.vol.path()),
        [
            "host.txt: host file",
            "new.txt: from-container",
            "sub/",
            "sub/f: nested"
        ],
        "{}: the host's view of the read-write volume",
        rt.name
    );
    assert_eq!(
        tree(s.ro.path()),
        ["host.txt: read-only host file"],
        "{}",
        rt.name
    );
    let rootfs = s.bundle.rootfs();
    assert_eq!(
        fs::read_to_string(rootfs.join("etc/secret"))
            .ok()
            .as_deref(),
        Some("top secret\n")
    );
    assert_eq!(
        tree(&rootfs.join("etc/rodir")),
        ["f: rodir content"],
        "{}",
        rt.name
    );
    assert_clean(rt.root(), &s.bundle.id, s.bundle.path());
}

#[test]
fn runc_control_sees_the_spec_mounts() {
    check(&Runtime::runc(), "mounts-runc");
}

#[test]
fn sandbox_sees_the_spec_mounts() {
    check(&Runtime::sandbox(), "mounts-sandbox");
}

#[test]
fn sandbox_ptrace_sees_the_spec_mounts() {
    let mut rt = Runtime::sandbox();
    rt.set_platform("ptrace");
    check(&rt, "mounts-ptrace");
}

#[test]
fn sandbox_microvm_sees_the_spec_mounts() {
    if let Some(rt) = Runtime::sandbox_vm() {
        check(&rt, "mounts-vm");
    }
}
