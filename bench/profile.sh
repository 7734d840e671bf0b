#!/usr/bin/env bash
# Profiles one workload of the bench under one runtime with perf (sampling
# the runtime and every process it starts: the Sentry, its stubs, runsc's
# sandbox), and prints where the time goes. For the notes of BENCHMARKS.md
# on missed targets (bench/profile-notes.md).
#
# Usage: sudo bench/profile.sh WORKLOAD [PLATFORM|runc|runsc] [MICRO ARGS...]
#   WORKLOAD: a micro.c workload (getpid, open, stat, pipe, fork, exec, io,
#   mmap, spawn); the default arguments are the full bench's.
#   e.g. bench/profile.sh getpid seccomp; bench/profile.sh exec ptrace 200
#   SANDBOX=path (default target/release/sandbox); PERF_OUT=dir keeps
#   perf.data there.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
workload=${1:?usage: $0 WORKLOAD [PLATFORM|runc|runsc] [ARGS...]}
target=${2:-seccomp}
shift $(($# < 2 ? $# : 2))
sandbox=${SANDBOX:-$repo/target/release/sandbox}
command -v perf >/dev/null || apt-get install -y --no-install-recommends linux-perf

work=$(mktemp -d /tmp/sandbox-profile.XXXXXX)
trap 'grep -q " $work" /proc/self/mountinfo || rm -rf "$work"' EXIT
gcc -O2 -static -o "$work/micro" "$repo/bench/micro.c"
bash "$repo/bench/rootfs.sh" "$work/rootfs" "$work/micro"

# The bench's own arguments for the workload unless some are given.
cd "$repo/bench"
/usr/bin/python3 - "$work" "$workload" "$@" <<'PY'
import sys
from benchlib import bundle, workloads
work, name, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
args = None
for w in workloads.WORKLOADS:
    if w.full[0] == name:
        args = ["/bin/micro", name, *(extra or w.full[1:])]
        break
args = args or ["/bin/micro", name, *extra]
bundle.make(f"{work}/bundle", args, f"{work}/rootfs")
print("profiling:", " ".join(args), file=sys.stderr)
PY

case $target in
runc) rt=(runc --root "$work/state") ;;
runsc) rt=(runsc --root "$work/state" --platform=ptrace --network=none) ;;
*) rt=("$sandbox" --root "$work/state" --platform "$target") ;;
esac
out=${PERF_OUT:-$work}
mkdir -p "$out"
perf record -q -F 2000 -g -o "$out/perf.data" -- "${rt[@]}" run --bundle "$work/bundle" "profile-$$" </dev/null
echo "== by process and library"
perf report -i "$out/perf.data" --stdio --no-children --sort comm,dso 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 25
echo "== hottest functions"
perf report -i "$out/perf.data" --stdio --no-children --sort sym -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 40
