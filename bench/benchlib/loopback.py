"""The loopback workloads (issue 13): a server and its client both in one
container, over 127.0.0.1: redis-server with redis-benchmark, nginx with
wrk, Python's http.server with wrk. The same servers and client parameters
as the network workloads (benchlib/network.py), whose clients run on the
host, so the figures compare; here nothing crosses a veth, and the client's
own system calls go through the runtime too.

bench/loopback.sh, the container's process, starts the server, checks it,
runs the client, checks again and prints the client's output; this module
parses it with the host-side parsers (which fail on any error a client
counts). The container gets a network namespace with only loopback, up: what
`docker run --network=none` gives (a fresh namespace's lo is down, and runc
leaves it so). runsc runs with `--network=none` (its own stack, loopback
only), sandbox with its default (the Sentry's stack; loopback never leaves
the Sentry)."""

import os
import re
from dataclasses import dataclass

from . import network, procs
from .network import NetError
from .workloads import Metric

SCRIPT = "/bin/loopback.sh"

LO_REDIS_GET = Metric("lo-redis-get", "redis GET over loopback (redis-benchmark in the container, 4 connections)",
                      "requests/s", False)
LO_REDIS_SET = Metric("lo-redis-set", "redis SET over loopback (redis-benchmark in the container, 4 connections)",
                      "requests/s", False)
LO_HTTP_RPS = Metric("lo-http-rps", "nginx GET / over loopback (wrk in the container, 4 connections)",
                     "requests/s", False)
LO_HTTP_P99 = Metric("lo-http-p99", "nginx GET / p99 latency over loopback (wrk in the container, 4 connections)",
                     "ms", True)
LO_PYHTTP_RPS = Metric("lo-pyhttp-rps", "Python http.server GET / over loopback (wrk in the container, "
                       "4 connections)", "requests/s", False)

METRICS = (LO_REDIS_GET, LO_REDIS_SET, LO_HTTP_RPS, LO_HTTP_P99, LO_PYHTTP_RPS)
# Issue 13's targets: a share of runc's requests/s.
REDIS = ("lo-redis-get", "lo-redis-set")
HTTP = ("lo-http-rps",)


def _redis(sections):
    got = network.parse_redis_benchmark(_section(sections, "redis-benchmark"))
    return {LO_REDIS_GET: got["GET"], LO_REDIS_SET: got["SET"]}


def _nginx(sections):
    rps, p99 = network.parse_wrk(_section(sections, "wrk"))
    return {LO_HTTP_RPS: rps, LO_HTTP_P99: p99}


def _pyhttp(sections):
    rps, _ = network.parse_wrk(_section(sections, "wrk"))
    return {LO_PYHTTP_RPS: rps}


@dataclass(frozen=True)
class LoopWorkload:
    name: str
    about: str
    kind: str  # loopback.sh's first argument
    parse: object  # {section: text} -> {metric: value}

    def args(self, short):
        size = network.redis_requests(short) if self.kind == "redis" else network.wrk_seconds(short)
        return ["/bin/sh", SCRIPT, self.kind, str(size), str(network.WRK_CONNECTIONS)]


LOOP_WORKLOADS = [
    LoopWorkload(
        "loopback redis", "redis-server (no persistence, protected mode off) and, in the same container, "
        "`redis-benchmark -h 127.0.0.1 -c 4 -t set,get -n 20000` (1000 short); SET then GET checked "
        "before (redis-cli), the benchmark's key checked after", "redis", _redis),
    LoopWorkload(
        "loopback http", "nginx as in *network http* (stock master/worker configuration, access log to "
        "the container's stdout) and, in the same container, wrk on http://127.0.0.1:80/, 2 threads, "
        "4 keep-alive connections, 5 s (1 s short), requests/s and the 99th percentile latency; the page's "
        "bytes are checked before and after (busybox wget)", "nginx", _nginx),
    LoopWorkload(
        "loopback pyhttp", "`python3 -m http.server` (threads; HTTP/1.0, a connection per request, a log "
        "line per request to stderr) serving the same page, and wrk as for nginx on "
        "http://127.0.0.1:8000/, requests/s; the page's bytes checked before and after", "pyhttp", _pyhttp),
]


def _sections(output):
    """{name: text} of the blocks loopback.sh printed between '=== NAME'
    and '=== end' (anything else on stdout, nginx's access log, around)."""
    return {m.group(1): m.group(2) for m in re.finditer(r"^=== (\S+)\n(.*?)^=== end$", output, re.M | re.S)}


def _section(sections, name):
    if name not in sections:
        raise NetError(f"loopback.sh printed no '{name}' output")
    return sections[name]


def _failure_lines(output):
    """loopback.sh's own lines (its FAILED line and the server's log tail)."""
    return " | ".join(line for line in output.splitlines() if line.startswith("loopback: "))[-600:]


def run(rt, w, rootfs, work, prefix, short, timeout):
    """Runs workload `w` under `rt` (`RUNTIME run`) in a namespace with only
    loopback; returns its figures or raises NetError/RuntimeError_."""
    offset = rt.log_size()
    with network.Netns(prefix, veth=False) as ns:
        b = network.server_bundle(os.path.join(work, "loopbundles", rt.new_id()), w.args(short), rootfs,
                                  ns.path())
        try:
            status, out = rt.run(b, timeout)
        finally:
            procs.reap_all(timeout=5)
    if status != 0:
        raise NetError(f"{w.name}: exit status {status}: {_failure_lines(out) or out.strip()[-300:]!r} "
                       f"(runtime log: {rt.log_since(offset)!r})")
    try:
        return w.parse(_sections(out))
    except NetError as e:
        raise NetError(f"{w.name}: {e}") from e
