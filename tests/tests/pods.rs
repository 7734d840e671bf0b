//! Issue 14: pods. A second container joins the first one's sandbox, as
//! containerd's runc shim and Docker drive it: two bundles, the second
//! naming the first's network namespace by path (`docker run
//! --network=container:a`, podman pods) or carrying containerd's CRI
//! annotations (with the namespace paths containerd writes too). runc is
//! the control, then every platform of the sandbox.
//!
//! This test process plays the shim: a child subreaper that reaps each
//! container's pid-file process and reads its exit status.

use std::fs;
use std::path::Path;
use std::time::Duration;

use nix::sys::wait::WaitStatus;
use sandbox_tests::reaper::{become_subreaper, is_alive, parent_of, reap};
use sandbox_tests::{assert_clean, wait_until, Bundle, DeleteOnPanic, Output, Runtime, TempDir};
use serde_json::{json, Value};

/// The first container: busybox httpd on loopback only, serving a page
/// from its own root.
const SERVER: &str = "exec httpd -f -p 127.0.0.1:8080 -h /www";
const PAGE: &str = "page-from-the-first-container";
const FETCH: &str = "wget -qO- http://127.0.0.1:8080/index.html";

/// How the second container is told to join the first.
#[derive(Clone, Copy, Debug)]
enum Join {
    /// The spec's network namespace path is the first's (Docker, podman).
    NetnsPath,
    /// containerd's CRI annotations, plus the namespace paths of the pause
    /// container as containerd writes them.
    Cri,
}

/// A shell-style status from a reaped process: the code, or 128 + signal
/// (what containerd's shim reports for each).
fn shell_status(w: Option<WaitStatus>) -> Option<i32> {
    match w? {
        WaitStatus::Exited(_, c) => Some(c),
        WaitStatus::Signaled(_, s, _) => Some(128 + s as i32),
        _ => None,
    }
}

#[track_caller]
fn state(rt: &Runtime, id: &str) -> Value {
    let out = rt.exec(&["state", id]);
    out.assert_success();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("bad state JSON ({e}):\n{out}"))
}

/// `create --pid-file` then the pid it names; stdio in `out`.
#[track_caller]
fn create(rt: &Runtime, bundle: &Bundle, out: &Path) -> i32 {
    let b = bundle.path().to_string_lossy().into_owned();
    let pid_file = bundle.path().join("init.pid");
    let pf = pid_file.to_string_lossy().into_owned();
    rt.exec_in(
        &["create", "--bundle", &b, "--pid-file", &pf, &bundle.id],
        out,
    )
    .assert_success();
    let text = fs::read_to_string(&pid_file).expect("the pid file exists when create returns");
    let pid: i32 = text.trim().parse().expect("the pid file holds a pid");
    assert_eq!(
        parent_of(pid),
        Some(std::process::id() as i32),
        "{}: the pid-file process must descend from the runtime",
        rt.name
    );
    pid
}

fn server_bundle(join: Join) -> Bundle {
    let a = Bundle::sh("pod-a", SERVER);
    fs::create_dir_all(a.rootfs().join("www")).unwrap();
    fs::write(a.rootfs().join("www/index.html"), format!("{PAGE}\n")).unwrap();
    fs::write(a.rootfs().join("only-in-a"), "a\n").unwrap();
    if let Join::Cri = join {
        let mut spec = a.spec();
        spec["annotations"] = json!({
            "io.kubernetes.cri.container-type": "sandbox",
            "io.kubernetes.cri.sandbox-id": a.id,
        });
        a.write_spec(&spec);
    }
    a
}

/// A second container's bundle, pointed at the first (whose host pid is
/// `a_pid`) the way `join` says.
fn member_bundle(tag: &str, script: &str, a: &Bundle, a_pid: i32, join: Join) -> Bundle {
    let b = Bundle::sh(tag, script);
    fs::write(b.rootfs().join("only-in-b"), "b\n").unwrap();
    let mut spec = b.spec();
    let nss = spec["linux"]["namespaces"].as_array_mut().unwrap();
    let shared: &[&str] = match join {
        Join::NetnsPath => &["network"],
        Join::Cri => &["network", "ipc", "uts"],
    };
    nss.retain(|n| !shared.contains(&n["type"].as_str().unwrap_or("")));
    for kind in shared {
        let ns = if *kind == "network" { "net" } else { kind };
        nss.push(json!({ "type": kind, "path": format!("/proc/{a_pid}/ns/{ns}") }));
    }
    if let Join::Cri = join {
        spec["annotations"] = json!({
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.sandbox-id": a.id,
            "io.kubernetes.cri.container-name": tag,
        });
    }
    b.write_spec(&spec);
    b
}

