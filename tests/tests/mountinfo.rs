//! Issue 16: /proc/self/mountinfo and /proc/mounts list the mounts as
//! runc's container shows them — in mount order, with each mount's source,
//! type, per-mount flags, super block options and, for bind mounts, the
//! directory within the source's host file system.
//!
//! The control is runc, run first on the same bundle (the tests' Docker-like
//! spec plus a tmpfs with size and mode and two bind mounts). The lines must
//! be the same field by field, except mount ids and device numbers (a
//! mount's parent is compared as its parent's mount point). The root's line
//! is compared too: the sandbox shows its root as runc's bind of the rootfs
//! shows (the rootfs's directory within its host file system, with that
//! file system's type, source and options).
//!
//! The masked and read-only paths appear only where the path exists: runc
//! looks at the host's /proc and /sys, the sandbox at its own. Their lines
//! are compared for the paths that exist in both.

use std::fs;

use sandbox_tests::{assert_clean, Bundle, Runtime, TempDir};

const SCRIPT: &str = r#"
cat /proc/self/mountinfo
echo ===
cat /proc/mounts
echo ===
for p in $PATHS; do [ -e "$p" ] && echo "$p"; done
exit 0
"#;

/// What one runtime printed: mountinfo without ids and device numbers,
/// /proc/mounts, and which of the masked or read-only paths exist.
#[derive(Debug)]
struct View {
    mountinfo: Vec<String>,
    mounts: Vec<String>,
    /// The spec's masked and read-only paths.
    guarded: Vec<String>,
    /// Those that exist in the container.
    present: Vec<String>,
}

/// A mountinfo line without its id and device number, its parent's id
/// replaced by the parent's mount point ("-" for a parent outside).
fn normalize(lines: &[&str]) -> Vec<String> {
    let fields: Vec<Vec<&str>> = lines.iter().map(|l| l.split(' ').collect()).collect();
    let point_of = |id: &str| {
        fields
            .iter()
            .find(|f| f.first() == Some(&id))
            .and_then(|f| f.get(4).copied())
            .unwrap_or("-")
    };
    fields
        .iter()
        .map(|f| {
            assert!(f.len() >= 10, "short mountinfo line: {f:?}");
            let parent = point_of(f[1]);
            format!("parent={parent} {}", f[3..].join(" "))
        })
        .collect()
}

/// The bundle (with the host directory it binds) both runtimes run.
struct Setup {
    bundle: Bundle,
    _vol: TempDir,
    guarded: Vec<String>,
}

fn setup(tag: &str) -> Setup {
    let bundle = Bundle::sh(tag, SCRIPT);
    let vol = TempDir::new(&format!("{tag}-vol"));
    fs::write(vol.path().join("f"), "host file\n").expect("write vol/f");
    let rootfs = bundle.rootfs();
    for d in ["small", "vol", "ro"] {
        fs::create_dir_all(rootfs.join(d)).expect("mkdir in rootfs");
    }
    fs::write(rootfs.join("etc/f"), "").expect("write etc/f");
    let mut spec = bundle.spec();
    let mounts = spec["mounts"].as_array_mut().expect("mounts array");
    mounts.extend([
        serde_json::json!({
            "destination": "/small", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "nodev", "mode=750", "size=1m"]
        }),
        serde_json::json!({
            "destination": "/vol", "type": "bind", "source": vol.path(),
            "options": ["rbind", "rw"]
        }),
        serde_json::json!({
            "destination": "/ro", "type": "bind", "source": vol.path(),
            "options": ["rbind", "ro", "nosuid", "noexec"]
        }),
        serde_json::json!({
            "destination": "/etc/f", "type": "bind", "source": vol.path().join("f"),
            "options": ["rbind", "ro"]
        }),
    ]);
    let linux = &spec["linux"];
    let mut paths: Vec<String> = ["maskedPaths", "readonlyPaths"]
        .iter()
        .flat_map(|k| linux[k].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p.as_str().map(String::from))
        .collect();
    paths.sort();
    spec["process"]["env"]
        .as_array_mut()
        .expect("env")
        .push(serde_json::json!(format!("PATHS={}", paths.join(" "))));
    bundle.write_spec(&spec);
    Setup {
        bundle,
        _vol: vol,
        guarded: paths,
    }
}

