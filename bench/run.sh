#!/usr/bin/env bash
# Prints what a few system calls cost natively and under each platform:
# bench/syscalls.c, built static, run in a busybox bundle made on the spot.
# Figures only; nothing is asserted. Build the runtime first (release for
# figures worth quoting: cargo build --release -p sandbox-runtime).
#
# Usage: sudo bench/run.sh [ITERATIONS]      (default 100000)
#   SANDBOX=path/to/sandbox   the binary (default target/release/sandbox,
#                             else target/debug/sandbox)
#   PLATFORMS="seccomp ptrace"
#   SANDBOX_SPIN_US, SANDBOX_STUB_SPIN   the seccomp hand-off's largest spin
#                             budgets (Sentry: microseconds, default 20; stub:
#                             polls, default 2000); 0 and 1 mean futex only
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-100000}
sandbox=${SANDBOX:-}
if [ -z "$sandbox" ]; then
    sandbox=$repo/target/release/sandbox
    [ -x "$sandbox" ] || sandbox=$repo/target/debug/sandbox
fi
platforms=${PLATFORMS:-seccomp ptrace}

work=$(mktemp -d /tmp/sandbox-bench.XXXXXX)
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    if grep -q " $work" /proc/self/mountinfo; then
        echo "bench/run.sh: something is still mounted under $work; not removing it" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

bash "$repo/tests/rootfs.sh" "$work/bundle/rootfs" >/dev/null
gcc -O2 -static -o "$work/bundle/rootfs/bin/syscalls" "$repo/bench/syscalls.c"
cat >"$work/bundle/config.json" <<JSON
{
  "ociVersion": "1.0.2",
  "process": {
    "user": { "uid": 0, "gid": 0 },
    "args": ["/bin/syscalls", "$n"],
    "env": ["PATH=/bin"],
    "cwd": "/"
  },
  "root": { "path": "rootfs" },
  "mounts": [{ "destination": "/proc", "type": "proc", "source": "proc" }],
  "linux": { "namespaces": [{ "type": "pid" }, { "type": "mount" }, { "type": "ipc" }, { "type": "uts" }] }
}
JSON

echo "== native (chroot)"
chroot "$work/bundle/rootfs" /bin/syscalls "$n"
for p in $platforms; do
    echo "== sandbox --platform $p ($sandbox)"
    "$sandbox" --root "$work/state" --platform "$p" run --bundle "$work/bundle" "bench-$p-$$" </dev/null
done
echo "(nanoseconds per call)"
