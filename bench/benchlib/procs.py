"""Host processes: the driver as a subreaper, the processes a runtime
leaves behind, their memory, and reaping them.

The driver makes itself a child subreaper (as containerd's shim does), so a
container's processes that outlive the runtime command that started them
(runc's container init, runsc's sandbox and gofer, sandbox's supervisor)
become its children: it can wait for them and sum their memory."""

import ctypes
import errno
import os
import subprocess
import time

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "prctl(PR_SET_CHILD_SUBREAPER): " + os.strerror(err))


def _ppid(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses.
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def descendants(root=None):
    """Pids of every live process below `root` (default: this one)."""
    root = root or os.getpid()
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            ppid = _ppid(int(entry))
            if ppid is not None:
                children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _kib_field(path, field):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory_kib(pids):
    """(sum of RSS, sum of PSS) of `pids` in KiB. RSS counts a page shared
    by two processes twice (the Sentry and its stubs share the memory file);
    PSS splits it between them."""
    rss = sum(_kib_field(f"/proc/{p}/status", "VmRSS") for p in pids)
    pss = sum(_kib_field(f"/proc/{p}/smaps_rollup", "Pss") for p in pids)
    return rss, pss


def host_used_kib():
    """MemTotal - MemAvailable: what the whole host uses (other work on the
    machine moves it too)."""
    total = _kib_field("/proc/meminfo", "MemTotal")
    avail = _kib_field("/proc/meminfo", "MemAvailable")
    return total - avail


def wait_for(pid, timeout):
    """Waits for `pid` (a child, or an orphan reparented to us) and returns
    its wait status; reaps other children that exit meanwhile. None on
    timeout. Call it only while no subprocess.Popen child is running: it
    could reap one that Popen still waits for."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            got, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            # Not our descendant (another subreaper adopted it): poll.
            while _alive(pid):
                if time.monotonic() > deadline:
                    return None
                time.sleep(0.001)
            return 0
        if got == pid:
            return status
        if got == 0:
            if time.monotonic() > deadline:
                return None
            time.sleep(0.0005)


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError as e:
        return e.errno == errno.EPERM


def reap_all(timeout=10.0):
    """Reaps every exited child; waits up to `timeout` for the rest to exit.
    Returns the pids still running after it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            got, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return []
        if got == 0:
            if time.monotonic() > deadline:
                return descendants()
            time.sleep(0.01)


def run_reaping(cmd, timeout, **popen_kw):
    """Runs `cmd` to its end and returns its exit status, reaping every
    other child that exits meanwhile. Orphans of the runtime (runsc's gofer
    and sandbox, a container's processes) are our children: a zombie left
    unreaped looks alive to `kill(pid, 0)`, and `runsc delete` then waits
    for it until its own deadline. containerd's shim reaps as it goes; so
    does this. Raises subprocess.TimeoutExpired (after killing `cmd`)."""
    p = subprocess.Popen(cmd, **popen_kw)
    deadline = time.monotonic() + timeout
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            break
        if info is None:
            if time.monotonic() > deadline:
                p.kill()
                p.wait()
                raise subprocess.TimeoutExpired(cmd, timeout)
            time.sleep(0.0005)
            continue
        if info.si_pid == p.pid:
            break
        os.waitpid(info.si_pid, 0)  # an orphan: reap it
    return p.wait()


def alive(pid):
    """Whether `pid` exists (a zombie not yet reaped counts as alive)."""
    return _alive(pid)


def wait_gone(timeout=20.0):
    """Reaps this process's descendants until none is left (a killed
    container's processes are our children: we are their subreaper), for at
    most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while descendants() and time.monotonic() < deadline:
        reap_all(timeout=0)
        time.sleep(0.01)
