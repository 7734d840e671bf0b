//! The `sandbox` binary's error paths and bundle-independent commands,
//! run as a user would run them. Tests that need root (namespaces,
//! cgroups) return early without it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn sandbox(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .expect("run the sandbox binary")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sandbox-it-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn unknown_containers_do_not_exist() {
    let root = scratch("unknown");
    for args in [
        &["delete", "nosuch"][..],
        &["kill", "nosuch", "9"],
        &["state", "nosuch"],
        &["start", "nosuch"],
    ] {
        let o = sandbox(&root, args);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(
            stderr(&o).contains("container nosuch does not exist"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn json_log_gets_the_error_line() {
    let root = scratch("log");
    let log = root.join("log.json");
    let o = sandbox(
        &root,
        &[
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
            "delete",
            "--force",
            "gone",
        ],
    );
    assert!(!o.status.success());
    let text = fs::read_to_string(&log).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    assert_eq!(last["msg"], "container gone does not exist");
    assert!(last["time"].as_str().unwrap().ends_with('Z'));
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn spec_then_features() {
    let dir = scratch("spec");
    let o = sandbox(&dir, &["spec", "--bundle", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cfg: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["process"]["args"][0], "sh");
    assert_eq!(cfg["process"]["terminal"], true);
    // A second spec refuses to overwrite.
    assert!(!sandbox(&dir, &["spec", "--bundle", dir.to_str().unwrap()])
        .status
        .success());
    let o = sandbox(&dir, &["features"]);
    assert!(o.status.success());
    let f: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(f["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h == "prestart"));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unsupported_options_say_so() {
    let root = scratch("unsupported");
    let o = sandbox(&root, &["--systemd-cgroup", "list"]);
    assert!(stderr(&o).contains("systemd cgroup management is not supported"));
    let bundle = root.join("b");
    fs::create_dir_all(bundle.join("rootfs")).unwrap();
    assert!(
        sandbox(&root, &["spec", "--bundle", bundle.to_str().unwrap()])
            .status
            .success()
    );
    let o = sandbox(
        &root,
        &[
            "--platform",
            "sysemu",
            "create",
            "--bundle",
            bundle.to_str().unwrap(),
            "c",
        ],
    );
    assert!(
        stderr(&o).contains("unknown platform") && stderr(&o).contains("sysemu"),
        "{}",
        stderr(&o)
    );
    // terminal: true without a console socket.
    let o = sandbox(
        &root,
        &["create", "--bundle", bundle.to_str().unwrap(), "c"],
    );
    assert!(stderr(&o).contains("--console-socket"), "{}", stderr(&o));
    assert!(!root.join("c").exists());
    let o = sandbox(
        &root,
        &["create", "--bundle", bundle.to_str().unwrap(), "../c"],
    );
    assert!(stderr(&o).contains("invalid container id"));
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn malformed_config_leaves_no_state() {
    let root = scratch("malformed");
    let bundle = root.join("b");
    fs::create_dir_all(bundle.join("rootfs")).unwrap();
    fs::write(
        bundle.join("config.json"),
        "{\"ociVersion\": \"1.0.2\", \"root\": ",
    )
    .unwrap();
    let o = sandbox(
        &root,
        &["create", "--bundle", bundle.to_str().unwrap(), "m1"],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("is not a valid OCI runtime config"),
        "{}",
        stderr(&o)
    );
    assert!(!root.join("m1").exists());
    fs::remove_dir_all(&root).unwrap();
}

/// A create whose sandbox cannot start (here: an empty root filesystem,
/// so there is no `sh`) fails with the Sentry's reason and leaves no state
/// directory, cgroup or process behind.
#[test]
fn failed_create_cleans_up() {
    if !nix_is_root() {
        return;
    }
    let root = scratch("failed");
    let bundle = root.join("b");
    fs::create_dir_all(bundle.join("rootfs")).unwrap();
    assert!(
        sandbox(&root, &["spec", "--bundle", bundle.to_str().unwrap()])
            .status
            .success()
    );
    let cfg_path = bundle.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&cfg_path).unwrap()).unwrap();
    let id = format!("failed{}", std::process::id());
    cfg["process"]["terminal"] = false.into();
    cfg["linux"]["cgroupsPath"] = format!("/sandbox-it/{id}").into();
    cfg["linux"]["resources"]["pids"] = serde_json::json!({"limit": 64});
    let marker = root.join("prestart-ran");
    cfg["hooks"] = serde_json::json!({"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}", marker.display())]}]});
    fs::write(&cfg_path, cfg.to_string()).unwrap();

    let o = sandbox(
        &root,
        &["create", "--bundle", bundle.to_str().unwrap(), &id],
    );
    assert!(!o.status.success());
    assert!(!stderr(&o).trim().is_empty());
    assert!(!root.join(&id).exists(), "state directory left behind");
    let state: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&marker).unwrap()).unwrap();
    assert_eq!(state["status"], "creating");
    let pid = state["pid"].as_i64().unwrap();
    assert!(
        fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.contains(") Z")),
        "init process {pid} left running"
    );
    for h in fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let leaf = h.path().join("sandbox-it").join(&id);
        assert!(!leaf.exists(), "cgroup {} left behind", leaf.display());
        let _ = fs::remove_dir(h.path().join("sandbox-it"));
    }
    fs::remove_dir_all(&root).unwrap();
}

fn nix_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
