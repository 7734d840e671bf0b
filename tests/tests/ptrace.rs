//! Issue 16, "ptrace inside the sandbox": real debugging tools run against
//! the workload's own processes with the results they give under runc (the
//! control), on every platform; and the Sentry and its stubs stay out of
//! reach. The system-call-level checks are the conformance area `ptrace`
//! (tests/conformance/ptrace.c).

use std::collections::BTreeMap;
use std::path::Path;

use sandbox_tests::cprog::{build_both, build_static, copy_to_root, install_libraries};
use sandbox_tests::{Bundle, Runtime};

/// A busybox bundle running `script`, with `programs` (host binaries) and
/// their libraries added.
fn bundle_with(tag: &str, script: &str, programs: &[&str]) -> Bundle {
    let b = Bundle::sh(tag, script);
    let rootfs = b.rootfs();
    for p in programs {
        copy_to_root(&rootfs, Path::new(p), Path::new(p));
        install_libraries(&rootfs, Path::new(p));
    }
    b
}

/// System calls whose result is a pid.
const PID_RESULTS: &[&str] = &[
    "clone",
    "clone3",
    "fork",
    "vfork",
    "wait4",
    "waitid",
    "getpid",
    "getppid",
    "gettid",
    "set_tid_address",
];

/// Calls whose result differs from Linux's for reasons outside ptrace,
/// listed in docs/compatibility.md: rseq is ENOSYS in the Sentry (glibc
/// then runs without restartable sequences).
const NOT_TRACED: &[&str] = &["rseq"];

/// One strace line reduced to what must agree between kernels: the system
/// call's name and its result, with pids, addresses and sizes above 4096
/// left out. Signals arrive when they arrive, so their lines (and the
/// rt_sigreturn that ends a handler, and a call a signal interrupted) are
/// not compared.
fn normalise_line(line: &str) -> Option<String> {
    let line = line.trim();
    if line.starts_with("--- ") {
        return None;
    }
    if line.starts_with("+++") {
        return Some(line.to_string());
    }
    let name = &line[..line.find('(')?];
    let result = line.rsplit_once(" = ").map_or("?", |(_, r)| r.trim());
    if name == "rt_sigreturn" || result.contains("ERESTART") || NOT_TRACED.contains(&name) {
        return None;
    }
    let mut words = result.split_whitespace();
    let value = words.next().unwrap_or("?");
    let value = match value.parse::<i64>() {
        Ok(v) if v > 0 && PID_RESULTS.contains(&name) => "PID".to_string(),
        Ok(v) if v > 4096 => "N".to_string(),
        Ok(v) => v.to_string(),
        Err(_) if value.starts_with("0x") => "ADDR".to_string(),
        Err(_) => value.to_string(),
    };
    // An error's name (ENOENT), not its text.
    let errno = words.next().filter(|w| w.starts_with('E')).unwrap_or("");
    Some(format!("{name} = {value} {errno}").trim_end().to_string())
}

/// The first runtime's result (runc's) becomes the control; every later
/// one must equal it.
fn agrees_with_control<T: PartialEq + std::fmt::Debug>(
    control: &mut Option<T>,
    got: T,
    rt: &Runtime,
    tool: &str,
    output: &str,
) {
    match control {
        None => *control = Some(got),
        Some(c) => assert_eq!(
            c,
            &got,
            "{} ({}): {tool}'s output differs from runc's:\n{output}",
            rt.name,
            rt.platform_name()
        ),
    }
}

/// strace -ff's per-process files, each normalised, keyed by content so
/// that the pids (and the order the processes happened to start in) drop
/// out.
fn normalise_trace(out: &str) -> BTreeMap<String, usize> {
    let mut files: BTreeMap<String, usize> = BTreeMap::new();
    for file in out.split("==== ").filter(|f| !f.trim().is_empty()) {
        let body: Vec<String> = file.lines().skip(1).filter_map(normalise_line).collect();
        *files.entry(body.join("\n")).or_default() += 1;
    }
    files
}

const STRACE_SCRIPT: &str = "
strace -ff -o /tmp/trace sh -c 'echo a | cat' > /tmp/pipeline.out 2>/tmp/strace.err
echo strace=$?
cat /tmp/pipeline.out
for f in /tmp/trace.*; do echo \"==== $f\"; cat $f; done
cat /tmp/strace.err >&2
";

#[test]
fn strace_of_a_pipeline_matches_runc() {
    let mut control: Option<BTreeMap<String, usize>> = None;
    for rt in Runtime::control_then_sandboxes() {
        let b = bundle_with("strace", STRACE_SCRIPT, &["/usr/bin/strace"]);
        let out = rt.run(&b);
        let text = out.stdout.clone();
        assert!(
            text.starts_with("strace=0\na\n"),
            "{} ({}): strace failed:\n{out}",
            rt.name,
            rt.platform_name()
        );
        let trace = normalise_trace(&text["strace=0\na\n".len()..]);
        assert_eq!(
            trace.len(),
            3,
            "{}: three processes traced:\n{text}",
            rt.name
        );
        agrees_with_control(&mut control, trace, &rt, "strace", &text);
    }
}

