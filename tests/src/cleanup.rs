//! The check that a container left nothing behind: no state, cgroups,
//! mounts or processes.

use std::fs;
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How long leftovers may take to disappear after the runtime returned
/// (a killed process may still be on its way out).
const GRACE: Duration = Duration::from_secs(3);

/// Everything of container `id` (bundle `bundle`, runtime state dir `root`)
/// still present on the host, one description per item.
pub fn leftovers(root: &Path, id: &str, bundle: &Path) -> Vec<String> {
    let mut found = Vec::new();
    state_leftovers(root, id, &mut found);
    cgroup_leftovers(Path::new("/sys/fs/cgroup"), id, &mut found);
    mount_leftovers(id, bundle, &mut found);
    process_leftovers(id, bundle, &mut found);
    found
}

/// Asserts that [`leftovers`] becomes empty within a short grace period.
#[track_caller]
pub fn assert_clean(root: &Path, id: &str, bundle: &Path) {
    let start = Instant::now();
    loop {
        let found = leftovers(root, id, bundle);
        if found.is_empty() {
            return;
        }
        if start.elapsed() > GRACE {
            panic!(
                "container {id} left things behind:\n  {}",
                found.join("\n  ")
            );
        }
        sleep(Duration::from_millis(100));
    }
}

fn state_leftovers(root: &Path, id: &str, found: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(root) else {
        return; // no state dir at all
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().contains(id) {
            found.push(format!("state: {}", e.path().display()));
        }
    }
}

/// Walks every cgroup hierarchy under /sys/fs/cgroup (v1 controllers, the
/// unified v2 mount, or a pure v2 tree) for a directory named after `id`.
fn cgroup_leftovers(dir: &Path, id: &str, found: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        // file_type() does not follow symlinks (cpu,cpuacct -> cpu).
        if !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        let path = e.path();
        if e.file_name().to_string_lossy().contains(id) {
            found.push(format!("cgroup: {}", path.display()));
        }
        cgroup_leftovers(&path, id, found);
    }
}

fn mount_leftovers(id: &str, bundle: &Path, found: &mut Vec<String>) {
    let bundle = bundle.to_string_lossy();
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for line in mountinfo.lines() {
        if line.contains(id) || line.contains(bundle.as_ref()) {
            found.push(format!("mount: {line}"));
        }
    }
}

fn process_leftovers(id: &str, bundle: &Path, found: &mut Vec<String>) {
    let bundle = bundle.to_string_lossy();
    let me = std::process::id().to_string();
    let Ok(entries) = fs::read_dir("/proc") else {
        return;
    };
    for e in entries.flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == me {
            continue;
        }
        let dir = e.path();
        let cmdline = fs::read(dir.join("cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        let link = |name: &str| {
            fs::read_link(dir.join(name))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let (cwd, root, exe) = (link("cwd"), link("root"), link("exe"));
        let mentions = |s: &str| s.contains(id) || s.contains(bundle.as_ref());
        if mentions(&cmdline) || mentions(&cwd) || mentions(&root) || mentions(&exe) {
            found.push(format!(
                "process {pid}: cmdline={cmdline:?} cwd={cwd:?} root={root:?} exe={exe:?}"
            ));
        }
    }
}
