#!/usr/bin/env bash
# runsc, with /proc/sys/net/core hidden from it. Debian's runsc
# (0.0~20221219) refuses --network=sandbox with "cannot run with network
# enabled in root network namespace" whenever /proc/sys/net/core/rmem_default
# exists in the namespace it joins: its test for "the root namespace". Since
# Linux 6.x that file exists in every network namespace (net.core.rmem_* are
# per namespace), so the test always says "root". Later gVisor releases test
# another file. bench/benchlib/runtimes.py uses this wrapper only when a
# fresh namespace has the file. runsc runs in a mount namespace of its own
# (its sandbox and gofer too) whose /proc/sys is a small tmpfs holding only
# kernel/, vm/ and fs/ (from a proc mount of its own: runsc reads
# vm/mmap_min_addr among others), so it finds no net/ and goes on. A mount
# on /proc/sys/net/core alone would not do: each network namespace has its
# own dentries below /proc/sys/net, and runsc looks from the container's.
#
# Usage: bench/runsc-netns.sh ARGS...   (runsc's arguments; RUNSC=path, or
# the runsc of PATH)
set -euo pipefail

runsc=${RUNSC:-$(command -v runsc)}
# shellcheck disable=SC2016 # $0 and $@ are the inner shell's
exec unshare --mount --propagation private -- /bin/sh -euc '
    proc=$(mktemp -d /tmp/bench-runsc-proc.XXXXXX)
    mount -t proc proc "$proc"
    mount -t tmpfs -o size=16k,mode=755 bench-sys /proc/sys
    for d in kernel vm fs; do
        mkdir /proc/sys/$d
        mount --bind "$proc/sys/$d" /proc/sys/$d
    done
    umount -l "$proc" && rmdir "$proc"
    exec "$0" "$@"' "$runsc" "$@"
