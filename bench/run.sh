#!/usr/bin/env bash
# The benchmark suite (issue 5): the same workloads under runc (the native
# control), gVisor's runsc (--platform=ptrace) and sandbox on each platform
# (ptrace, seccomp, kvm when /dev/kvm is usable), interleaved, in one run.
# Prints a table; the full mode also writes BENCHMARKS.md at the repo root.
# Figures only: it exits non-zero when a workload fails to run or gives a
# wrong result, never because of a timing.
#
# Usage: sudo bench/run.sh [--short] [--rounds N] [--runtimes a,b] [--docker yes|no]
#                          [--scale N] [--scale-rounds N] [--output FILE]
#                          [--net yes|no|only|loopback]
#   --short     one round, small sizes, no docker, no scale (CI runs this)
#   --net only  only the network workloads (iperf3, nginx + wrk, redis with
#               the client on the host; redis, nginx and Python's http.server
#               with the client in the container over loopback); no leaves
#               them out; loopback runs only the loopback ones. They run each
#               container in a network namespace of the bench's own (ip netns;
#               a veth and 10.215.N.0/24 when the client is on the host, only
#               lo otherwise), removed at the end whatever happens
#   SANDBOX=path  the sandbox binary (default: the full mode builds and uses
#               target/release/sandbox; --short uses target/debug/sandbox if
#               it is there, else the release one)
#   SANDBOX_SPIN_US   the seccomp hand-off's largest active-wait budget,
#               both sides (microseconds of polling, then sched_yield,
#               before a futex sleep; default 50); 0 means futex only
#
# Installs gVisor's runsc from Debian if it is missing; if runsc cannot be
# installed or cannot run here, the bench says so and goes on without it.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" != 0 ]; then
    echo "bench/run.sh: run as root (sudo bench/run.sh): it creates containers" >&2
    exit 2
fi
short=0
for arg in "$@"; do
    [ "$arg" = --short ] && short=1
done

# shellcheck source=tests/toolchain.sh
. "$repo/tests/toolchain.sh"

if ! command -v runsc >/dev/null; then
    echo "bench/run.sh: installing runsc (gVisor) from Debian" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends runsc >&2 ||
        { apt-get update >&2 && apt-get install -y --no-install-recommends runsc >&2; } ||
        echo "bench/run.sh: could not install runsc; the bench runs without it" >&2
fi
for tool in gcc runc python3 ldd ip iperf3 wrk redis-benchmark redis-server nginx; do
    if ! command -v "$tool" >/dev/null; then
        echo "bench/run.sh: $tool is missing (run tests/setup.sh)" >&2
        exit 2
    fi
done

sandbox=${SANDBOX:-}
if [ -z "$sandbox" ]; then
    if [ "$short" = 1 ] && [ -x "$repo/target/debug/sandbox" ]; then
        sandbox=$repo/target/debug/sandbox
    else
        echo "bench/run.sh: cargo build --release -p sandbox-runtime" >&2
        (cd "$repo" && nice -n 10 cargo build --release -p sandbox-runtime >&2)
        sandbox=$repo/target/release/sandbox
    fi
fi

work=$(mktemp -d /tmp/sandbox-bench.XXXXXX)
# The names of this run's network namespaces (PREFIX-N) and host veths
# (PREFIXvN): short enough for an interface name, and this run's only.
net_prefix=sbb$(($$ % 100000))
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    # bench.py removes them itself; this covers a driver that was killed.
    local ns link
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$net_prefix-[0-9]+\$" || true); do
        ip netns del "$ns" 2>/dev/null || true
    done
    for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | grep -E "^${net_prefix}v[0-9]+(@|\$)" | cut -d@ -f1 || true); do
        ip link del "$link" 2>/dev/null || true
    done
    if grep -q " $work" /proc/self/mountinfo; then
        echo "bench/run.sh: something is still mounted under $work; not removing it" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

gcc -O2 -static -Wall -Wextra -Werror -o "$work/micro" "$repo/bench/micro.c"
bash "$repo/bench/rootfs.sh" "$work/rootfs" "$work/micro"
# The image of `docker run` (docker import): the tests' busybox rootfs.
bash "$repo/tests/rootfs.sh" "$work/busybox" "$work/busybox.tar" >/dev/null
# The servers of the network workloads (nginx, redis-server, iperf3).
bash "$repo/bench/netroot.sh" "$work/netroot"

# Debian's python3 (not a python3 of someone's PATH): the bench needs only
# its standard library.
cd "$repo/bench"
/usr/bin/python3 bench.py --work "$work" --sandbox "$sandbox" --repo "$repo" --net-prefix "$net_prefix" "$@"
