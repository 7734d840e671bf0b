"""The benchmark suite's driver; bench/run.sh builds what it needs and runs
it. Runs every workload under every runtime, interleaved: each round runs
each workload once per runtime (the runtimes' order rotates from round to
round), so noise on the machine hits all runtimes alike. Prints a table;
in the full mode writes BENCHMARKS.md. Exits non-zero when a workload
failed to run or gave a wrong result, never because of a timing."""

import argparse
import datetime
import os
import signal
import sys
import time

sys.dont_write_bytecode = True

from benchlib import bundle, container, loopback, network, procs, report, runtimes, stats, workloads  # noqa: E402
from benchlib.docker import DockerError, Dockerd  # noqa: E402
from benchlib.runtimes import RuntimeError_  # noqa: E402


CONTAINER_MEASUREMENTS = [
    ("workloads", "each runs as its own container (`RUNTIME run`) of one root filesystem: the tests' "
     "static busybox plus bench/micro.c (static), Debian's python3, bash and coreutils with their "
     "libraries; /tmp is a tmpfs mount; the program times itself (CLOCK_MONOTONIC) and checks its "
     "results, so container start-up is not in these figures"),
    ("life cycle", "`RUNTIME create` + `start` + wait for the container's /bin/true to exit + `delete`, "
     "timed from outside (the driver is the child subreaper, as containerd's shim is, and waits for "
     "the container's process)"),
    ("docker run", "`docker run --rm --network=none --runtime=R IMG true` through a private dockerd "
     "(own socket, data root and containerd) with every runtime registered; IMG is `docker import` "
     "of the busybox rootfs"),
    ("idle memory", "a container running `sleep`, 1 s after `start`: the sum over every host process "
     "the container left (the driver's descendants: runc's container process; runsc's sandbox, gofer "
     "and their children; sandbox's Sentry and stubs) of VmRSS, and of PSS (which splits pages shared "
     "between processes, such as the Sentry's memory file mapped into its stubs), peak of 10 samples"),
]
NET_SECTION = "Network (server in the container, client on the host)"
NET_ABOUT = (
    "each server runs as its own container (`RUNTIME create` + `start`, killed after) of one root "
    "filesystem (bench/netroot.sh: the nginx image of tests/docker/images.sh plus redis-server and "
    "iperf3) in a network namespace the bench makes for it: a veth pair, eth0 inside with "
    "10.215.N.2/24 and a default route, the host's end 10.215.N.1/24, N unique per container; the "
    "clients run on the host against 10.215.N.2 once the port accepts connections. runsc runs with "
    "its own network stack (`--network=sandbox`), sandbox with its own (the default), both taking over "
    "the namespace's eth0; runc's container uses the host kernel's stack in that namespace. The host's "
    "clients share the machine's cores with the server, so the figures measure the pair"
)
LOOP_SECTION = "Loopback (server and client in one container)"
LOOP_ABOUT = (
    "bench/loopback.sh runs as the container (`RUNTIME run`) of the network workloads' root filesystem, "
    "which also holds the clients (wrk, redis-benchmark, redis-cli) and Python: it starts the server, "
    "waits until it answers, runs the client against 127.0.0.1 with the parameters of the host-side "
    "client, checks, stops the server and prints the client's output, which the bench parses (any "
    "socket error, non-2xx answer or missing figure fails). The container's network namespace has only "
    "loopback, up, as `docker run --network=none` gives; runsc runs with `--network=none`, sandbox with "
    "its default stack. Client and server share the machine's cores, so the figures measure the pair"
)
SCALE_ABOUT = (
    "{n} containers running `sleep`, each created and started by its own thread, all at once: the "
    "time until every `start` returned, the growth of the host's MemTotal - MemAvailable (everything "
    "else on the machine moves it too), and the PSS of the containers' host processes"
)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--short", action="store_true", help="one round, small sizes, no docker, no scale")
    p.add_argument("--rounds", type=int, help="rounds (default 5; 1 with --short)")
    p.add_argument("--runtimes", help="comma-separated subset, e.g. runc,sandbox-seccomp")
    p.add_argument("--docker", choices=["yes", "no"], help="docker run per runtime (default: yes unless --short)")
    p.add_argument("--scale", type=int, help="containers started at once (default 50; 0 = skip; skipped with --short)")
    p.add_argument("--scale-rounds", type=int, default=2)
    p.add_argument("--output", help="the Markdown report (default: BENCHMARKS.md at the repo root unless --short)")
    p.add_argument("--net", choices=["yes", "no", "only", "loopback"], default="yes",
                   help="the network workloads, client on the host and over loopback: with the others "
                   "(yes), not at all, or only them (no micro workloads, life cycle, memory, scale or docker); "
                   "loopback: only the loopback ones")
    p.add_argument("--net-prefix", default=f"sbb{os.getpid() % 100000}",
                   help="names of the bench's network namespaces (PREFIX-N) and host veths (PREFIXvN)")
    p.add_argument("--work", required=True, help="work directory (rootfs/, netroot/, busybox.tar)")
    p.add_argument("--sandbox", required=True, help="the sandbox binary")
    p.add_argument("--repo", required=True)
    return p.parse_args()


