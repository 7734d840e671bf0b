#!/usr/bin/env bash
# Builds a busybox root filesystem in DIR from Debian's busybox-static:
# /bin/busybox, one symlink per applet, /etc/passwd, /etc/group and the
# empty mount points. With a second argument, also writes it as a tarball
# (for `docker import`). Keep in step with tests/src/bundle.rs.
#
# Usage: tests/rootfs.sh DIR [TARBALL]
set -euo pipefail

dir=${1:?usage: $0 DIR [TARBALL]}
tarball=${2:-}
bb=${BUSYBOX:-/bin/busybox}

if [ ! -x "$bb" ]; then
    echo "rootfs.sh: $bb is missing (apt-get install busybox-static)" >&2
    exit 1
fi

mkdir -p "$dir"/bin "$dir"/dev "$dir"/etc "$dir"/proc "$dir"/root "$dir"/sys "$dir"/tmp
chmod 1777 "$dir/tmp"
cp "$bb" "$dir/bin/busybox"
for applet in $("$bb" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$dir/etc/passwd"
printf 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n' >"$dir/etc/group"

# The rootfs has no libraries: a dynamically linked busybox cannot run in it.
if [ "$(id -u)" = 0 ] && ! chroot "$dir" /bin/sh -c 'exit 0' 2>/dev/null; then
    echo "rootfs.sh: $bb does not run inside $dir (not static? install busybox-static)" >&2
    exit 1
fi

if [ -n "$tarball" ]; then
    tar -C "$dir" -cf "$tarball" .
fi
