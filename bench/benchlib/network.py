"""The network workloads (issue 12): a server in the container (iperf3,
nginx, redis-server), a client on the host (iperf3, wrk, redis-benchmark, a
connect+close loop), over a veth pair between the host and a network
namespace the bench makes for that one container.

The namespace is made as Docker's bridge driver leaves it after its prestart
hook (and as tests/src/netns.rs does): eth0 inside with 10.215.N.2/24 and a
default route via the host's end, 10.215.N.1. A fresh namespace per
container: the sandbox (and runsc) take eth0's addresses from the host
kernel while they run, so a used namespace is not the one Docker would give.
Every address is on this machine; nothing leaves it."""

import http.client
import json
import os
import re
import socket
import subprocess
import time
from dataclasses import dataclass

from . import bundle, procs
from .workloads import Metric

# Docker's default capability set: nginx's master binds port 80 and sets its
# workers' user (www-data), as under `docker run`.
CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]

# The page nginx serves (bench/netroot.sh writes it); the bench checks the
# bytes every runtime sends.
PAGE = "/var/www/html/index.html"


class NetError(Exception):
    """A network workload failed to run or gave a wrong result."""


def _ip(*args, check=True):
    out = subprocess.run(["ip", *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, timeout=30)
    if check and out.returncode != 0:
        raise NetError(f"ip {' '.join(args)}: {out.stderr.decode(errors='replace').strip()}")
    return out.stdout.decode(errors="replace")


class Netns:
    """A namespace with eth0 (10.215.N.2/24, default route) and the host's
    end of the veth (10.215.N.1/24); with `veth=False`, only loopback, up
    (what `docker run --network=none` gives: a fresh namespace's lo is down,
    and runc does not bring it up). A context manager: removed on exit,
    whatever happened."""

    _next = 0

    def __init__(self, prefix, veth=True):
        self.prefix = prefix
        self.veth = veth
        self.name = self.host_if = None

    def __enter__(self):
        if not self.veth:
            Netns._next += 1
            self.name = f"{self.prefix}-{Netns._next}"
            try:
                _ip("netns", "add", self.name)
                _ip("netns", "exec", self.name, "ip", "link", "set", "lo", "up")
            except BaseException:
                self.__exit__(None, None, None)
                raise
            return self
        # A subnet no interface of the host has (the lead's tests use
        # 10.213.N; another bench run could hold some of 10.215.N).
        used = _ip("-o", "-4", "addr", "show")
        for _ in range(250):
            Netns._next += 1
            n = Netns._next % 250 + 1
            if f" 10.215.{n}." not in used:
                break
        else:
            raise NetError("no free 10.215.N.0/24 subnet on the host")
        self.name = f"{self.prefix}-{Netns._next}"
        self.host_if = f"{self.prefix}v{Netns._next}"
        if len(self.host_if) > 15:  # the kernel's limit (IFNAMSIZ - 1)
            raise NetError(f"interface name {self.host_if} is too long: use a shorter prefix")
        self.host_ip, self.ip = f"10.215.{n}.1", f"10.215.{n}.2"
        try:
            _ip("netns", "add", self.name)
            _ip("link", "add", self.host_if, "type", "veth", "peer", "name", "eth0", "netns", self.name)
            _ip("addr", "add", f"{self.host_ip}/24", "dev", self.host_if)
            _ip("link", "set", self.host_if, "up")
            for args in (("addr", "add", f"{self.ip}/24", "dev", "eth0"), ("link", "set", "eth0", "up"),
                         ("link", "set", "lo", "up"), ("route", "add", "default", "via", self.host_ip)):
                _ip("netns", "exec", self.name, "ip", *args)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def path(self):
        return f"/var/run/netns/{self.name}"

    def __exit__(self, *_):
        # Deleting the namespace destroys eth0 and with it the host's end,
        # once the container's processes (which hold the namespace) are
        # gone; the explicit link deletion covers a namespace still held.
        if self.host_if:
            _ip("link", "del", self.host_if, check=False)
        _ip("netns", "del", self.name, check=False)


def sweep(prefix):
    """Removes namespaces and links a killed run of this prefix left."""
    for line in _ip("netns", "list", check=False).splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(prefix + "-"):
            _ip("netns", "del", name, check=False)
    for m in re.finditer(r"^\d+: ([^:@]+)", _ip("-o", "link", "show", check=False), re.M):
        if re.fullmatch(re.escape(prefix) + r"v\d+", m.group(1)):
            _ip("link", "del", m.group(1), check=False)


def server_bundle(directory, args, rootfs, netns_path, cwd="/"):
    """A bundle running `args` in the namespace at `netns_path`."""
    os.makedirs(directory, exist_ok=True)
    cfg = bundle.config(args, rootfs)
    cfg["process"]["cwd"] = cwd
    cfg["process"]["capabilities"] = {k: list(CAPS) for k in ("bounding", "effective", "permitted")}
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "network"]
    cfg["linux"]["namespaces"].append({"type": "network", "path": netns_path})
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    return directory


