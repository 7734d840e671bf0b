//! Issue 3 (first part): unmodified, dynamically linked glibc programs from
//! Debian run under the Sentry (PT_INTERP, shared libraries, RELRO, TLS),
//! with the same output as the host kernel gives them (the native control
//! runs the same script in a chroot of the same root filesystem).

use std::fs;
use std::path::Path;
use std::process::Command;

use sandbox_tests::{assert_clean, native_in_chroot, Bundle, Runtime};

/// Host programs copied into the rootfs, with their libraries.
const PROGRAMS: &[&str] = &[
    "/bin/ls",
    "/bin/cp",
    "/bin/mkdir",
    "/bin/cat",
    "/usr/bin/sort",
    "/usr/bin/sha256sum",
    "/bin/grep",
    "/bin/sed",
    "/usr/bin/find",
    "/bin/tar",
    "/bin/gzip",
    "/usr/bin/head",
    "/usr/bin/python3.11",
    "/bin/bash",
];

/// Copies `src` to the same path under `rootfs` (hard links where possible:
/// the tests only read these files).
fn install(rootfs: &Path, src: &Path) {
    let dst = rootfs.join(src.strip_prefix("/").expect("absolute"));
    if let Some(dir) = dst.parent() {
        fs::create_dir_all(dir).expect("create_dir_all");
    }
    if dst.exists() {
        return;
    }
    let real = fs::canonicalize(src).expect("canonicalize");
    if fs::hard_link(&real, &dst).is_err() {
        fs::copy(&real, &dst).expect("copy");
    }
}

/// The shared libraries `ldd` lists for `prog`.
fn libraries(prog: &str) -> Vec<String> {
    let out = Command::new("ldd").arg(prog).output().expect("ldd runs");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
        .map(str::to_string)
        .collect()
}

