//! Issue 3: the spec's `process.capabilities` are the workload's
//! capabilities, the same under sandbox as under runc (the control):
//! /proc/self/status shows the sets as Linux computes them at the first
//! exec (root regains its bounding set; a non-root user keeps only the
//! ambient set), and CAP_CHOWN, dropped or kept, decides whether chown to
//! another owner works. The C conformance suite (identity.c) checks
//! capget/capset, prctl and the uid-change rules in detail.

use sandbox_tests::{assert_clean, Bundle, Runtime};
use serde_json::{json, Value};

const SCRIPT: &str = "grep Cap /proc/self/status; \
    chown 1:1 /etc/group; echo chown=$?; \
    id -u";

/// Docker's default capability set.
const DOCKER: &[&str] = &sandbox_tests::bundle::CAPS;

fn without(names: &[&str], drop: &str) -> Vec<String> {
    names
        .iter()
        .filter(|n| **n != drop)
        .map(|n| n.to_string())
        .collect()
}

/// The cases: (tag, uid, process.capabilities or null).
fn cases() -> Vec<(&'static str, u32, Value)> {
    let docker = without(DOCKER, "");
    let no_chown = without(DOCKER, "CAP_CHOWN");
    vec![
        (
            "docker-without-chown",
            0,
            json!({ "bounding": no_chown, "effective": no_chown, "permitted": no_chown }),
        ),
        // Root's permitted and effective sets come back from the bounding
        // set at exec.
        (
            "root-regains-bounding",
            0,
            json!({ "bounding": docker, "effective": no_chown, "permitted": no_chown }),
        ),
        // A non-root user keeps only what is ambient.
        (
            "user-ambient-chown",
            1000,
            json!({ "bounding": docker, "effective": docker, "permitted": docker,
                    "inheritable": ["CAP_CHOWN"], "ambient": ["CAP_CHOWN"] }),
        ),
        (
            "user-no-ambient",
            1000,
            json!({ "bounding": docker, "effective": docker, "permitted": docker }),
        ),
        ("no-capabilities", 0, Value::Null),
    ]
}

fn run(rt: &Runtime, tag: &str, uid: u32, caps: &Value) -> Vec<String> {
    let b = Bundle::sh(tag, SCRIPT);
    let mut spec = b.spec();
    spec["process"]["user"] = json!({ "uid": uid, "gid": uid });
    match caps {
        Value::Null => {
            spec["process"]
                .as_object_mut()
                .expect("process is an object")
                .remove("capabilities");
        }
        c => spec["process"]["capabilities"] = c.clone(),
    }
    b.write_spec(&spec);
    let out = rt.run(&b);
    assert_eq!(out.code(), Some(0), "{tag}\n{out}");
    assert_clean(rt.root(), &b.id, b.path());
    out.stdout_lines().iter().map(|s| s.to_string()).collect()
}

#[test]
fn spec_capabilities_as_under_runc() {
    let mut disagree = Vec::new();
    for (tag, uid, caps) in cases() {
        let control = run(&Runtime::runc(), tag, uid, &caps);
        eprintln!("runc {tag}: {control:?}");
        assert!(
            control.iter().any(|l| l.starts_with("CapEff:")),
            "runc {tag}: no capability lines: {control:?}"
        );
        let sandbox = run(&Runtime::sandbox(), tag, uid, &caps);
        if sandbox != control {
            disagree.push(format!(
                "{tag}:\n  runc    {control:?}\n  sandbox {sandbox:?}"
            ));
        }
    }
    assert!(
        disagree.is_empty(),
        "sandbox and runc disagree:\n{}",
        disagree.join("\n")
    );
}

/// `process.noNewPrivileges` as /proc/self/status and a child show it:
/// 0 without it (Docker's default) and 1 with it, inherited; under runc
/// first (the control).
#[test]
fn no_new_privileges_as_under_runc() {
    for nnp in [false, true] {
        let lines = |rt: &Runtime| {
            let b = Bundle::sh(
                "nnp",
                "grep NoNewPrivs /proc/self/status; sh -c 'grep NoNewPrivs /proc/self/status'",
            );
            let mut spec = b.spec();
            spec["process"]["noNewPrivileges"] = json!(nnp);
            b.write_spec(&spec);
            let out = rt.run(&b);
            assert_eq!(out.code(), Some(0), "{out}");
            assert_clean(rt.root(), &b.id, b.path());
            out.stdout
        };
        let control = lines(&Runtime::runc());
        let want = format!("NoNewPrivs:\t{}\n", u8::from(nnp));
        assert_eq!(control, want.repeat(2), "runc, noNewPrivileges {nnp}");
        assert_eq!(lines(&Runtime::sandbox()), control, "noNewPrivileges {nnp}");
    }
}

/// `process.oomScoreAdj` shows in /proc/self/oom_score_adj and is
/// inherited; anyone may raise it or lower it back to its floor (0 here:
/// the runtime's write does not set the floor, as runc's does not), going
/// below needs CAP_SYS_RESOURCE, which Docker's default set lacks. runc
/// first (the control).
#[test]
fn oom_score_adj_as_under_runc() {
    let script = "cat /proc/self/oom_score_adj; \
        echo 600 > /proc/self/oom_score_adj; sh -c 'cat /proc/self/oom_score_adj'; \
        echo 100 > /proc/self/oom_score_adj; cat /proc/self/oom_score_adj; \
        (echo -100 > /proc/self/oom_score_adj) 2>/dev/null || echo lowering refused; \
        (echo 1001 > /proc/self/oom_score_adj) 2>/dev/null || echo out of range refused";
    let lines = |rt: &Runtime| {
        let b = Bundle::sh("oom", script);
        let mut spec = b.spec();
        spec["process"]["oomScoreAdj"] = json!(500);
        b.write_spec(&spec);
        let out = rt.run(&b);
        assert_eq!(out.code(), Some(0), "{out}");
        assert_clean(rt.root(), &b.id, b.path());
        out.stdout
    };
    let control = lines(&Runtime::runc());
    assert_eq!(
        control, "500\n600\n100\nlowering refused\nout of range refused\n",
        "runc"
    );
    assert_eq!(lines(&Runtime::sandbox()), control);
}
