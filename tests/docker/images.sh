#!/usr/bin/env bash
# Docker images for the network checks (tests/docker/network.sh) and the
# bench, built from the host's own files: no registry is reachable here.
# Every image starts from the busybox root filesystem of the tests
# (tests/rootfs.sh: sh, wget, nc, nslookup ...) and adds Debian programs
# with the shared libraries ldd lists for them:
#
#   busybox  only busybox-static
#   python   python3 and its standard library (no tests, no static libpython),
#            iproute2's ip, getent, Debian's hostname, and netblob.py (bulk
#            TCP with sha256 on both ends)
#   nginx    Debian's nginx with a stock-like configuration serving WWW
#   redis    redis-server and redis-cli (Debian's redis-server, redis-tools)
#
# Sourced:  . tests/docker/images.sh; rootfs_python DIR [WWW]
#           image_python TAG [WWW [DOCKER_IMPORT_ARGS...]]
# Run:      tests/docker/images.sh KIND TAG [WWW]   (imports KIND as TAG)
#           tests/docker/images.sh --rootfs KIND DIR [WWW]   (only the rootfs)
#
# WWW is a directory whose files the image serves (nginx: /var/www/html,
# python: /srv/www). docker must reach the intended dockerd (DOCKER_HOST).
# The rootfs_* functions need only root (hard links, chroot check), not docker.

# Fail as a script; when sourced, leave the caller's options alone.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
fi

images_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IMAGES_TIMEOUT=${IMAGES_TIMEOUT:-180} # seconds for one docker import

# Copies host file SRC to the same path under DIR (its real file: symlinks
# such as /lib64/ld-linux-x86-64.so.2 become files). Hard links where
# possible: nothing writes to these files.
images_put() { # DIR SRC
    local dir=$1 src=$2 dst real
    dst=$dir$src
    [ -e "$dst" ] && return 0
    real=$(readlink -f "$src")
    mkdir -p "$(dirname "$dst")"
    ln "$real" "$dst" 2>/dev/null || cp "$real" "$dst"
}

# A program and the libraries it links.
images_put_program() { # DIR PROGRAM
    local dir=$1 prog=$2 lib
    if [ ! -x "$prog" ]; then
        echo "images.sh: $prog is missing (see tests/setup.sh for the packages)" >&2
        return 1
    fi
    images_put "$dir" "$prog"
    for lib in $(ldd "$prog" | grep -o '/[^ ]*'); do
        images_put "$dir" "$lib"
    done
}

# glibc finds users, groups and hosts without nsswitch.conf too, but its
# built-in default for hosts puts dns first; say what a Debian image says.
images_glibc_etc() { # DIR
    printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\n' \
        >"$1/etc/nsswitch.conf"
}

rootfs_busybox() { # DIR
    bash "$images_here/../rootfs.sh" "$1" >/dev/null
}

