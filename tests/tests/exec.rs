//! Issue 2: `exec` into a running container — output, exit status, and
//! signals sent to the exec command reach the process inside (the shim
//! signals the pid it knows, which is the runtime's). runc is the control.

use std::process::Stdio;
use std::time::{Duration, Instant};

use sandbox_tests::{assert_clean, Bundle, DeleteOnPanic, Runtime};

fn check_exec(rt: &Runtime) {
    let bundle = Bundle::sh("exec", "while true; do sleep 1; done");
    let id = bundle.id.as_str();
    let _guard = DeleteOnPanic::new(rt, id);
    let b = bundle.path().to_string_lossy().into_owned();
    let out = rt.exec(&["run", "--detach", "--bundle", &b, id]);
    assert_eq!(out.code(), Some(0), "run --detach:\n{out}");

    let out = rt.exec(&["exec", id, "sh", "-c", "echo inside; exit 3"]);
    assert_eq!(
        out.code(),
        Some(3),
        "exec's status is the process's:\n{out}"
    );
    assert_eq!(out.stdout_lines(), ["inside"], "\n{out}");

    // SIGTERM to the exec command reaches the process's trap.
    let script = "trap 'echo got TERM; exit 5' TERM; echo ready; while true; do sleep 1; done";
    let mut child = rt
        .command(&["exec", id, "sh", "-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn exec");
    let mut stdout = child.stdout.take().expect("piped stdout");
    // Read on another thread, so a process that never prints fails the
    // test after a while instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut first = [0u8; 6];
        let r = std::io::Read::read_exact(&mut stdout, &mut first).map(|_| first);
        let _ = tx.send((r, stdout));
    });
    let (first, mut stdout) = match rx.recv_timeout(Duration::from_secs(20)) {
        Ok((Ok(first), stdout)) => (first, stdout),
        Ok((Err(e), _)) => panic!("reading the exec'd process's first line: {e}"),
        Err(_) => {
            let _ = child.kill();
            panic!("the exec'd process printed nothing for 20 s");
        }
    };
    assert_eq!(&first, b"ready\n");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("signal exec");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait exec") {
            break s;
        }
        assert!(Instant::now() < deadline, "exec did not end after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).expect("read exec output");
    assert_eq!(rest, "got TERM\n", "the trap ran inside");
    assert_eq!(status.code(), Some(5), "the trap's exit status");

    let out = rt.exec(&["delete", "--force", id]);
    assert_eq!(out.code(), Some(0), "delete --force:\n{out}");
    assert_clean(rt.root(), id, bundle.path());
}

#[test]
fn runc_control_exec() {
    check_exec(&Runtime::runc());
}

#[test]
fn sandbox_exec() {
    check_exec(&Runtime::sandbox());
}

/// `exec -d -t --console-socket` (what containerd's shim runs for `docker
/// exec -it`; runc refuses a console socket without -d): the process's
/// stdio is a terminal of its own, named in /dev/pts, its session's
/// controlling terminal (/dev/tty).
fn check_exec_tty(rt: &Runtime) {
    let bundle = Bundle::sh("exec-tty", "while true; do sleep 1; done");
    let id = bundle.id.as_str();
    let _guard = DeleteOnPanic::new(rt, id);
    let b = bundle.path().to_string_lossy().into_owned();
    let out = rt.exec(&["run", "--detach", "--bundle", &b, id]);
    assert_eq!(out.code(), Some(0), "run --detach:\n{out}");

    let dir = sandbox_tests::TempDir::new("console");
    let sock = dir.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind the console socket");
    let sock = sock.to_string_lossy().into_owned();
    let script = "tty; test -t 0 && test -t 1 && echo stdio-is-tty; \
        echo via-dev-tty > /dev/tty && echo dev-tty-ok; \
        [ \"$(stat -c %t /dev/pts/$(basename $(tty)))\" = 88 ] && echo node-ok; \
        read line; echo got $line";
    let mut child = rt
        .command(&[
            "exec",
            "-d",
            "-t",
            "--console-socket",
            &sock,
            id,
            "sh",
            "-c",
            script,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn exec -t");
    let master = sandbox_tests::console::receive_master(&listener);
    let text = sandbox_tests::console::type_and_read(master);
    let _ = child.wait();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.first().is_some_and(|l| l.starts_with("/dev/pts/")),
        "{}: tty must name a /dev/pts terminal: {text:?}",
        rt.name
    );
    assert_eq!(
        &lines[1..],
        [
            "stdio-is-tty",
            "via-dev-tty",
            "dev-tty-ok",
            "node-ok",
            "got typed"
        ],
        "{}: {text:?}",
        rt.name
    );
    let out = rt.exec(&["delete", "--force", id]);
    assert_eq!(out.code(), Some(0), "delete --force:\n{out}");
    assert_clean(rt.root(), id, bundle.path());
}

#[test]
fn runc_control_exec_tty() {
    check_exec_tty(&Runtime::runc());
}

#[test]
fn sandbox_exec_tty() {
    check_exec_tty(&Runtime::sandbox());
}
