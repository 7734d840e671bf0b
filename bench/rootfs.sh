#!/usr/bin/env bash
# Builds the root filesystem every runtime of bench/run.sh runs: the busybox
# rootfs of the tests (tests/rootfs.sh), the micro-benchmark program
# (bench/micro.c, static), Debian's python3 with its standard library, bash
# and a few coreutils with the shared libraries ldd lists for them (as
# tests/tests/dynamic.rs does), the 200-command script, and /data for the
# file workloads on the rootfs.
#
# Usage: bench/rootfs.sh DIR MICRO_BINARY
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: $0 DIR MICRO_BINARY}
micro=${2:?usage: $0 DIR MICRO_BINARY}

bash "$here/../tests/rootfs.sh" "$dir" >/dev/null
install -m 755 "$micro" "$dir/bin/micro"
install -m 755 "$here/commands.sh" "$dir/bin/commands.sh"
mkdir -p "$dir/data" "$dir/usr/lib"

# Copies a host file to the same path under DIR (its real file: symlinks
# like /lib64/ld-linux-x86-64.so.2 become files). Hard links where possible:
# nothing writes to these files.
put() {
    local src=$1 dst real
    dst=$dir$src
    [ -e "$dst" ] && return 0
    real=$(readlink -f "$src")
    mkdir -p "$(dirname "$dst")"
    ln "$real" "$dst" 2>/dev/null || cp "$real" "$dst"
}
# A program and the libraries it links.
put_program() {
    local prog=$1 lib
    put "$prog"
    for lib in $(ldd "$prog" | grep -o '/[^ ]*'); do
        put "$lib"
    done
}

python=$(readlink -f /usr/bin/python3)  # /usr/bin/python3.11 on bookworm
pyver=$(basename "$python")
for prog in "$python" /usr/bin/bash /usr/bin/cat /usr/bin/wc /usr/bin/dirname /usr/bin/rm; do
    if [ ! -x "$prog" ]; then
        echo "bench/rootfs.sh: $prog is missing (apt-get install python3 bash coreutils)" >&2
        exit 1
    fi
    put_program "$prog"
done
ln -sf "$pyver" "$dir/usr/bin/python3"
# bash at /bin/bash too (the busybox rootfs has no /bin/bash).
ln -sf /usr/bin/bash "$dir/bin/bash"
# The standard library, and the libraries of its extension modules.
cp -al "/usr/lib/$pyver" "$dir/usr/lib/" 2>/dev/null || cp -a "/usr/lib/$pyver" "$dir/usr/lib/"
for ext in /usr/lib/"$pyver"/lib-dynload/*.so; do
    for lib in $(ldd "$ext" | grep -o '/[^ ]*'); do
        put "$lib"
    done
done
