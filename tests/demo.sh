#!/usr/bin/env bash
# Builds sandbox, makes a busybox bundle, and runs a command in it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
cargo build --release
b=$(mktemp -d)
trap 'rm -rf "$b"' EXIT
mkdir -p "$b/rootfs/bin" "$b/rootfs/tmp" "$b/rootfs/proc" "$b/rootfs/dev" "$b/rootfs/sys" "$b/rootfs/etc"
cp /bin/busybox "$b/rootfs/bin/busybox"
for a in $("$b/rootfs/bin/busybox" --list); do [ -e "$b/rootfs/bin/$a" ] || ln -s busybox "$b/rootfs/bin/$a"; done
(cd "$b" && "$OLDPWD/target/release/sandbox" spec)
python3 - "$b/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["root"]["readonly"] = False
c["process"]["args"] = ["sh", "-c", "echo hello from the Sentry; uname -a; echo pid $$; ls /proc"]
json.dump(c, open(p, "w"), indent=1)
PY
./target/release/sandbox --root "$b/state" run --bundle "$b" demo