fn bundle(tag: &str, script: &str) -> Bundle {
    let b = Bundle::sh(tag, script);
    let rootfs = b.rootfs();
    for p in PROGRAMS {
        install(&rootfs, Path::new(p));
        for lib in libraries(p) {
            install(&rootfs, Path::new(&lib));
        }
    }
    // bash points its background jobs' stdin at /dev/null: the native
    // control's chroot needs one (the sandbox mounts its own /dev).
    let null = rootfs.join("dev/null");
    if !null.exists() {
        fs::create_dir_all(rootfs.join("dev")).expect("create dev");
        let made = Command::new("mknod")
            .arg(&null)
            .args(["c", "1", "3"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(made, "mknod {}", null.display());
    }
    // Python's standard library, linked file by file.
    fs::create_dir_all(rootfs.join("usr/lib")).expect("create usr/lib");
    let copy = |how: &str| {
        Command::new("cp")
            .args([how, "/usr/lib/python3.11"])
            .arg(rootfs.join("usr/lib/"))
            .status()
            .is_ok_and(|s| s.success())
    };
    // Hard links need one file system; otherwise copy.
    assert!(
        copy("-al") || copy("-a"),
        "copying the Python standard library"
    );
    // The libraries of its extension modules (sqlite3 and friends).
    let dynload = fs::read_dir("/usr/lib/python3.11/lib-dynload").expect("lib-dynload");
    for e in dynload.flatten() {
        for lib in libraries(&e.path().to_string_lossy()) {
            install(&rootfs, Path::new(&lib));
        }
    }
    b
}

const SCRIPT: &str = r#"
export PATH=/usr/bin:/bin
cd /tmp
/bin/mkdir -p d/e && echo hello > d/e/f && echo world > d/g
/bin/cp -r d d2
/bin/grep -r hello d2
/bin/sed s/hello/bye/ d2/e/f
/usr/bin/find d2 | /usr/bin/sort
/bin/ls -la d2/e | /usr/bin/head -1
/bin/tar czf a.tgz d2 && /bin/mkdir x && cd x && /bin/tar xzf ../a.tgz && /bin/cat d2/g && cd ..
echo abc | /bin/gzip | /bin/gzip -d
printf 'b\na\nc\n' | /usr/bin/sort
/usr/bin/sha256sum d2/e/f
/usr/bin/python3.11 -c 'import json, hashlib, os, sys; print(json.dumps({"sha": hashlib.sha256(b"x").hexdigest()[:16], "pid": os.getpid() > 0})); sys.exit(4)'
echo python=$?
/usr/bin/python3.11 -c '
import json, sqlite3, threading, subprocess, socket, hashlib, multiprocessing, select, sys
out = []
lock = threading.Lock()
def work(i):
    with lock:
        out.append(hashlib.sha256(str(i).encode()).hexdigest()[:6])
ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
[t.start() for t in ts]
[t.join() for t in ts]
print(sorted(out))
db = sqlite3.connect("/tmp/t.db")
db.execute("create table t (a)")
db.executemany("insert into t values (?)", [(i,) for i in range(100)])
db.commit()
db.close()
print(sqlite3.connect("/tmp/t.db").execute("select sum(a) from t").fetchone()[0])
print(subprocess.run(["/bin/sh", "-c", "echo from a subprocess | /usr/bin/sort"], capture_output=True, text=True).stdout, end="")
p1 = subprocess.Popen(["/usr/bin/find", "/tmp/d2"], stdout=subprocess.PIPE)
p2 = subprocess.Popen(["/usr/bin/sort", "-r"], stdin=p1.stdout, stdout=subprocess.PIPE, text=True)
p1.stdout.close()
print(p2.communicate()[0].split(), p1.wait(), p2.returncode)
a, b = socket.socketpair()
def echo():
    b.sendall(b.recv(100).upper())
t = threading.Thread(target=echo)
t.start()
a.sendall(b"ping over a socketpair")
ready, _, _ = select.select([a], [], [], 10)
print(ready == [a], a.recv(100).decode())
t.join()
srv = socket.create_server(("127.0.0.1", 0))
def serve():
    c, _ = srv.accept()
    c.sendall(c.recv(100)[::-1])
    c.close()
st = threading.Thread(target=serve)
st.start()
cl = socket.create_connection(("127.0.0.1", srv.getsockname()[1]))
cl.sendall(b"pool kcabpool pct")
print(cl.recv(100).decode(), cl.recv(100))
st.join()
print(json.dumps({"cpus": multiprocessing.cpu_count() > 0}))
sys.exit(3)
'
echo python2=$?
/bin/bash -c '
set +m
trap "echo trapped USR1" USR1
f() { echo "in f $1"; }
x=$(f sub)
echo "got: $x"
(sleep 0.2; echo bg1) &
p1=$!
(echo bg2) >/tmp/bg2.out &
wait $p1
echo "wait1=$?"
wait
cat /tmp/bg2.out
cat <<EOF
heredoc $x
EOF
kill -USR1 $$
exec 3>/tmp/fd3
echo via3 >&3
exec 3>&-
cat </tmp/fd3
echo "to stderr" 2>/dev/null >&2
(exit 5)
echo "sub=$?"
'
echo bash=$?
"#;

#[test]
fn dynamic_programs_match_native() {
    let native_bundle = bundle("dyn-native", SCRIPT);
    let native = native_in_chroot(&native_bundle, SCRIPT);
    assert_eq!(
        native.code(),
        Some(0),
        "the native control must pass:\n{native}"
    );
    for marker in [
        "python=4",
        "python2=3",
        "bash=0",
        "PING OVER A SOCKETPAIR",
        "trapped USR1",
    ] {
        assert!(
            native.stdout.contains(marker),
            "the control prints {marker}:\n{native}"
        );
    }

    // Every backend this host can run: the same output as native.
    let runtimes = std::iter::once(Runtime::sandbox()).chain(Runtime::sandbox_vm());
    for rt in runtimes {
        let b = bundle("dyn", SCRIPT);
        let out = rt.run(&b);
        let name = rt.name;
        assert_eq!(out.code(), Some(0), "{name}:\n{out}");
        assert_eq!(
            out.stdout, native.stdout,
            "{name} and native outputs differ:\n{name}:\n{out}\nnative:\n{native}"
        );
        assert_clean(rt.root(), &b.id, b.path());
    }
}