/// `strace -f` of a program whose four threads each fork a child: every
/// task is followed (clone and fork events, thread exits) and the program
/// finishes with its own result, as under runc; strace counts the calls.
#[test]
fn strace_follows_threads_and_forks() {
    let dir = sandbox_tests::TempDir::new("ptrace-threads");
    let prog = dir.path().join("threads");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("programs/threads_fork.c");
    let made = std::process::Command::new("gcc")
        .args(["-O1", "-pthread", "-static", "-o"])
        .arg(&prog)
        .arg(&src)
        .output()
        .expect("gcc runs");
    assert!(made.status.success(), "gcc threads_fork.c: {made:?}");
    let script = "strace -f -e trace=getppid,clone,clone3,fork,exit_group -o /tmp/t /bin/threads; \
        echo strace=$?; grep -c 'getppid(' /tmp/t; grep -c '+++ exited with' /tmp/t";
    let mut control: Option<String> = None;
    for rt in Runtime::control_then_sandboxes() {
        let b = bundle_with("strace-threads", script, &["/usr/bin/strace"]);
        copy_to_root(&b.rootfs(), Path::new("/bin/threads"), &prog);
        let out = rt.run(&b);
        assert!(
            out.stdout.starts_with("sum=10\nstrace=0\n80\n9\n"),
            "{} ({}): the traced program or strace failed:\n{out}",
            rt.name,
            rt.platform_name()
        );
        agrees_with_control(&mut control, out.stdout.clone(), &rt, "strace", &out.stdout);
    }
}

/// The Sentry, its stubs and every host process are out of the workload's
/// reach: PTRACE_SEIZE of a host process's pid fails with ESRCH inside,
/// while natively the same program seizes it (the control: the attack is
/// real), and no pid the container's /proc does not list can be traced.
#[test]
fn host_processes_stay_untraceable() {
    let dir = sandbox_tests::TempDir::new("ptrace-reach");
    let probe = dir.path().join("reach");
    build_static(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("programs/ptrace_reach.c"),
        &probe,
    );
    let mut host = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("spawn sleep");
    let host_pid = host.id().to_string();
    let me = std::process::id().to_string();

    let native = std::process::Command::new(&probe)
        .arg(&host_pid)
        .output()
        .expect("run the probe natively");
    let native = String::from_utf8_lossy(&native.stdout).into_owned();
    assert_eq!(
        native.trim(),
        format!("{host_pid} ok"),
        "the control: natively, root seizes a host process"
    );

    for rt in Runtime::every_sandbox() {
        let b = Bundle::busybox(
            "ptrace-reach",
            &["/bin/reach", &host_pid, &me, "--scan", "65536"],
        );
        copy_to_root(&b.rootfs(), Path::new("/bin/reach"), &probe);
        let out = rt.run(&b);
        let want = format!("{host_pid} ESRCH\n{me} ESRCH\n");
        assert!(
            out.stdout.starts_with(&want),
            "{}: a host process was reachable:\n{out}",
            rt.platform_name()
        );
        assert!(
            out.stdout.contains(" 0 traceable\n"),
            "{}: a pid outside the container was traceable:\n{out}",
            rt.platform_name()
        );
    }
    let _ = host.kill();
    let _ = host.wait();
}

/// Copies the host directory `dir` to the same path under `rootfs` (hard
/// links where the file system allows: the tests only read these files).
fn copy_tree(rootfs: &Path, dir: &str) {
    let to = rootfs.join(
        Path::new(dir)
            .parent()
            .and_then(|p| p.strip_prefix("/").ok())
            .unwrap_or(Path::new("")),
    );
    std::fs::create_dir_all(&to).expect("create the parent directory");
    let copied = ["-al", "-a"].iter().any(|how| {
        std::process::Command::new("cp")
            .args([how, dir])
            .arg(&to)
            .status()
            .is_ok_and(|s| s.success())
    });
    assert!(copied, "copying {dir}");
}

/// gdb's commands: a breakpoint, a step, variables printed, the
/// breakpoint hit again, then a run to the end; on the static build, then
/// the dynamic one (ld.so's breakpoints, libthread_db).
const GDB_SCRIPT: &str = "
for prog in /bin/debuggee-static /bin/debuggee; do
gdb -batch -nx -ex 'set startup-with-shell off' -ex 'break square' -ex run -ex next \
  -ex 'print y' -ex 'print x' -ex continue -ex 'print x' -ex 'info registers rip' \
  -ex delete -ex continue $prog 2>&1
echo gdb=$?
done
";

/// The lines of gdb's output that must agree: everything but the pid of
/// the inferior.
fn normalise_gdb(out: &str) -> Vec<String> {
    out.lines()
        .map(|l| match l.find("(process ") {
            Some(i) => format!(
                "{}(process PID){}",
                &l[..i],
                &l[i..].split_once(')').map_or("", |(_, r)| r)
            ),
            None => l.to_string(),
        })
        .collect()
}

#[test]
fn gdb_breakpoint_step_print_matches_runc() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("programs/debuggee.c");
    let mut control: Option<Vec<String>> = None;
    for rt in Runtime::control_then_sandboxes() {
        let b = bundle_with("gdb", GDB_SCRIPT, &["/usr/bin/gdb"]);
        // The source gdb shows, copied first: gdb warns about a source
        // newer than the program.
        copy_to_root(&b.rootfs(), &src, &src);
        build_both(&b.rootfs(), &src, "debuggee", &["-g", "-O0"]);
        let thread_db = Path::new("/lib/x86_64-linux-gnu/libthread_db.so.1");
        if thread_db.exists() {
            copy_to_root(&b.rootfs(), thread_db, thread_db);
        }
        // gdb embeds Python (its standard library and gdb's own modules).
        copy_tree(&b.rootfs(), "/usr/lib/python3.11");
        copy_tree(&b.rootfs(), "/usr/share/gdb");
        let out = rt.run(&b);
        let lines = normalise_gdb(&out.stdout);
        assert!(
            out.stdout.matches("Breakpoint 1, square (x=1)").count() == 2
                && out.stdout.matches("gdb=0").count() == 2,
            "{} ({}): gdb did not stop at the breakpoint:\n{out}",
            rt.name,
            rt.platform_name()
        );
        agrees_with_control(&mut control, lines, &rt, "gdb", &out.stdout);
    }
}
