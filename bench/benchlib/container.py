"""Container-level measurements through the runtime's own command line:
the life cycle a user feels, the memory of an idle container, and many
containers started at once."""

import os
import threading
import time

from . import procs
from .runtimes import RuntimeError_


def _read_pid(pid_file):
    with open(pid_file) as f:
        return int(f.read().strip())


def lifecycle(rt, bundle_dir, work):
    """create + start + wait + delete of a container running /bin/true;
    returns milliseconds. The exit status must be 0."""
    cid = rt.new_id()
    pid_file = os.path.join(work, cid + ".pid")
    t0 = time.monotonic()
    try:
        rt.create(bundle_dir, cid, pid_file)
        pid = _read_pid(pid_file)
        rt.start(cid)
        status = procs.wait_for(pid, timeout=60)
        if status is None:
            raise RuntimeError_(f"{rt.name}: the container's /bin/true did not exit in 60 s")
        _delete_stopped(rt, cid)
    except BaseException:
        rt.force_delete(cid, quiet=True)
        raise
    ms = (time.monotonic() - t0) * 1e3
    procs.reap_all(timeout=0)
    if status != 0:
        raise RuntimeError_(f"{rt.name}: /bin/true exited with wait status {status:#x}")
    return ms


def _delete_stopped(rt, cid, tries=100):
    """`delete` right after the container's process exited. runsc may not
    have noticed the exit yet and refuses to delete a running container: try
    again for up to a second (the time counts), as a shim that gets the exit
    event later would. The last failure's log lines go into the error."""
    offset = rt.log_size()
    first = None
    for attempt in range(tries):
        try:
            rt.delete(cid)
            return
        except RuntimeError_ as e:
            first = first or rt.log_since(offset)
            if attempt == tries - 1:
                raise RuntimeError_(f"{e}: first failure: {first}") from e
            time.sleep(0.01)


def idle_memory(rt, bundle_dir, work, settle=1.0, samples=10):
    """Starts a container running `sleep`, lets it settle, and samples the
    memory of every process it left on the host (the driver is their
    subreaper). Returns (peak RSS sum, peak PSS sum, process count) in
    MiB."""
    cid = rt.new_id()
    pid_file = os.path.join(work, cid + ".pid")
    try:
        rt.create(bundle_dir, cid, pid_file)
        rt.start(cid)
        time.sleep(settle)
        rss = pss = count = 0
        for _ in range(samples):
            pids = procs.descendants()
            r, p = procs.memory_kib(pids)
            rss, pss, count = max(rss, r), max(pss, p), max(count, len(pids))
            time.sleep(0.1)
        if count == 0:
            raise RuntimeError_(f"{rt.name}: the sleep container left no process to measure")
    finally:
        rt.kill(cid)
        _wait_gone(rt, cid)
        rt.force_delete(cid, quiet=True)
        procs.reap_all(timeout=10)
    return rss / 1024, pss / 1024, count


def _wait_gone(rt, cid, timeout=20):
    """Reaps the killed container's processes (they are our children)."""
    deadline = time.monotonic() + timeout
    while procs.descendants() and time.monotonic() < deadline:
        procs.reap_all(timeout=0)
        time.sleep(0.01)


def scale(rt, bundle_dir, work, n):
    """Starts `n` containers running `sleep` at once (create + start each,
    all in parallel). Returns (seconds until all had started, growth of the
    host's used memory in MiB, PSS of the containers' processes in MiB)."""
    ids = [rt.new_id() for _ in range(n)]
    errors = []

    def one(cid):
        try:
            # In parallel: no reaping here (it could take another
            # thread's command); the orphans wait for the cleanup below.
            rt.create(bundle_dir, cid, os.path.join(work, cid + ".pid"), timeout=300, reap=False)
            rt.start(cid, timeout=300, reap=False)
        except RuntimeError_ as e:
            errors.append(str(e))

    before = procs.host_used_kib()
    t0 = time.monotonic()
    threads = [threading.Thread(target=one, args=(cid,)) for cid in ids]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        secs = time.monotonic() - t0
        if errors:
            raise RuntimeError_(f"{rt.name}: {len(errors)} of {n} containers failed: {errors[0]}")
        time.sleep(2)  # let them settle before measuring
        used = (procs.host_used_kib() - before) / 1024
        _, pss = procs.memory_kib(procs.descendants())
    finally:
        for cid in ids:
            rt.kill(cid)
        _wait_gone(rt, ids, timeout=60)
        for cid in ids:
            rt.force_delete(cid, quiet=True)
        procs.reap_all(timeout=10)
    return secs, used, pss / 1024
