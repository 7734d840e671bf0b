#!/usr/bin/env bash
# Installs what building and testing sandbox needs on a fresh Debian 12
# machine, as root. Idempotent: when everything is there already it changes
# nothing (SETUP_FORCE_APT=1 runs apt-get anyway). Uses only Debian's
# archive (apt); the Rust toolchain (cargo, with rustfmt and clippy) must
# already be installed.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
    echo "tests/setup.sh: run as root (sudo tests/setup.sh)" >&2
    exit 2
fi

# busybox-static: the test root filesystems; docker.io, containerd, runc: the
# Docker end-to-end tests (runc is also the control runtime of the Rust
# tests); jq: daemon.json; util-linux: unshare for the native controls;
# bsdutils: script; procps: pgrep; gcc, make: building C test programs;
# gcc and libc6-dev (libc.a) also build `sandbox selftest`'s static attack
# binary at cargo build time (runtime/build.rs);
# coreutils, tar, gzip, grep, sed, findutils, python3: the dynamically
# linked programs the real-program tests copy into their root filesystems;
# strace: the host-side trace that proves the microvm workload's system calls
# never reach the host (tests/tests/microvm.rs), and with gdb, the
# debuggers tests/tests/ptrace.rs runs inside the sandbox; iproute2 (`ip`) and
# iptables also serve the interface and network tests
# (tests/tests/netlink.rs, network.rs). nginx, redis-server,
# redis-tools, iproute2 (ip): the programs tests/docker/images.sh copies into
# the network checks' images; curl, docker-compose (1.29), iptables: the
# host's side of tests/docker/network.sh. (On a machine with systemd, apt
# also starts nginx on port 80 and redis on 6379; the checks use neither.)
# iperf3, wrk (and redis-tools' redis-benchmark): the host-side clients of
# the bench's network workloads (bench/run.sh); iperf3 is also the server
# copied into their root filesystem (bench/netroot.sh).
# openjdk-17-jre-headless: the JVM whose heap and processor count must follow
# the container's limits (tests/tests/container_limits.rs; about 45 MB to
# download, 190 MB installed).
packages=(
    busybox-static docker.io containerd runc jq gcc libc6-dev make
    util-linux bsdutils procps coreutils tar gzip grep sed findutils
    python3 ca-certificates strace gdb openjdk-17-jre-headless
    nginx redis-server redis-tools iproute2 curl docker-compose iptables
    iperf3 wrk
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -gt 0 ] || [ "${SETUP_FORCE_APT:-0}" = 1 ]; then
    echo "tests/setup.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    # Only what is missing: installed packages are left at their versions.
    to_install=("${missing[@]}")
    [ ${#to_install[@]} -gt 0 ] || to_install=("${packages[@]}")
    apt-get install -y --no-install-recommends "${to_install[@]}"
else
    echo "tests/setup.sh: all packages present (${packages[*]})"
fi

# The static busybox must be the one at /bin/busybox (the dynamic `busybox`
# package would conflict; busybox-static replaces it).
if ! [ -x /bin/busybox ]; then
    echo "tests/setup.sh: /bin/busybox is missing after installing busybox-static" >&2
    exit 1
fi

# shellcheck source=tests/toolchain.sh
. "$(dirname "$0")/toolchain.sh"
for tool in cargo rustc; do
    if ! command -v "$tool" >/dev/null; then
        echo "tests/setup.sh: $tool not found on PATH: install the Rust toolchain first" >&2
        exit 1
    fi
done
for sub in fmt clippy; do
    if ! cargo "$sub" --version >/dev/null 2>&1; then
        echo "tests/setup.sh: cargo $sub is missing: add the rustfmt and clippy components" >&2
        exit 1
    fi
done
echo "tests/setup.sh: ready ($(cargo --version))"