def _wait_listening(ip, port, timeout, alive):
    """Connects until the server answers (then closes): the container's
    start returns before its server listens, and a sandbox takes the
    interface over as it boots."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if not alive():
            raise NetError(f"the server exited before listening on {ip}:{port}")
        try:
            socket.create_connection((ip, port), timeout=2).close()
            return
        except OSError as e:
            last = e
            time.sleep(0.05)
    raise NetError(f"nothing listens on {ip}:{port} after {timeout} s (last: {last})")


def _client(cmd, timeout):
    """Runs a host-side client; returns its stdout or raises with stderr."""
    try:
        out = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise NetError(f"{' '.join(cmd)}: no answer in {timeout} s") from e
    text = out.stdout.decode(errors="replace")
    if out.returncode != 0:
        err = (out.stderr.decode(errors="replace").strip() or text.strip())[-300:]
        raise NetError(f"{' '.join(cmd)} exited {out.returncode}: {err!r}")
    return text


# --- the clients -----------------------------------------------------------

def _iperf(ip, short, reverse):
    # Short: a fixed amount (iperf3 counts whole seconds only), small enough
    # for the debug build.
    amount = ["-n", "16M"] if short else ["-t", "5"]
    cmd = ["iperf3", "-c", ip, *amount, "-J", "--connect-timeout", "5000"]
    if reverse:
        cmd.append("-R")
    # iperf3's server closes its listener after each test and opens it
    # again: a client that comes too early is refused or reset before the
    # test starts (runc's and runsc's containers too). That is no result:
    # try again, a few times. iperf3 reports it either by its exit status
    # or, with -J, in its JSON's "error" with status 0. Errors once the
    # test runs are failures.
    early = re.compile(r"unable to (connect to server|receive control message|send cookie)")
    for attempt in range(5):
        try:
            text = _client(cmd, 120)
        except NetError as e:
            if attempt == 4 or not early.search(str(e)):
                raise
            time.sleep(0.3)
            continue
        try:
            d = json.loads(text)
        except ValueError as e:
            raise NetError(f"iperf3 printed no JSON: {text[-200:]!r}") from e
        error = d.get("error")
        if not error:
            break
        if attempt == 4 or not early.search(str(error)):
            raise NetError(f"iperf3: {error}")
        time.sleep(0.3)
    end = d.get("end", {})
    got, sent = end.get("sum_received", {}), end.get("sum_sent", {})
    # The receiver must have got the bytes: a stack that drops data makes
    # the sender's count larger than the receiver's only transiently.
    if not got.get("bytes"):
        raise NetError(f"iperf3 moved no data: {json.dumps(end)[:200]}")
    if sent.get("bytes", 0) < got["bytes"]:
        raise NetError(f"iperf3: received {got['bytes']} bytes, more than the {sent.get('bytes')} sent")
    return got["bits_per_second"] / 1e6


def _iperf_ready(ip, port, timeout, alive):
    """Readiness for iperf3: a tiny test that runs to its end. A bare
    connect (what the other servers get) is a failed test to iperf3, which
    then closes and reopens its listener: a client connecting meanwhile is
    refused or reset, natively too, only less often."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if not alive():
            raise NetError(f"iperf3 exited before listening on {ip}:{port}")
        try:
            _client(["iperf3", "-c", ip, "-p", str(port), "-n", "1K", "--connect-timeout", "2000"], 30)
            return
        except NetError as e:
            last = e
            time.sleep(0.2)
    raise NetError(f"no iperf3 test ran on {ip}:{port} in {timeout} s (last: {last})")


def tcp_clients(ip, short):
    return {TCP_IN: _iperf(ip, short, reverse=False), TCP_OUT: _iperf(ip, short, reverse=True)}


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}
# wrk's keep-alive connections (2 threads), on the host and in the
# container alike (benchlib/loopback.py).
WRK_CONNECTIONS = 4


def _wrk(ip, secs, conns):
    return parse_wrk(_client(["wrk", "-t", "2", "-c", str(conns), "-d", f"{secs}s", "--latency",
                              f"http://{ip}/"], secs + 60))


