#!/usr/bin/env bash
# Builds everything and runs one container on the embedded default: a
# busybox bundle made here from Debian's busybox-static (no registry).
#
# Usage: sudo tests/demo.sh [COMMAND...]
#   default COMMAND: sh -c 'echo Hello from busybox; ...'
#   RUNTIME=runc sudo tests/demo.sh   runs the same bundle under runc instead
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
if [ "$(id -u)" != 0 ]; then
    echo "tests/demo.sh: run as root (sudo tests/demo.sh)" >&2
    exit 2
fi

# shellcheck source=tests/toolchain.sh
. "$repo/tests/toolchain.sh"
bash tests/setup.sh
cargo build --release --workspace
runtime=${RUNTIME:-$repo/target/release/sandbox}

work=$(mktemp -d /tmp/sandbox-demo.XXXXXX)
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    # Never delete through a mount a runtime may have left behind.
    if grep -q " $work" /proc/self/mountinfo; then
        echo "tests/demo.sh: something is still mounted under $work; not removing it" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

bash tests/rootfs.sh "$work/bundle/rootfs"

if [ $# -gt 0 ]; then
    args=("$@")
else
    args=(sh -c 'echo "Hello from busybox, pid $$ in the container"; uname -a; cat /proc/version; ls /')
fi
json='[]'
for a in "${args[@]}"; do
    json=$(jq -c --arg a "$a" '. + [$a]' <<<"$json")
done
echo "$json" >"$work/args.json"

jq --slurpfile args "$work/args.json" '.process.args = $args[0]' >"$work/bundle/config.json" <<'JSON'
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false,
    "user": { "uid": 0, "gid": 0 },
    "args": [],
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "TERM=xterm"],
    "cwd": "/",
    "noNewPrivileges": true
  },
  "root": { "path": "rootfs", "readonly": false },
  "hostname": "sandbox-demo",
  "mounts": [
    { "destination": "/proc", "type": "proc", "source": "proc" },
    { "destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    { "destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
    { "destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
    { "destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"] }
  ],
  "linux": {
    "namespaces": [{ "type": "pid" }, { "type": "ipc" }, { "type": "uts" }, { "type": "mount" }, { "type": "network" }],
    "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }
}
JSON

echo "tests/demo.sh: $runtime run --bundle $work/bundle demo-$$"
st=0
"$runtime" --root "$work/state" run --bundle "$work/bundle" "demo-$$" </dev/null || st=$?
echo "tests/demo.sh: exit status $st"
exit "$st"