/// Puts tests/programs/sysvq.c, built once, into a bundle's /bin.
fn install_sysvq(b: &Bundle) {
    static BUILT: std::sync::OnceLock<TempDir> = std::sync::OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let dir = TempDir::new("sysvq");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("programs/sysvq.c");
        sandbox_tests::cprog::build_static(&src, &dir.path().join("sysvq"));
        dir
    });
    fs::copy(dir.path().join("sysvq"), b.rootfs().join("bin/sysvq")).expect("copy sysvq");
}

/// `exec` of a shell script in a container; its output.
#[track_caller]
fn exec_sh(rt: &Runtime, id: &str, script: &str) -> Output {
    rt.exec(&["exec", id, "sh", "-c", script])
}

fn check_pod(rt: &Runtime, join: Join) {
    let label = format!("{} ({join:?})", rt.name);
    let first = first_container(rt, join);
    let (a, a_pid) = (&first.bundle, first.pid);
    let fetch = FETCH;

    // A second container that fetches the first's page over loopback,
    // shows which root it has and its own user, environment, rlimits and
    // capabilities, and exits with a status of its own.
    let script = format!(
        "{fetch}; cat /only-in-b; test -e /only-in-a && echo a-visible; \
         test -e /www/index.html && echo www-visible; \
         id -u; id -g; echo $POD_MEMBER; ulimit -n; grep CapEff /proc/self/status; exit 3"
    );
    let b = member_bundle("pod-b", &script, a, a_pid, join);
    let mut spec = b.spec();
    spec["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
    spec["process"]["env"]
        .as_array_mut()
        .unwrap()
        .push(json!("POD_MEMBER=member-b"));
    spec["process"]["rlimits"] = json!([{ "type": "RLIMIT_NOFILE", "hard": 256, "soft": 256 }]);
    b.write_spec(&spec);
    let _gb = DeleteOnPanic::new(rt, &b.id);
    let b_out = TempDir::new("pod-b-out");
    let b_pid = create(rt, &b, b_out.path());
    assert_eq!(state(rt, &b.id)["status"], "created", "{label}");
    assert_eq!(
        state(rt, &b.id)["pid"],
        b_pid,
        "{label}: state pid vs pid file"
    );
    rt.exec(&["start", &b.id]).assert_success();
    let status = shell_status(reap(b_pid, Duration::from_secs(30)));
    let printed = fs::read_to_string(b_out.path().join("stdout")).unwrap_or_default();
    assert_eq!(
        printed,
        format!("{PAGE}\nb\n1000\n1000\nmember-b\n256\nCapEff:\t0000000000000000\n"),
        "{label}: the second container reaches the first on localhost, sees only its own root, \
         and runs as its own spec says"
    );
    assert_eq!(
        status,
        Some(3),
        "{label}: its pid-file process exits with its status"
    );
    assert_eq!(state(rt, &b.id)["status"], "stopped", "{label}");
    rt.exec(&["delete", &b.id]).assert_success();
    assert_clean(rt.root(), &b.id, b.path());

    // `run` of a second container: the same, in the foreground.
    let e = member_bundle("pod-e", &script, a, a_pid, join);
    let _ge = DeleteOnPanic::new(rt, &e.id);
    let out = rt.run(&e);
    assert_eq!(
        out.code(),
        Some(3),
        "{label}: run of a second container:\n{out}"
    );
    assert_eq!(
        out.stdout,
        format!("{PAGE}\nb\n0\n0\n\n1024\nCapEff:\t00000000a80425fb\n"),
        "{label}: run (as root, the default spec's rlimit and capabilities):\n{out}"
    );
    assert_clean(rt.root(), &e.id, e.path());

    // The first container lives on, and serves.
    assert!(
        is_alive(a_pid),
        "{label}: the first container died with the second"
    );
    assert!(
        exec_sh(rt, &a.id, fetch).stdout.contains(PAGE),
        "{label}: the first container stopped serving after the second ended"
    );

    // A long-running second container: exec into it, kill it alone.
    let c = member_bundle("pod-c", "echo ready; exec sleep 1000", a, a_pid, join);
    install_sysvq(&c);
    let _gc = DeleteOnPanic::new(rt, &c.id);
    let c_out = TempDir::new("pod-c-out");
    let c_pid = create(rt, &c, c_out.path());
    rt.exec(&["start", &c.id]).assert_success();
    let inside = exec_sh(rt, &c.id, &format!("cat /only-in-b; {fetch}"));
    assert_eq!(
        inside.stdout,
        format!("b\n{PAGE}\n"),
        "{label}: exec into the second container runs in its root, on the shared loopback:\n{inside}"
    );
    let in_a = exec_sh(rt, &a.id, "cat /only-in-a; test -e /only-in-b || echo no-b");
    assert_eq!(
        in_a.stdout, "a\nno-b\n",
        "{label}: exec into the first container still runs in the first's root:\n{in_a}"
    );
    // Its own pid namespace: /proc lists its processes (the init and the
    // exec'd shell, which reads it with builtins), not the first
    // container's server.
    let procs = exec_sh(
        rt,
        &c.id,
        "for p in /proc/[0-9]*; do read c < $p/comm; echo $c; done >/tmp/comms; sort /tmp/comms",
    );
    assert_eq!(
        procs.stdout, "sh\nsleep\n",
        "{label}: the processes /proc shows in the second container:\n{procs}"
    );
    // IPC: shared when the spec names the first container's namespace
    // (containerd's), the container's own otherwise (Docker's default).
    let made = rt.exec(&["exec", &a.id, "/bin/sysvq", "make", "0x5eed"]);
    assert_eq!(made.stdout, "made\n", "{label}: {made}");
    let found = rt.exec(&["exec", &c.id, "/bin/sysvq", "find", "0x5eed"]);
    let want = match join {
        Join::Cri => "found\n",
        Join::NetnsPath => "absent\n",
    };
    assert_eq!(
        found.stdout, want,
        "{label}: the first container's message queue seen from the second: {found}"
    );
    rt.exec(&["kill", &c.id, "9"]).assert_success();
    let status = shell_status(reap(c_pid, Duration::from_secs(30)));
    assert_eq!(status, Some(137), "{label}: kill 9 of the second container");
    assert!(
        is_alive(a_pid),
        "{label}: killing the second killed the first"
    );
    rt.exec(&["delete", &c.id]).assert_success();
    assert_clean(rt.root(), &c.id, c.path());
    assert!(
        exec_sh(rt, &a.id, fetch).stdout.contains(PAGE),
        "{label}: the first container stopped serving after the second was killed"
    );

    // Created, never started, deleted: its pid-file process ends (as
    // runc's init does, SIGKILLed) and nothing is left.
    let d = member_bundle("pod-d", "echo never-started", a, a_pid, join);
    let _gd = DeleteOnPanic::new(rt, &d.id);
    let d_out = TempDir::new("pod-d-out");
    let d_pid = create(rt, &d, d_out.path());
    rt.exec(&["delete", &d.id]).assert_success();
    assert_eq!(
        shell_status(reap(d_pid, Duration::from_secs(20))),
        Some(137),
        "{label}: a created container's pid-file process after delete"
    );
    assert_clean(rt.root(), &d.id, d.path());
    assert_eq!(
        fs::read_to_string(d_out.path().join("stdout")).unwrap_or_default(),
        "",
        "{label}: a container deleted before start never ran"
    );
    assert!(
        is_alive(a_pid),
        "{label}: deleting a created container killed the first"
    );

    rt.exec(&["kill", &a.id, "9"]).assert_success();
    assert_eq!(
        shell_status(reap(a_pid, Duration::from_secs(30))),
        Some(137),
        "{label}"
    );
    rt.exec(&["delete", &a.id]).assert_success();
    assert_clean(rt.root(), &a.id, a.path());
}

#[test]
fn second_container_joins_by_network_namespace_path() {
    for rt in Runtime::control_then_sandboxes() {
        check_pod(&rt, Join::NetnsPath);
    }
}

#[test]
fn second_container_joins_by_cri_annotations() {
    for rt in Runtime::control_then_sandboxes() {
        check_pod(&rt, Join::Cri);
    }
}

/// The pod's first container, serving: killed and deleted if the test
/// panics (the guard is dropped first).
struct First<'a> {
    _guard: DeleteOnPanic<'a>,
    bundle: Bundle,
    pid: i32,
    _out: TempDir,
}