def parse_wrk(text):
    """(requests/s, p99 latency in ms) from the output of `wrk --latency`;
    raises NetError when it has no figures or any request went wrong."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\b", text, re.M)
    total = re.search(r"^\s+(\d+) requests in", text, re.M)
    if not (rps and p99 and total) or int(total.group(1)) == 0:
        raise NetError(f"wrk: no figures in {text.strip()[-300:]!r}")
    # A wrong answer or a broken connection is a failure; a slow one (wrk's
    # "timeout" count) is only a timing.
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if bad:
        raise NetError(f"wrk: {bad.group(1)} responses were not 2xx/3xx")
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+)", text)
    if errs and any(int(x) for x in errs.groups()):
        raise NetError(f"wrk: socket errors: {errs.group(0)}")
    return float(rps.group(1)), float(p99.group(1)) * _UNITS[p99.group(2)]


def _check_page(ip, rootfs):
    with open(rootfs + PAGE, "rb") as f:
        want = f.read()
    c = http.client.HTTPConnection(ip, 80, timeout=30)
    try:
        c.request("GET", "/")
        r = c.getresponse()
        body = r.read()
    finally:
        c.close()
    if r.status != 200 or body != want:
        raise NetError(f"GET / answered {r.status} with {len(body)} bytes, not the {len(want)} of {PAGE}")


def _connect_loop(ip, port, secs):
    """Sequential connect + close for `secs` seconds: the handshake's round
    trip plus what it costs each side. Any failed connect is a failure."""
    n = 0
    deadline = time.monotonic() + secs
    t0 = time.monotonic()
    while time.monotonic() < deadline:
        try:
            socket.create_connection((ip, port), timeout=10).close()
        except OSError as e:
            raise NetError(f"connect #{n + 1} to {ip}:{port} failed: {e}") from e
        n += 1
    return n / (time.monotonic() - t0)


def wrk_seconds(short):
    return 1 if short else 5


def http_clients(ip, short, rootfs):
    _check_page(ip, rootfs)
    rps, p99 = _wrk(ip, wrk_seconds(short), WRK_CONNECTIONS)
    rate = _connect_loop(ip, 80, 0.5 if short else 3)
    _check_page(ip, rootfs)  # still serving the same bytes
    return {HTTP_RPS: rps, HTTP_P99: p99, CONN_RATE: rate}


def _redis(ip, *cmd):
    """One command in RESP; returns the raw reply."""
    req = f"*{len(cmd)}\r\n" + "".join(f"${len(c)}\r\n{c}\r\n" for c in cmd)
    with socket.create_connection((ip, 6379), timeout=30) as s:
        s.sendall(req.encode())
        reply = b""
        while not reply.endswith(b"\r\n") or (reply.startswith(b"$") and reply.count(b"\r\n") < 2
                                              and not reply.startswith(b"$-1")):
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    return reply


def redis_requests(short):
    return 1000 if short else 20000


def parse_redis_benchmark(text):
    """{"SET": requests/s, "GET": requests/s} from `redis-benchmark -t
    set,get --csv`; raises NetError when a figure is missing or zero."""
    got = {}
    for line in text.splitlines():
        cells = [c.strip('"') for c in line.split(",")]
        if len(cells) >= 2 and cells[0] in ("SET", "GET"):
            got[cells[0]] = float(cells[1])
    if set(got) != {"SET", "GET"} or not all(got.values()):
        raise NetError(f"redis-benchmark: no SET and GET figures in {text.strip()[-300:]!r}")
    return got


def redis_clients(ip, short):
    if _redis(ip, "SET", "bench:check", "sandbox") != b"+OK\r\n" or \
            _redis(ip, "GET", "bench:check") != b"$7\r\nsandbox\r\n":
        raise NetError("redis: SET then GET bench:check did not give the value back")
    text = _client(["redis-benchmark", "-h", ip, "-p", "6379", "-c", "4", "-n", str(redis_requests(short)),
                    "-t", "set,get", "--csv"], 300)
    got = parse_redis_benchmark(text)
    # redis-benchmark's SET writes 3 random bytes (-d 3) to this literal key
    # (__rand_int__ is expanded only with -r).
    v = _redis(ip, "GET", "key:__rand_int__")
    if not (v.startswith(b"$3\r\n") and len(v) == 9 and v.endswith(b"\r\n")):
        raise NetError("redis: the benchmark's key does not hold what it SET")
    return {REDIS_GET: got["GET"], REDIS_SET: got["SET"]}


# --- the workloads ---------------------------------------------------------

TCP_IN = Metric("tcp-in", "TCP throughput host → container (iperf3)", "Mbit/s", False)
TCP_OUT = Metric("tcp-out", "TCP throughput container → host (iperf3 -R)", "Mbit/s", False)
HTTP_RPS = Metric("http-rps", "nginx GET / (wrk, 4 connections)", "requests/s", False)
HTTP_P99 = Metric("http-p99", "nginx GET / p99 latency (wrk, 4 connections)", "ms", True)
CONN_RATE = Metric("conn-rate", "TCP connect+close to nginx, one at a time", "connections/s", False)
REDIS_GET = Metric("redis-get", "redis GET (redis-benchmark, 4 connections)", "requests/s", False)
REDIS_SET = Metric("redis-set", "redis SET (redis-benchmark, 4 connections)", "requests/s", False)

METRICS = (TCP_IN, TCP_OUT, HTTP_RPS, HTTP_P99, CONN_RATE, REDIS_GET, REDIS_SET)
# Throughputs: issue 12 wants at least half of runc's.
THROUGHPUT = ("tcp-in", "tcp-out")


@dataclass(frozen=True)
class NetWorkload:
    name: str
    about: str
    args: tuple  # the server's command line in the container
    cwd: str
    port: int
    clients: object  # (ip, short, rootfs) -> {metric: value}
    ready: object = None  # (ip, port, timeout, alive) -> None; default: a connect


NET_WORKLOADS = [
    NetWorkload(
        "tcp", "`iperf3 -s` in the container; `iperf3 -c` on the host for 5 s (16 MiB short) "
        "sending to it, then with -R receiving from it; the receiver's figure",
        ("/usr/bin/iperf3", "-s"), "/", 5201, lambda ip, short, _r: tcp_clients(ip, short), _iperf_ready),
    NetWorkload(
        "http", "Debian's nginx, stock master/worker configuration (`worker_processes auto`, "
        "access log to the container's stdout), serving an 800-byte page: wrk on the host, 2 threads, "
        "4 keep-alive connections, 5 s (1 s short), requests/s and the 99th percentile latency; then "
        "3 s (0.5 s short) of sequential connect+close from the host (Python) to port 80; the page's "
        "bytes are checked before and after", ("/usr/sbin/nginx",), "/", 80, http_clients),
    NetWorkload(
        "redis", "redis-server (no persistence, protected mode off) in the container; "
        "`redis-benchmark -c 4 -t set,get -n 20000` (1000 short) on the host; SET then GET "
        "checked before, the benchmark's key checked after",
        ("/usr/bin/redis-server", "--protected-mode", "no", "--save", "", "--appendonly", "no"),
        "/data", 6379, lambda ip, short, _r: redis_clients(ip, short)),
]


def run(rt, w, rootfs, work, prefix, short, timeout):
    """Runs workload `w` under `rt` in a namespace of its own; returns its
    figures or raises NetError/RuntimeError_ with what went wrong."""
    offset = rt.log_size()
    cid = rt.new_id()
    pid_file = os.path.join(work, cid + ".pid")
    with Netns(prefix) as ns:
        b = server_bundle(os.path.join(work, "netbundles", cid), w.args, rootfs, ns.path(), w.cwd)
        try:
            rt.create(b, cid, pid_file)
            rt.start(cid)
            with open(pid_file) as f:
                pid = int(f.read().strip())
            (w.ready or _wait_listening)(ns.ip, w.port, 30 if short else 120, lambda: _alive(pid))
            return w.clients(ns.ip, short, rootfs)
        except NetError as e:
            raise NetError(f"{e} (runtime log: {rt.log_since(offset)!r})") from e
        finally:
            rt.kill(cid)
            procs.wait_gone(timeout=20)
            rt.force_delete(cid, quiet=True)
            procs.reap_all(timeout=5)


def _alive(pid):
    # Reap first: an exited container process is our zombie (we are its
    # subreaper) and would look alive. No client runs meanwhile.
    procs.reap_all(timeout=0)
    return procs.alive(pid)


def check_tools():
    """The host-side clients; None or what is missing."""
    missing = [t for t in ("ip", "iperf3", "wrk", "redis-benchmark") if not _which(t)]
    return f"{', '.join(missing)} missing (tests/setup.sh installs them)" if missing else None


def _which(tool):
    return any(os.access(os.path.join(d, tool), os.X_OK) for d in os.environ.get("PATH", "").split(":") if d)