rootfs_python() { # DIR [WWW]
    local dir=$1 www=${2:-} python pyver prog ext lib sub
    rootfs_busybox "$dir"
    python=$(readlink -f /usr/bin/python3) # /usr/bin/python3.11 on bookworm
    pyver=$(basename "$python")
    # ip, getent and hostname: the glibc programs the address checks run
    # (they sit before busybox's applets in PATH: /usr/bin, /usr/sbin).
    for prog in "$python" /usr/sbin/ip /usr/bin/getent /usr/bin/hostname; do
        images_put_program "$dir" "$prog"
    done
    ln -sf "$pyver" "$dir/usr/bin/python3"
    # The standard library without what a server never imports: the test
    # suite, the IDE, Tk, 2to3, and the 25 MB static libpython in config-*.
    mkdir -p "$dir/usr/lib/$pyver"
    for sub in /usr/lib/"$pyver"/*; do
        case $(basename "$sub") in
        test | idlelib | tkinter | turtledemo | ensurepip | lib2to3 | pydoc_data | config-*) continue ;;
        esac
        cp -al "$sub" "$dir/usr/lib/$pyver/" 2>/dev/null || cp -a "$sub" "$dir/usr/lib/$pyver/"
    done
    # The libraries of its extension modules (_ssl, _hashlib, ...).
    for ext in /usr/lib/"$pyver"/lib-dynload/*.so; do
        for lib in $(ldd "$ext" | grep -o '/[^ ]*'); do
            images_put "$dir" "$lib"
        done
    done
    images_glibc_etc "$dir"
    install -D -m 755 "$images_here/netblob.py" "$dir/usr/local/bin/netblob.py"
    mkdir -p "$dir/srv/www"
    if [ -n "$www" ]; then
        cp -a "$www/." "$dir/srv/www/"
    fi
}

rootfs_nginx() { # DIR [WWW]
    local dir=$1 www=${2:-}
    rootfs_busybox "$dir"
    images_put_program "$dir" /usr/sbin/nginx
    images_glibc_etc "$dir"
    # The user Debian's nginx runs its workers as.
    echo 'www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin' >>"$dir/etc/passwd"
    echo 'www-data:x:33:' >>"$dir/etc/group"
    mkdir -p "$dir/etc/nginx" "$dir/var/lib/nginx" "$dir/var/log/nginx" "$dir/run" "$dir/var/www/html"
    cp /etc/nginx/mime.types "$dir/etc/nginx/mime.types"
    # Logs to the container's stdout/stderr, as the official image does.
    ln -sf /dev/stdout "$dir/var/log/nginx/access.log"
    ln -sf /dev/stderr "$dir/var/log/nginx/error.log"
    # Debian's nginx.conf and default site, folded into one file, without
    # the module includes (the image carries no dynamic modules) and in
    # the foreground (daemon off) as a container's init must be.
    cat >"$dir/etc/nginx/nginx.conf" <<'EOF'
user www-data;
worker_processes auto;
pid /run/nginx.pid;
daemon off;
error_log /var/log/nginx/error.log;

events {
    worker_connections 768;
}

http {
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log /var/log/nginx/access.log;
    gzip on;

    server {
        listen 80 default_server;
        listen [::]:80 default_server;
        root /var/www/html;
        index index.html index.htm;
        server_name _;
        location / {
            try_files $uri $uri/ =404;
        }
    }
}
EOF
    if [ -n "$www" ]; then
        cp -a "$www/." "$dir/var/www/html/"
    fi
}

rootfs_redis() { # DIR
    local dir=$1
    rootfs_busybox "$dir"
    images_put_program "$dir" /usr/bin/redis-server
    images_put_program "$dir" /usr/bin/redis-cli
    images_glibc_etc "$dir"
    mkdir -p "$dir/data"
}

# Builds KIND's root filesystem in a scratch directory and imports it as
# TAG; the remaining arguments go to docker import (--change ...).
images_import() { # KIND TAG WWW [DOCKER_IMPORT_ARGS...]
    local kind=$1 tag=$2 www=$3 scratch st=0
    shift 3
    scratch=$(mktemp -d /tmp/sandbox-image.XXXXXX)
    # A process of its own, so that set -e holds inside the rootfs_*
    # functions whatever the caller's options are.
    bash "$images_here/images.sh" --rootfs "$kind" "$scratch/rootfs" "$www" || st=$?
    if [ "$st" = 0 ]; then
        tar -C "$scratch/rootfs" -cf - . |
            timeout -k 10 "$IMAGES_TIMEOUT" docker import "$@" - "$tag" >/dev/null || st=$?
    fi
    rm -rf "$scratch"
    return "$st"
}

image_busybox() { # TAG [DOCKER_IMPORT_ARGS...]
    local tag=$1
    shift
    images_import busybox "$tag" "" "$@"
}
image_python() { # TAG [WWW [DOCKER_IMPORT_ARGS...]]
    local tag=$1 www=${2:-}
    shift $(($# < 2 ? $# : 2))
    images_import python "$tag" "$www" "$@"
}
image_nginx() { # TAG [WWW [DOCKER_IMPORT_ARGS...]]
    local tag=$1 www=${2:-}
    shift $(($# < 2 ? $# : 2))
    images_import nginx "$tag" "$www" --change 'CMD ["/usr/sbin/nginx"]' --change 'EXPOSE 80' "$@"
}
image_redis() { # TAG [DOCKER_IMPORT_ARGS...]
    local tag=$1
    shift
    # No config file: listen on every address, and without protected mode,
    # which refuses clients from other containers when there is no password.
    images_import redis "$tag" "" \
        --change 'CMD ["/usr/bin/redis-server", "--protected-mode", "no", "--save", "", "--appendonly", "no"]' \
        --change 'WORKDIR /data' --change 'EXPOSE 6379' "$@"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    usage="usage: $0 busybox|python|nginx|redis TAG [WWW], or $0 --rootfs KIND DIR [WWW]"
    if [ "${1:-}" = --rootfs ]; then
        [ $# -ge 3 ] || { echo "$usage" >&2; exit 2; }
        case $2 in
        busybox | redis) "rootfs_$2" "$3" ;;
        python | nginx) "rootfs_$2" "$3" "${4:-}" ;;
        *) echo "images.sh: unknown image kind $2 (busybox, python, nginx, redis)" >&2; exit 2 ;;
        esac
        exit 0
    fi
    [ $# -ge 2 ] || { echo "$usage" >&2; exit 2; }
    case $1 in
    busybox | redis) "image_$1" "$2" ;;
    python | nginx) "image_$1" "$2" "${3:-}" ;;
    *) echo "images.sh: unknown image kind $1 (busybox, python, nginx, redis)" >&2; exit 2 ;;
    esac
fi