/// Creates and starts the first container (as the shim would, being a
/// subreaper) and waits until it serves.
fn first_container(rt: &Runtime, join: Join) -> First<'_> {
    become_subreaper();
    let bundle = server_bundle(join);
    install_sysvq(&bundle);
    let guard = DeleteOnPanic::new(rt, &bundle.id);
    let out = TempDir::new("pod-a-out");
    let pid = start_server(rt, &bundle, out.path());
    First {
        _guard: guard,
        bundle,
        pid,
        _out: out,
    }
}

/// Starts the server container and waits until it serves; its pid.
fn start_server(rt: &Runtime, a: &Bundle, out: &Path) -> i32 {
    let pid = create(rt, a, out);
    rt.exec(&["start", &a.id]).assert_success();
    assert!(
        wait_until(
            || exec_sh(rt, &a.id, FETCH).stdout.contains(PAGE),
            Duration::from_secs(20)
        ),
        "{}: the first container never served its page",
        rt.name
    );
    pid
}

/// A second container whose program is missing fails at create and
/// leaves nothing; the first runs on and serves.
#[test]
fn failed_create_of_a_second_container_leaves_the_first() {
    for rt in Runtime::control_then_sandboxes() {
        let first = first_container(&rt, Join::NetnsPath);
        let (a, a_pid) = (&first.bundle, first.pid);
        let b = Bundle::busybox("pod-bad", &["/no/such/program"]);
        let mut spec = b.spec();
        let nss = spec["linux"]["namespaces"].as_array_mut().unwrap();
        nss.retain(|n| n["type"] != "network");
        nss.push(json!({ "type": "network", "path": format!("/proc/{a_pid}/ns/net") }));
        b.write_spec(&spec);
        let bp = b.path().to_string_lossy().into_owned();
        let out = rt.exec(&["create", "--bundle", &bp, &b.id]);
        assert!(
            !out.success(),
            "{}: create of a missing program:\n{out}",
            rt.name
        );
        assert!(
            out.stderr.contains("/no/such/program"),
            "{}: the error names the program:\n{out}",
            rt.name
        );
        assert_clean(rt.root(), &b.id, b.path());
        assert!(
            is_alive(a_pid),
            "{}: the failed create killed the first",
            rt.name
        );
        assert!(
            exec_sh(&rt, &a.id, FETCH).stdout.contains(PAGE),
            "{}: the first container stopped serving",
            rt.name
        );
        rt.exec(&["delete", "--force", &a.id]).assert_success();
        reap(a_pid, Duration::from_secs(10));
        assert_clean(rt.root(), &a.id, a.path());
    }
}

