//! Issue 3: the root's memory overlay. With `--overlay memory` (or the
//! `dev.sandbox.overlay=memory` annotation) the workload changes its root
//! freely — writes, deletes, renames, new directories — and sees its
//! changes, while the bundle's rootfs on the host stays exactly as it was.
//!
//! Controls: the script prints the same thing natively (a chroot of a copy
//! of the same rootfs); and without the overlay the same script does
//! change the host rootfs, so an unchanged rootfs means the overlay kept
//! the writes.

use std::fs;
use std::path::Path;

use sandbox_tests::{assert_clean, native_in_chroot, Bundle, Output, Runtime};

const SCRIPT: &str = "cat /data/keep.txt; echo upper > /data/keep.txt; cat /data/keep.txt; \
    rm /data/gone.txt; echo new > /data/new.txt; mv /data/new.txt /data/moved.txt; \
    mkdir /data/sub; echo deep > /data/sub/f; rm -r /data/dir; ls /data; cat /data/moved.txt; \
    cat /data/sub/f; ls /data/dir 2>/dev/null || echo dir-gone; \
    mkdir /data/dir; ls /data/dir | wc -l; ln -s keep.txt /data/link; cat /data/link";

const EXPECTED: &[&str] = &[
    "lower",
    "upper",
    "keep.txt",
    "moved.txt",
    "sub",
    "new",
    "deep",
    "dir-gone",
    "0",
    "upper",
];

/// A busybox bundle with a small tree under /data to change.
fn bundle(tag: &str) -> Bundle {
    let b = Bundle::sh(tag, SCRIPT);
    let data = b.rootfs().join("data");
    fs::create_dir_all(data.join("dir")).expect("mkdir data/dir");
    fs::write(data.join("keep.txt"), "lower\n").expect("write keep.txt");
    fs::write(data.join("gone.txt"), "gone\n").expect("write gone.txt");
    fs::write(data.join("dir/x"), "x\n").expect("write dir/x");
    b
}

/// The host's view of /data: every path and the content of every file.
fn host_tree(rootfs: &Path) -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok())
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
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
    walk(&rootfs.join("data"), rootfs, &mut out);
    out
}

const PRISTINE: &[&str] = &[
    "data/dir/",
    "data/dir/x: x",
    "data/gone.txt: gone",
    "data/keep.txt: lower",
];

#[track_caller]
fn assert_expected(out: &Output) {
    assert_eq!(out.code(), Some(0), "\n{out}");
    assert_eq!(out.stdout_lines(), EXPECTED, "unexpected output:\n{out}");
}

#[test]
fn native_control_prints_the_expected_output() {
    let b = bundle("overlay-native");
    assert_eq!(host_tree(&b.rootfs()), PRISTINE);
    assert_expected(&native_in_chroot(&b, SCRIPT));
}

#[test]
fn without_the_overlay_the_rootfs_changes() {
    let rt = Runtime::sandbox();
    let b = bundle("overlay-off");
    assert_expected(&rt.run(&b));
    assert_ne!(
        host_tree(&b.rootfs()),
        PRISTINE,
        "the control changed nothing"
    );
    assert_clean(rt.root(), &b.id, b.path());
}

#[test]
fn memory_overlay_flag_keeps_the_rootfs_untouched() {
    let rt = Runtime::sandbox();
    let b = bundle("overlay-flag");
    let path = b.path().to_string_lossy().into_owned();
    let out = rt.exec(&["--overlay", "memory", "run", "--bundle", &path, &b.id]);
    assert_expected(&out);
    assert_eq!(host_tree(&b.rootfs()), PRISTINE);
    assert_clean(rt.root(), &b.id, b.path());
}

#[test]
fn memory_overlay_annotation_keeps_the_rootfs_untouched() {
    let rt = Runtime::sandbox();
    let b = bundle("overlay-annotation");
    let mut spec = b.spec();
    spec["annotations"] = serde_json::json!({ "dev.sandbox.overlay": "memory" });
    b.write_spec(&spec);
    assert_expected(&rt.run(&b));
    assert_eq!(host_tree(&b.rootfs()), PRISTINE);
    assert_clean(rt.root(), &b.id, b.path());
}

#[test]
fn an_unknown_overlay_is_refused_with_nothing_left_behind() {
    let rt = Runtime::sandbox();
    let b = bundle("overlay-bad");
    let path = b.path().to_string_lossy().into_owned();
    let out = rt.exec(&["--overlay", "disk", "run", "--bundle", &path, &b.id]);
    assert_ne!(out.code(), Some(0), "\n{out}");
    assert!(
        out.stderr.contains("unknown root overlay"),
        "no clear error:\n{out}"
    );
    assert_eq!(host_tree(&b.rootfs()), PRISTINE);
    assert_clean(rt.root(), &b.id, b.path());
}

/// Unmounts a bind mount when dropped (also when the test fails).
struct BindMount(std::path::PathBuf);

impl Drop for BindMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_rootfs_on_a_read_only_mount_gets_the_memory_overlay() {
    let rt = Runtime::sandbox();
    let b = bundle("overlay-ro-host");
    let root = b.rootfs();
    let mount = |args: &[&str]| {
        let st = std::process::Command::new("mount")
            .args(args)
            .arg(&root)
            .arg(&root)
            .status()
            .expect("run mount");
        assert!(st.success(), "mount {args:?} failed");
    };
    mount(&["--bind"]);
    let guard = BindMount(root.clone());
    mount(&["-o", "remount,bind,ro"]);
    // The control: the host itself refuses writes there.
    assert!(fs::write(root.join("data/probe"), "x").is_err());
    assert_expected(&rt.run(&b));
    assert_eq!(host_tree(&root), PRISTINE);
    drop(guard);
    assert_clean(rt.root(), &b.id, b.path());
}
