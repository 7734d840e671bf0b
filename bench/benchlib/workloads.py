"""The micro-benchmark workloads: what bench/micro.c runs inside the
container for each, at full and at short size, and the figures it prints."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    key: str  # unique name in the report
    label: str
    unit: str
    lower_is_better: bool = True
    # False for figures a ratio says nothing about (counts, noisy host-wide
    # figures that can be negative).
    ratio: bool = True


@dataclass(frozen=True)
class Workload:
    name: str
    about: str  # what it does at full size, for the report
    full: tuple  # micro's arguments at full size
    short: tuple  # ... in the short mode (a smoke test: one small iteration)
    # micro's result names -> the metrics they fill
    figures: tuple

    def args(self, short):
        return ["/bin/micro", *(self.short if short else self.full)]


def _m(key, label, unit, lower=True):
    return Metric(key, label, unit, lower)



WORKLOADS = [
    Workload("getpid", "50000 raw getpid system calls in a loop", ("getpid", "50000"), ("getpid", "1000"),
             (("getpid", _m("getpid", "getpid", "ns")),)),
    Workload("clock", "200000 clock_gettime(CLOCK_MONOTONIC) through glibc (the vDSO, where there is one)", ("clock", "200000"), ("clock", "1000"),
             (("clock_gettime", _m("clock", "clock_gettime (vDSO)", "ns")),)),
    Workload("open", "5000 times open, read 64 bytes, close /etc/passwd (rootfs)", ("open", "5000"), ("open", "100"),
             (("open+read+close", _m("open", "open+read+close (small file)", "us")),)),
    Workload("stat", "5000 stat of /etc/passwd (rootfs)", ("stat", "5000"), ("stat", "100"),
             (("stat", _m("stat", "stat", "us")),)),
    Workload("pipe", "50 round trips of 1 MiB: parent writes it into a pipe, the child reads it and writes it back through another", ("pipe", "50"), ("pipe", "2"),
             (("pipe-1MiB-roundtrip", _m("pipe", "pipe ping-pong, 1 MiB round trip", "ms")),)),
    Workload("fork", "200 fork + child _exit + waitpid", ("fork", "200"), ("fork", "5"),
             (("fork+wait", _m("fork", "fork+wait", "us")),)),
    Workload("exec", "100 fork + exec of /bin/true (static busybox) + waitpid", ("exec", "100"), ("exec", "3"),
             (("fork+exec", _m("exec", "fork+exec /bin/true+wait", "us")),)),
    Workload("io-tmp", "write a 256 MiB file to /tmp (a tmpfs mount) 1 MiB at a time, close, read it back and check it", ("io", "/tmp", "256"), ("io", "/tmp", "4"),
             (("write", _m("tmp-write", "sequential write, /tmp (tmpfs)", "MiB/s", False)),
              ("read", _m("tmp-read", "sequential read, /tmp (tmpfs)", "MiB/s", False)))),
    Workload("io-rootfs", "the same in /data, a directory of the rootfs (a host directory)", ("io", "/data", "256"), ("io", "/data", "4"),
             (("write", _m("rootfs-write", "sequential write, rootfs", "MiB/s", False)),
              ("read", _m("rootfs-read", "sequential read, rootfs", "MiB/s", False)))),
    Workload("mmap", "5 times: mmap 64 MiB anonymous, write one byte per page, munmap", ("mmap", "64", "5"), ("mmap", "4", "1"),
             (("mmap+touch+munmap", _m("mmap", "mmap+touch+munmap of 64 MiB", "ms")),)),
    Workload("python", "5 runs of Debian's `python3 -c pass` (dynamically linked, its standard library in the rootfs)", ("spawn", "5", "/usr/bin/python3", "-c", "pass"),
             ("spawn", "1", "/usr/bin/python3", "-c", "pass"),
             (("spawn", _m("python", "python3 -c pass", "ms")),)),
    Workload("shell", "one bash script running 200 short commands (Debian's dynamic coreutils: dirname, cat, wc, rm; bench/commands.sh)", ("spawn", "1", "/bin/bash", "/bin/commands.sh"),
             ("spawn", "1", "/bin/bash", "/bin/commands.sh"),
             (("spawn", _m("shell", "shell script, 200 commands", "ms")),)),
]


def parse(workload, output):
    """{metric: value} from micro's output; raises ValueError when a figure
    is missing (the workload did not run to the end)."""
    got = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0] == "result":
            got[parts[1]] = float(parts[2])
    out = {}
    for name, metric in workload.figures:
        if name not in got:
            raise ValueError(f"no '{name}' figure in the output {output.strip()!r}")
        out[metric] = got[name]
    return out