def run_workload(rt, w, bundle_dir, timeout):
    """Runs workload `w` under `rt`; returns its figures or raises."""
    offset = rt.log_size()
    try:
        status, out = rt.run(bundle_dir, timeout)
    finally:
        procs.reap_all(timeout=0)
    if status != 0:
        raise RuntimeError_(
            f"exit status {status}, output {out.strip()[-200:]!r}, log: {rt.log_since(offset)!r}"
        )
    return workloads.parse(w, out)


def measure(rep, tag, rt, name, section, attempt_fn):
    """Runs `attempt_fn` (which returns {metric: value}); a failure is
    retried once: a retry that passes is reported as a flaky failure (a
    note), one that fails again fails."""
    figures, first = None, None
    for attempt in (1, 2):
        try:
            figures = attempt_fn()
            break
        except (RuntimeError_, network.NetError, ValueError) as e:
            if attempt == 1:
                first = str(e)
                log(f"{tag} {rt.name:16} {name} FAILED, retrying once: {e}")
            else:
                rep.fail(rt.name, name, f"{first}; again: {e}")
    if figures is None:
        return
    if first:
        rep.notes.append(f"flaky: {rt.name} {name} failed once, then passed: {first}")
    for m, v in figures.items():
        rep.add(section, m, rt.name, v)
        log(f"{tag} {rt.name:16} {m.label}: {stats.fmt(v)} {m.unit}")


def rotate(items, n):
    n %= max(len(items), 1)
    return items[n:] + items[:n]


