#!/usr/bin/env bash
# Builds the root filesystem of the bench's network workloads: the nginx
# image of the Docker checks (tests/docker/images.sh: busybox, Debian's
# nginx with its stock master/worker configuration) plus redis-server and
# iperf3 with the libraries ldd lists for them. One rootfs serves the three
# servers: each container runs one of them, and they run one at a time.
# The loopback workloads (issue 13: server and client in one container) run
# in it too: the clients (wrk, redis-benchmark, redis-cli for the checks),
# Python with its standard library for http.server, bench/loopback.sh and
# bench/httpcheck.py.
#
# Usage: bench/netroot.sh DIR
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: $0 DIR}

# shellcheck source=tests/docker/images.sh
. "$here/../tests/docker/images.sh"

www=$(mktemp -d /tmp/sandbox-bench-www.XXXXXX)
trap 'rm -rf "$www"' EXIT
# A page of about 800 bytes (nginx's stock welcome page has 615); the bench
# checks that every runtime serves exactly these bytes.
{
    echo '<!DOCTYPE html><html><head><title>bench</title></head><body>'
    for i in $(seq 1 12); do
        echo "<p>line $i of the sandbox bench's page, served by nginx.</p>"
    done
    echo '</body></html>'
} >"$www/index.html"

# Readable by nginx's workers (www-data): mktemp made the directory 0700.
chmod 755 "$www"
chmod 644 "$www/index.html"
# Python's image first: both start from the busybox rootfs, which rewrites
# /etc/passwd, and nginx's adds its www-data user to it.
rootfs_python "$dir"
rootfs_nginx "$dir" "$www"
images_put_program "$dir" /usr/bin/redis-server
images_put_program "$dir" /usr/bin/iperf3
images_put_program "$dir" /usr/bin/redis-benchmark
images_put_program "$dir" /usr/bin/redis-cli
images_put_program "$dir" /usr/bin/wrk
install -m 755 "$here/loopback.sh" "$dir/bin/loopback.sh"
install -m 644 "$here/httpcheck.py" "$dir/bin/httpcheck.py"
mkdir -p "$dir/data"
