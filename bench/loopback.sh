#!/bin/sh
# The loopback workloads of bench/run.sh (issue 13), run as the container's
# process (busybox sh): a server and its client in one container over
# 127.0.0.1, no other interface. Starts the server, waits until it answers,
# checks what it serves, runs the client with the parameters the host-side
# clients use (benchlib/network.py; the driver passes them), checks again,
# stops the server, then prints the client's output between "=== NAME" and
# "=== end" for the driver to parse: after the server stopped, so that
# nothing it logs to stdout (nginx's access log) falls inside. Any failure
# prints a "loopback: FAILED" line and exits non-zero.
#
# Usage: loopback.sh redis REQUESTS CONNECTIONS
#        loopback.sh nginx|pyhttp SECONDS CONNECTIONS
set -eu

out=/tmp/loopback
mkdir -p "$out"
server=

fail() {
    echo "loopback: FAILED: $*"
    if [ -s "$out/server.log" ]; then
        tail -n 5 "$out/server.log" | sed 's/^/loopback: server: /'
    fi
    if [ -n "$server" ]; then
        kill -KILL "$server" 2>/dev/null || true
    fi
    exit 1
}

# An exited server stays a zombie until `wait`: kill -0 would succeed.
server_alive() {
    [ -r "/proc/$server/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$server/status"
}

# Runs the command until it succeeds, for up to 60 s (the debug build under
# ptrace starts servers slowly); fails when the server exits meanwhile.
wait_for() {
    deadline=$(($(date +%s) + 60))
    until "$@" >/dev/null 2>&1; do
        server_alive || fail "the server exited before answering"
        [ "$(date +%s)" -lt "$deadline" ] || fail "the server did not answer in 60 s"
        sleep 0.05
    done
}

stop() {
    kill -TERM "$server"
    # Its exit status says nothing about the run (python dies of the signal).
    wait "$server" || true
    server=
}

show() { # NAME FILE
    echo "=== $1"
    cat "$2"
    echo "=== end"
}

redis_ping() {
    [ "$(redis-cli -h 127.0.0.1 ping)" = PONG ]
}

# wrk as the host-side workload runs it (2 threads, keep-alive connections,
# the 99th percentile); the driver parses its output and fails on any
# socket error or non-2xx answer. Before and after, bench/httpcheck.py waits
# for the port and checks that GET / gives exactly the bytes of the page
# (bench/netroot.sh writes it), as the host-side check does.
http() { # PORT SECONDS CONNECTIONS
    python3 /bin/httpcheck.py "$server" "$1" /var/www/html/index.html 2>"$out/check" ||
        fail "before wrk: $(tail -n 1 "$out/check")"
    wrk -t 2 -c "$3" -d "$2s" --latency "http://127.0.0.1:$1/" >"$out/client" 2>&1 ||
        fail "wrk exited $?: $(tail -c 300 "$out/client" | tr "\n" " ")"
    python3 /bin/httpcheck.py "$server" "$1" /var/www/html/index.html 2>"$out/check" ||
        fail "after wrk: $(tail -n 1 "$out/check")"
    stop
    show wrk "$out/client"
}

case ${1:-} in
redis)
    cd /data
    redis-server --protected-mode no --save "" --appendonly no >"$out/server.log" 2>&1 &
    server=$!
    wait_for redis_ping
    if [ "$(redis-cli -h 127.0.0.1 SET bench:check sandbox)" != OK ] ||
        [ "$(redis-cli -h 127.0.0.1 GET bench:check)" != sandbox ]; then
        fail "redis: SET then GET bench:check did not give the value back"
    fi
    redis-benchmark -h 127.0.0.1 -p 6379 -c "$3" -n "$2" -t set,get --csv >"$out/client" 2>&1 ||
        fail "redis-benchmark exited $?: $(tail -c 300 "$out/client" | tr "\n" " ")"
    # redis-benchmark's SET writes 3 bytes (-d 3) to this literal key
    # (__rand_int__ is expanded only with -r).
    [ "$(redis-cli -h 127.0.0.1 STRLEN key:__rand_int__)" = 3 ] ||
        fail "redis: the benchmark's key does not hold what it SET"
    stop
    show redis-benchmark "$out/client"
    ;;
nginx)
    # The stock configuration (netroot.sh): daemon off, the access log to
    # the container's stdout as under `docker run`; the error log (stderr)
    # to a file, for fail.
    /usr/sbin/nginx 2>"$out/server.log" &
    server=$!
    # The port in wrk's URL: the rootfs has no /etc/services for wrk to
    # look "http" up in.
    http 80 "$2" "$3"
    ;;
pyhttp)
    # Python's http.server (threads; HTTP/1.0, a connection per request)
    # logs each request to stderr.
    python3 -m http.server 8000 --bind 127.0.0.1 --directory /var/www/html >"$out/server.log" 2>&1 &
    server=$!
    http 8000 "$2" "$3"
    ;;
*)
    fail "usage: $0 redis REQUESTS CONNECTIONS | nginx|pyhttp SECONDS CONNECTIONS"
    ;;
esac