def main():
    a = parse_args()
    rounds = a.rounds or (1 if a.short else 5)
    micro, net = a.net not in ("only", "loopback"), a.net != "no"
    host_net = net and a.net != "loopback"
    docker = micro and (a.docker or ("no" if a.short else "yes")) == "yes"
    scale_n = 0 if not micro else a.scale if a.scale is not None else (0 if a.short else 50)
    output = a.output or (None if a.short else os.path.join(a.repo, "BENCHMARKS.md"))
    rootfs = os.path.join(a.work, "rootfs")
    netroot = os.path.join(a.work, "netroot")
    started = datetime.datetime.now(datetime.timezone.utc)
    load_start = os.getloadavg()

    procs.become_subreaper()
    only = a.runtimes.split(",") if a.runtimes else None
    found, notes = runtimes.discover(a.sandbox, os.path.join(a.work, "state"), only)
    rep = report.Report([rt.name for rt in found])
    rep.notes += notes
    if host_net:
        why = network.check_tools()
        if why:
            log(f"bench: the network workloads cannot run: {why}")
            return 2

    # Each runtime must run a trivial workload before it is measured.
    usable = []
    for rt in found:
        why = runtimes.preflight(rt, rootfs, a.work)
        if why is None:
            usable.append(rt)
        elif rt.name == "runc":
            log(f"bench: the runc CONTROL cannot run the bench's rootfs: {why}")
            return 2
        elif rt.name == "runsc":
            # gVisor may not run on every machine (CI): say so, go on.
            rep.notes.append(f"runsc cannot run here, left out: {why}")
            log(f"NOTE: runsc cannot run here, left out: {why}")
        else:
            rep.fail(rt.name, "preflight (micro getpid 10)", why)
    rep.runtimes = [rt.name for rt in usable]

    b = os.path.join(a.work, "bundles")
    wl_bundles = {
        w.name: bundle.make(os.path.join(b, w.name), w.args(a.short), rootfs) for w in workloads.WORKLOADS
    }
    true_bundle = bundle.make(os.path.join(b, "true"), ["/bin/true"], rootfs)
    sleep_bundle = bundle.make(os.path.join(b, "sleep"), ["/bin/sleep", "100000"], rootfs)
    timeout = 120 if a.short else 900

    net_secs = 0.0
    for r in range(rounds):
        order = rotate(usable, r)
        tag = f"[round {r + 1}/{rounds}]"
        for w in workloads.WORKLOADS if micro else []:
            for rt in order:
                measure(rep, tag, rt, w.name, "Workloads (timed inside the container)",
                        lambda: run_workload(rt, w, wl_bundles[w.name], timeout))
        t_net = time.monotonic()
        for w in network.NET_WORKLOADS if host_net else []:
            for rt in order:
                nrt = rt.networked()
                measure(rep, tag, rt, f"network {w.name}", NET_SECTION,
                        lambda: network.run(nrt, w, netroot, a.work, a.net_prefix, a.short, timeout))
        for w in loopback.LOOP_WORKLOADS if net else []:
            for rt in order:
                measure(rep, tag, rt, w.name, LOOP_SECTION,
                        lambda: loopback.run(rt, w, netroot, a.work, a.net_prefix, a.short, timeout))
        net_secs += time.monotonic() - t_net
        if not micro:
            continue
        for rt in order:
            try:
                ms = container.lifecycle(rt, true_bundle, a.work)
                rep.add("Container life cycle", report.LIFECYCLE, rt.name, ms)
                log(f"{tag} {rt.name:16} life cycle: {ms:.0f} ms")
            except RuntimeError_ as e:
                rep.fail(rt.name, "life cycle", str(e))
        for rt in order:
            try:
                rss, pss, n = container.idle_memory(rt, sleep_bundle, a.work)
                rep.add("Memory of an idle container", report.IDLE_RSS, rt.name, rss)
                rep.add("Memory of an idle container", report.IDLE_PSS, rt.name, pss)
                rep.add("Memory of an idle container", report.IDLE_PROCS, rt.name, n)
                log(f"{tag} {rt.name:16} idle: RSS {rss:.1f} MiB, PSS {pss:.1f} MiB, {n} processes")
            except RuntimeError_ as e:
                rep.fail(rt.name, "idle memory", str(e))
        if scale_n and r < a.scale_rounds:
            for rt in order:
                try:
                    secs, used, pss = container.scale(rt, sleep_bundle, a.work, scale_n)
                    sec = f"{scale_n} containers started at once"
                    rep.add(sec, report.SCALE_TIME, rt.name, secs)
                    rep.add(sec, report.SCALE_HOST, rt.name, used)
                    rep.add(sec, report.SCALE_PSS, rt.name, pss)
                    log(f"{tag} {rt.name:16} {scale_n} at once: {secs:.1f} s, host +{used:.0f} MiB, PSS {pss:.0f} MiB")
                except RuntimeError_ as e:
                    rep.fail(rt.name, f"scale ({scale_n} containers)", str(e))

    if docker:
        try:
            with Dockerd(a.work, usable, os.path.join(a.work, "busybox.tar")) as d:
                for r in range(rounds):
                    for rt in rotate(usable, r):
                        try:
                            ms = d.run_true(rt.name)
                            rep.add("Container life cycle", report.DOCKER_RUN, rt.name, ms)
                            log(f"[round {r + 1}/{rounds}] {rt.name:16} docker run: {ms:.0f} ms")
                        except DockerError as e:
                            rep.fail(rt.name, "docker run --rm IMG true", str(e))
        except DockerError as e:
            rep.fail("docker", "dockerd", str(e))
        procs.reap_all(timeout=5)

    rep.print_text()
    if output:
        load_end = os.getloadavg()
        header = [
            f"Written by `bench/run.sh` on {started:%Y-%m-%d %H:%M} UTC: {rounds} rounds, "
            f"runtimes interleaved (each round runs every workload once per runtime, "
            f"the runtimes' order rotating).",
            "",
            *[f"- {line}" for line in report.machine(a.sandbox, a.repo)],
            f"- load average (1 min) at the start {load_start[0]:.2f}, at the end {load_end[0]:.2f}"
            + (" (others were using the machine: figures are noisy)" if max(load_start[0], load_end[0]) > 0.5 else ""),
        ]
        descriptions = []
        if micro:
            descriptions += [(w.name, w.about) for w in workloads.WORKLOADS] + CONTAINER_MEASUREMENTS
        if host_net:
            descriptions += [(f"network {w.name}", w.about) for w in network.NET_WORKLOADS]
            descriptions.append(("network", NET_ABOUT))
        if net:
            descriptions += [(w.name, w.about) for w in loopback.LOOP_WORKLOADS]
            descriptions.append(("loopback", LOOP_ABOUT))
        if scale_n:
            descriptions.append(("scale", SCALE_ABOUT.format(n=scale_n)))
        notes_file = os.path.join(a.repo, "bench", "profile-notes.md")
        profile_notes = open(notes_file).read() if os.path.exists(notes_file) else ""
        with open(output, "w") as f:
            f.write(rep.markdown(header, descriptions, profile_notes))
        log(f"bench: wrote {output}")
    n_fail = len(rep.failures)
    print(f"bench: {len(usable)} runtimes, {n_fail} failed workloads, {(time.time() - started.timestamp()):.0f} s"
          + (f" (network workloads {net_secs:.0f} s)" if net else ""))
    return 1 if n_fail else 0


def main_cleaning_up():
    """main(), then the network namespaces and veths removed whatever
    happened (a SIGTERM too: it becomes SystemExit, so finally runs)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    prefix = parse_args().net_prefix
    try:
        return main()
    finally:
        network.sweep(prefix)


if __name__ == "__main__":
    sys.exit(main_cleaning_up())