/// SIGKILL of the sandbox itself (the first container's pid-file process,
/// the Sentry) ends every container of the pod: each pid-file process
/// exits as if its init were SIGKILLed (137), and deleting them leaves
/// nothing. Sandbox only: under runc the containers are separate process
/// trees and the second lives on, so there is no control to compare with.
#[test]
fn killing_the_sandbox_ends_every_container_of_the_pod() {
    for rt in Runtime::every_sandbox() {
        let first = first_container(&rt, Join::Cri);
        let (a, a_pid) = (&first.bundle, first.pid);
        let mut members = Vec::new();
        for tag in ["pod-m1", "pod-m2"] {
            let m = member_bundle(tag, "exec sleep 1000", a, a_pid, Join::Cri);
            let out = TempDir::new("pod-m-out");
            let pid = create(&rt, &m, out.path());
            rt.exec(&["start", &m.id]).assert_success();
            members.push((m, pid, out));
        }
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(a_pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        assert_eq!(
            shell_status(reap(a_pid, Duration::from_secs(10))),
            Some(137),
            "{}",
            rt.name
        );
        for (m, pid, _) in &members {
            assert_eq!(
                shell_status(reap(*pid, Duration::from_secs(10))),
                Some(137),
                "{}: {} after its sandbox was killed",
                rt.name,
                m.id
            );
            assert_eq!(state(&rt, &m.id)["status"], "stopped", "{}", rt.name);
            rt.exec(&["delete", &m.id]).assert_success();
            assert_clean(rt.root(), &m.id, m.path());
        }
        rt.exec(&["delete", &a.id]).assert_success();
        assert_clean(rt.root(), &a.id, a.path());
    }
}

/// A second container with a terminal (`docker run -t
/// --network=container:a`): create sends the pty master to the console
/// socket; the container's stdio is that terminal, its controlling one.
#[test]
fn second_container_with_a_terminal() {
    for rt in Runtime::control_then_sandboxes() {
        let first = first_container(&rt, Join::NetnsPath);
        let (a, a_pid) = (&first.bundle, first.pid);
        let script = "tty; test -t 0 && test -t 1 && echo stdio-is-tty; \
            echo via-dev-tty > /dev/tty && echo dev-tty-ok; read line; echo got $line";
        let b = member_bundle("pod-tty", script, a, a_pid, Join::NetnsPath);
        let mut spec = b.spec();
        spec["process"]["terminal"] = json!(true);
        b.write_spec(&spec);
        let _gb = DeleteOnPanic::new(&rt, &b.id);
        let dir = TempDir::new("console");
        let sock = dir.path().join("console.sock");
        let listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
        let (bp, sock) = (
            b.path().to_string_lossy().into_owned(),
            sock.to_string_lossy().into_owned(),
        );
        let pid_file = b.path().join("init.pid");
        let pf = pid_file.to_string_lossy().into_owned();
        let creating = std::thread::scope(|s| {
            let create = s.spawn(|| {
                rt.exec(&[
                    "create",
                    "--bundle",
                    &bp,
                    "--console-socket",
                    &sock,
                    "--pid-file",
                    &pf,
                    &b.id,
                ])
            });
            let master = sandbox_tests::console::receive_master(&listener);
            (create.join().expect("create ran"), master)
        });
        let (out, master) = creating;
        out.assert_success();
        let pid: i32 = fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        rt.exec(&["start", &b.id]).assert_success();
        let text = sandbox_tests::console::type_and_read(master);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines.first().is_some_and(|l| l.starts_with("/dev/pts/")),
            "{}: tty must name a /dev/pts terminal: {text:?}",
            rt.name
        );
        assert_eq!(
            &lines[1..],
            ["stdio-is-tty", "via-dev-tty", "dev-tty-ok", "got typed"],
            "{}: {text:?}",
            rt.name
        );
        assert_eq!(
            shell_status(reap(pid, Duration::from_secs(20))),
            Some(0),
            "{}",
            rt.name
        );
        rt.exec(&["delete", &b.id]).assert_success();
        assert_clean(rt.root(), &b.id, b.path());
        rt.exec(&["delete", "--force", &a.id]).assert_success();
        reap(a_pid, Duration::from_secs(10));
        assert_clean(rt.root(), &a.id, a.path());
    }
}

/// CRI annotations that put a container into a sandbox that is not
/// running fail its create with a message naming the sandbox, and leave
/// nothing. Sandbox only: runc ignores the annotations.
#[test]
fn cri_annotations_naming_no_sandbox_fail_the_create() {
    for rt in Runtime::every_sandbox() {
        let b = Bundle::sh("pod-orphan", "true");
        let mut spec = b.spec();
        spec["annotations"] = json!({
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.sandbox-id": "no-such-sandbox",
        });
        b.write_spec(&spec);
        let bp = b.path().to_string_lossy().into_owned();
        let out = rt.exec(&["create", "--bundle", &bp, &b.id]);
        assert!(!out.success(), "{}: create:\n{out}", rt.name);
        assert!(
            out.stderr.contains("no-such-sandbox") && out.stderr.contains("not a running sandbox"),
            "{}: the error names the sandbox:\n{out}",
            rt.name
        );
        assert_clean(rt.root(), &b.id, b.path());
    }
}
