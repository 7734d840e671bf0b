"""The runtimes compared, all driven through the same runc-compatible
command line: runc (the native control), gVisor's runsc on its ptrace
platform, and sandbox on each of its platforms."""

import itertools
import os
import shutil
import subprocess
import tempfile

from . import bundle, procs

_ids = itertools.count()


class RuntimeError_(Exception):
    """A runtime command failed or hung; the message says which and why."""


class Runtime:
    def __init__(self, name, argv, docker_args, state_dir, net_argv=None):
        self.name = name
        self._net = (net_argv, state_dir + "-net") if net_argv else None
        # The command and its global flags; `--root` keeps our containers
        # apart from anyone else's.
        self.argv = list(argv[:1]) + ["--root", state_dir] + list(argv[1:])
        # How dockerd registers it: (path, runtimeArgs).
        self.docker = (argv[0], docker_args)
        self.log = state_dir + ".log"
        os.makedirs(os.path.dirname(state_dir), exist_ok=True)

    def networked(self):
        """The runtime as the network workloads run it: runsc with its own
        network stack (`--network=sandbox`, its default) instead of the
        bench's `--network=none`; the others as they are (sandbox's default
        is its own stack too)."""
        if self._net is None:
            return self
        argv, state_dir = self._net
        return Runtime(self.name, argv, self.docker[1], state_dir)

    def new_id(self):
        return f"bench-{os.getpid()}-{self.name}-{next(_ids)}"

    def _call(self, args, timeout, stdout=subprocess.DEVNULL, reap=True):
        """Runs a runtime command; returns its exit status. With `reap`
        (whenever no other command runs at the same time), reaps the
        orphans that exit meanwhile (see procs.run_reaping)."""
        cmd = self.argv + list(args)
        with open(self.log, "a") as log:
            try:
                if reap:
                    return procs.run_reaping(
                        cmd, timeout, stdin=subprocess.DEVNULL, stdout=stdout, stderr=log
                    )
                return subprocess.run(
                    cmd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=log, timeout=timeout
                ).returncode
            except subprocess.TimeoutExpired as e:
                raise RuntimeError_(f"{' '.join(cmd)}: no answer in {timeout} s") from e

    def _check(self, args, timeout, reap=True):
        status = self._call(args, timeout, reap=reap)
        if status != 0:
            raise RuntimeError_(f"{self.name}: {' '.join(args)} exited {status} (log: {self.log})")

    def log_size(self):
        try:
            return os.path.getsize(self.log)
        except OSError:
            return 0

    def log_since(self, offset, lines=4):
        """The last warning and error lines (and the container's own
        stderr) the runtime logged after `offset`, on one line: the work
        directory with the log is removed at the end of the bench."""
        try:
            with open(self.log, errors="replace") as f:
                f.seek(offset)
                text = f.read()
        except OSError:
            return ""
        keep = [line.strip() for line in text.splitlines() if line.strip() and "level=info" not in line]
        return " | ".join(keep[-lines:])

    def run(self, bundle_dir, timeout):
        """`run --bundle B ID`; returns (exit status, stdout text). `run`
        deletes the container once it exited."""
        cid = self.new_id()
        # A file, not a pipe: nothing has to drain it while we reap.
        with tempfile.TemporaryFile() as out:
            try:
                status = self._call(["run", "--bundle", bundle_dir, cid], timeout, stdout=out)
            except RuntimeError_:
                self.kill(cid)
                self.force_delete(cid, quiet=True)
                raise
            out.seek(0)
            return status, out.read().decode(errors="replace")

    def create(self, bundle_dir, cid, pid_file, timeout=60, reap=True):
        self._check(["create", "--bundle", bundle_dir, "--pid-file", pid_file, cid], timeout, reap)

    def start(self, cid, timeout=60, reap=True):
        self._check(["start", cid], timeout, reap)

    def delete(self, cid, timeout=60):
        self._check(["delete", cid], timeout)

    def kill(self, cid, signal="KILL", timeout=30):
        self._call(["kill", cid, signal], timeout)

    def force_delete(self, cid, quiet=False):
        try:
            self._call(["delete", "--force", cid], 60)
        except RuntimeError_:
            if not quiet:
                raise


def kvm_usable():
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
        return True
    except OSError:
        return False


def _runsc_sees_root_everywhere():
    """Whether a fresh network namespace has /proc/sys/net/core/rmem_default,
    the file Debian's runsc takes as the mark of the root namespace."""
    try:
        return subprocess.run(["unshare", "--net", "test", "-e", "/proc/sys/net/core/rmem_default"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def discover(sandbox, state_root, only=None):
    """The runtimes to compare, and notes on those left out (and why)."""
    found, notes = [], []

    def add(name, argv, docker_args, net_argv=None):
        if only and name not in only:
            return
        found.append(Runtime(name, argv, docker_args, os.path.join(state_root, name), net_argv))

    if shutil.which("runc"):
        add("runc", ["runc"], [])
    else:
        notes.append("runc: not installed (apt-get install runc); no native control")
    runsc = shutil.which("runsc")
    if runsc:
        net_argv = [runsc, "--platform=ptrace", "--network=sandbox"]
        if _runsc_sees_root_everywhere():
            wrapper = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "runsc-netns.sh")
            net_argv = [os.path.normpath(wrapper)] + net_argv[1:]
            notes.append(
                "runsc --network=sandbox runs through bench/runsc-netns.sh: this runsc takes any network "
                "namespace for the root one on this kernel (/proc/sys/net/core/rmem_default exists in every "
                "namespace) and refuses to start; the wrapper hides that directory from it")
        add("runsc", [runsc, "--platform=ptrace", "--network=none"], ["--platform=ptrace", "--network=none"],
            net_argv)
    else:
        notes.append("runsc: not installed and `apt-get install runsc` failed")
    for platform in ("ptrace", "seccomp", "kvm"):
        if platform == "kvm" and not kvm_usable():
            notes.append("sandbox-kvm: /dev/kvm is missing or not usable")
            continue
        add(f"sandbox-{platform}", [sandbox, "--platform", platform], [f"--platform={platform}"])
    return found, notes


def preflight(rt, rootfs, work):
    """Runs `micro getpid 10` under `rt`; returns None or why it failed."""
    b = bundle.make(os.path.join(work, f"preflight-{rt.name}"), ["/bin/micro", "getpid", "10"], rootfs)
    try:
        status, out = rt.run(b, timeout=120)
    except RuntimeError_ as e:
        return str(e)
    finally:
        procs.reap_all(timeout=0)
    if status != 0 or "result getpid" not in out:
        return f"exit status {status}, output {out.strip()!r} (log: {rt.log})"
    return None