fn view(rt: &Runtime, s: &Setup) -> View {
    let bundle = &s.bundle;
    let out = rt.run(bundle);
    assert_eq!(out.code(), Some(0), "{}:\n{out}", rt.name);
    let lines = out.stdout_lines();
    let parts: Vec<&[&str]> = lines.split(|l| *l == "===").collect();
    assert_eq!(parts.len(), 3, "{}: unexpected output:\n{out}", rt.name);
    assert_clean(rt.root(), &bundle.id, bundle.path());
    View {
        mountinfo: normalize(parts[0]),
        mounts: parts[1].iter().map(|l| l.to_string()).collect(),
        present: parts[2].iter().map(|l| l.to_string()).collect(),
        guarded: s.guarded.clone(),
    }
}

impl View {
    /// The lines of both tables, without those at a masked or read-only
    /// path that one of `self` and `other` does not have.
    fn common(&self, other: &View) -> (Vec<String>, Vec<String>) {
        let keep = |point: &str| {
            !self.guarded.iter().any(|p| p == point)
                || (self.present.iter().any(|p| p == point)
                    && other.present.iter().any(|p| p == point))
        };
        let mountinfo = self
            .mountinfo
            .iter()
            .filter(|l| keep(l.split(' ').nth(2).unwrap_or("")))
            .cloned()
            .collect();
        let mounts = self
            .mounts
            .iter()
            .filter(|l| keep(l.split(' ').nth(1).unwrap_or("")))
            .cloned()
            .collect();
        (mountinfo, mounts)
    }
}

/// The mount points a spec mount of the bundle puts first, in order.
const SPEC_POINTS: &[&str] = &[
    "/",
    "/proc",
    "/dev",
    "/dev/pts",
    "/dev/shm",
    "/dev/mqueue",
    "/sys",
    "/small",
    "/vol",
    "/ro",
    "/etc/f",
];

#[track_caller]
fn check(rt: &Runtime, tag: &str) {
    let s = setup(tag);
    let control = view(&Runtime::runc(), &s);
    let points: Vec<&str> = control
        .mounts
        .iter()
        .take(SPEC_POINTS.len())
        .filter_map(|l| l.split(' ').nth(1))
        .collect();
    assert_eq!(points, SPEC_POINTS, "runc's /proc/mounts:\n{control:#?}");
    let got = view(rt, &s);
    let (want_info, want_mounts) = control.common(&got);
    let (got_info, got_mounts) = got.common(&control);
    // /proc/sys, read-only, exists in both: its line is compared.
    assert!(
        want_info.iter().any(|l| l.contains(" /sys /proc/sys ")),
        "runc's mountinfo:\n{want_info:#?}"
    );
    for (w, g) in want_info.iter().zip(&got_info) {
        assert_eq!(g, w, "{}: mountinfo line (runc first)", rt.name);
    }
    assert_eq!(got_info, want_info, "{}: mountinfo", rt.name);
    for (w, g) in want_mounts.iter().zip(&got_mounts) {
        assert_eq!(g, w, "{}: /proc/mounts line (runc first)", rt.name);
    }
    assert_eq!(got_mounts, want_mounts, "{}: /proc/mounts", rt.name);
}

#[test]
fn sandbox_mountinfo_is_runcs() {
    check(&Runtime::sandbox(), "mountinfo-sandbox");
}

#[test]
fn sandbox_ptrace_mountinfo_is_runcs() {
    let mut rt = Runtime::sandbox();
    rt.set_platform("ptrace");
    check(&rt, "mountinfo-ptrace");
}

#[test]
fn sandbox_microvm_mountinfo_is_runcs() {
    if let Some(rt) = Runtime::sandbox_vm() {
        check(&rt, "mountinfo-vm");
    }
}
