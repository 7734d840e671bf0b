#!/usr/bin/env bash
# Docker networking end to end: runs the network checks against each runtime
# named as an argument, e.g. `tests/docker/network.sh runc sandbox`. runc is
# the control: if it fails, the harness or the machine is wrong, not the
# sandbox.
#
# As root. Unlike tests/docker/run.sh (no bridge, iptables off) this needs
# Docker's real network: it starts a dockerd of its own WITH the default
# bridge (docker0) and iptables, apart from any other dockerd (its own
# config file, data root, exec root, pid file, containerd namespace and
# socket, unix:///run/sandbox-net-docker.sock; DOCKER_HOST points the
# clients at it). That dockerd knows the runtimes `sandbox`, `sandbox-vm`
# (runtimeArgs --backend=microvm) and `sandbox-hostnet` (runtimeArgs
# --network=host), all SANDBOX_BIN (default target/debug/sandbox).
#
# It imports its images from the host's own files (tests/docker/images.sh:
# busybox, python3, nginx, redis), then for each runtime: published ports
# (nginx and python's http.server; 100 sequential and 20 concurrent
# requests), a user-defined network (embedded DNS, by name and by IP),
# Compose (app + redis), the default bridge both ways, the addresses and
# routes seen inside, --network=none and --network=host, and 1 GiB over TCP
# each way with sha256 on both ends. Every check prints one PASS/FAIL line
# naming it; every docker command runs under timeout, so a hang is a failure
# of the check it hangs in. At exit it removes its containers, networks and
# images, stops its dockerd, and puts back docker0, iptables and ip_forward
# when it was the one that created them. The last line is `N passed, M failed`.
#
# Environment: SANDBOX_BIN; DOCKER_CHECK_TIMEOUT (seconds for one docker
# command, default 60); NET_BULK_BYTES (default 1 GiB) and NET_BULK_TIMEOUT
# (seconds per direction, default 180); NET_ONLY (names of check functions
# separated by spaces: run only those groups, e.g.
# NET_ONLY=check_container_network).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
SANDBOX_BIN=${SANDBOX_BIN:-$repo/target/debug/sandbox}
LABEL=dev.sandbox.test=docker-network-sh
NAME=sandbox-net-docker
SOCK=/run/$NAME.sock
DATA_ROOT=/var/lib/$NAME
EXEC_ROOT=/run/$NAME
PIDFILE=/run/$NAME.pid
export DOCKER_HOST=unix://$SOCK
TIMEOUT=${DOCKER_CHECK_TIMEOUT:-60}
BULK_BYTES=${NET_BULK_BYTES:-$((1 << 30))}
BULK_TIMEOUT=${NET_BULK_TIMEOUT:-180}
# Host ports: the two published servers, the host's web server on docker0
# and the host's bulk receiver.
NGINX_PORT=8080
PYTHON_PORT=8081
HOST_WEB_PORT=18080
HOST_BULK_PORT=18081

IMG_BUSYBOX=sbxnet-busybox:test
IMG_PYTHON=sbxnet-python:test
IMG_NGINX=sbxnet-nginx:test
IMG_REDIS=sbxnet-redis:test
images=("$IMG_BUSYBOX" "$IMG_PYTHON" "$IMG_NGINX" "$IMG_REDIS")

runtimes=("$@")
if [ ${#runtimes[@]} -eq 0 ]; then
    runtimes=(runc sandbox)
fi
if [ "$(id -u)" != 0 ]; then
    echo "tests/docker/network.sh: run as root" >&2
    exit 2
fi
for rt in "${runtimes[@]}"; do
    if [ "$rt" != runc ] && [ ! -x "$SANDBOX_BIN" ]; then
        echo "tests/docker/network.sh: $SANDBOX_BIN is missing (cargo build -p sandbox-runtime)" >&2
        exit 2
    fi
done
for tool in dockerd docker docker-compose curl jq ip iptables-save python3 flock; do
    if ! command -v "$tool" >/dev/null; then
        echo "tests/docker/network.sh: $tool is missing (tests/setup.sh installs it)" >&2
        exit 2
    fi
done

log() { echo "docker/network.sh: $*" >&2; }

# One run at a time: two would share the socket, docker0 and the ports.
exec 9>"/run/$NAME.lock"
if ! flock -n 9; then
    log "another tests/docker/network.sh is running (/run/$NAME.lock)"
    exit 2
fi

work=$(mktemp -d /tmp/sandbox-network.XXXXXX)
dockerd_pid=
host_pids=()
restore_iptables=0
remove_docker0=0
ip_forward_before=$(cat /proc/sys/net/ipv4/ip_forward)

# --- cleanup ---------------------------------------------------------------

# Kills what is left of a container that `docker rm -f` could not remove:
# its shim (which outlives dockerd) and every process in its cgroups.
kill_container() {
    local id=$1 pid cg
    for pid in $(pgrep -f -- "-id $id " || true); do
        kill -KILL "$pid" 2>/dev/null || true
    done
    for cg in /sys/fs/cgroup/*/docker/"$id" /sys/fs/cgroup/docker/"$id"; do
        [ -f "$cg/cgroup.procs" ] || continue
        # shellcheck disable=SC2013 # one pid per line
        for pid in $(cat "$cg/cgroup.procs"); do
            kill -KILL "$pid" 2>/dev/null || true
        done
    done
}

# Removes our containers and networks (by label); remembers the containers
# it could not remove.
stuck_ids=
remove_ours() {
    local id
    for id in $(timeout -k 5 30 docker ps -aq --no-trunc --filter "label=$LABEL" 2>/dev/null); do
        if ! timeout -k 5 30 docker rm -f "$id" >/dev/null 2>&1; then
            log "docker rm -f $id failed or hung; killing its shim and processes"
            stuck_ids="$stuck_ids $id"
            kill_container "$id"
            timeout -k 5 30 docker rm -f "$id" >/dev/null 2>&1 || true
        fi
    done
    for id in $(timeout -k 5 30 docker network ls -q --filter "label=$LABEL" 2>/dev/null); do
        timeout -k 5 30 docker network rm "$id" >/dev/null 2>&1 ||
            log "could not remove network $id"
    done
}

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local rc=$? pid
    set +e
    for pid in "${host_pids[@]}"; do
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if [ -n "$dockerd_pid" ] && timeout 10 docker info >/dev/null 2>&1; then
        remove_ours
        timeout -k 5 60 docker rmi "${images[@]}" >/dev/null 2>&1
    fi
    # Quietly when all goes well: the summary stays the last line.
    if [ -n "$dockerd_pid" ]; then
        kill -TERM "$dockerd_pid" 2>/dev/null
        for _ in $(seq 1 60); do
            kill -0 "$dockerd_pid" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$dockerd_pid" 2>/dev/null; then
            log "dockerd did not stop in 30 s; killing it"
            kill -KILL "$dockerd_pid" 2>/dev/null
        fi
        wait "$dockerd_pid" 2>/dev/null
    fi
    for id in $stuck_ids; do
        kill_container "$id"
    done
    # What dockerd leaves in the host's network: the bridge, its iptables
    # chains and rules (NAT for 172.17/16 ...), ip_forward on. Put back
    # what was there before, but only what this run created: another
    # Docker's rules are not ours to remove.
    if [ "$restore_iptables" = 1 ]; then
        iptables_undo
    fi
    if [ "$remove_docker0" = 1 ] && ip link show docker0 >/dev/null 2>&1; then
        ip link delete docker0 || log "could not delete docker0"
    fi
    echo "$ip_forward_before" >/proc/sys/net/ipv4/ip_forward
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT

# --- dockerd ---------------------------------------------------------------

# A dockerd left running by an earlier run that was killed: stop it, so
# this run starts from its own configuration.
if [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    old=$(cat "$PIDFILE")
    log "stopping the dockerd an earlier run left ($old)"
    kill -TERM "$old"
    for _ in $(seq 1 60); do
        kill -0 "$old" 2>/dev/null || break
        sleep 0.5
    done
    kill -KILL "$old" 2>/dev/null || true
fi

# Docker's rules are in the nat and filter tables. When no Docker has its
# chains there yet, every rule and chain that appears during the run is
# ours (dockerd's) and is taken out again at exit, and the policies (dockerd
# sets FORWARD to DROP) put back. A diff, not iptables-restore: with the
# nf_tables backend an empty table saves as nothing, which restores nothing.
iptables_tables=(nat filter)
iptables_undo() {
    local t rule chain words
    for t in "${iptables_tables[@]}"; do
        # Rules first (some jump to the chains deleted below). Docker's
        # rules have no quoted words, so splitting on blanks is exact.
        iptables -t "$t" -S | grep '^-A ' | grep -vxFf "$work/iptables.$t" |
            while read -r rule; do
                read -ra words <<<"$rule"
                words[0]=-D
                iptables -t "$t" "${words[@]}" || log "could not delete iptables -t $t $rule"
            done
        iptables -t "$t" -S | grep '^-N ' | grep -vxFf "$work/iptables.$t" |
            while read -r _ chain; do
                if ! { iptables -t "$t" -F "$chain" && iptables -t "$t" -X "$chain"; }; then
                    log "could not delete iptables chain $t/$chain"
                fi
            done
        grep '^-P ' "$work/iptables.$t" | while read -r _ chain policy; do
            iptables -t "$t" -P "$chain" "$policy" || log "could not reset the policy of $t/$chain"
        done
    done
}
if ! iptables -t nat -S DOCKER >/dev/null 2>&1 && ! iptables -S DOCKER >/dev/null 2>&1; then
    for t in "${iptables_tables[@]}"; do
        iptables -t "$t" -S >"$work/iptables.$t"
    done
    restore_iptables=1
else
    log "Docker chains are in iptables already (another dockerd?): they and ours will stay"
fi
ip link show docker0 >/dev/null 2>&1 || remove_docker0=1

# Its own config file, so /etc/docker/daemon.json (which run.sh edits) is
# neither read nor changed. Its own containerd namespaces, so that even a
# containerd shared with another dockerd keeps the two apart.
jq -n --arg path "$SANDBOX_BIN" --arg data "$DATA_ROOT" --arg exec "$EXEC_ROOT" \
    --arg pid "$PIDFILE" --arg host "unix://$SOCK" '{
    "data-root": $data, "exec-root": $exec, "pidfile": $pid, "hosts": [$host],
    "containerd-namespace": "sandbox-net", "containerd-plugins-namespace": "sandbox-net-plugins",
    "iptables": true, "ip-forward": true,
    "runtimes": {
        "sandbox": {"path": $path},
        "sandbox-vm": {"path": $path, "runtimeArgs": ["--backend=microvm"]},
        "sandbox-hostnet": {"path": $path, "runtimeArgs": ["--network=host"]}
    }}' >"$work/daemon.json"

log "starting dockerd on $SOCK (log: $work/dockerd.log)"
dockerd --config-file "$work/daemon.json" >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 1 120); do
    timeout 5 docker info >/dev/null 2>&1 && break
    kill -0 "$dockerd_pid" 2>/dev/null || break
    sleep 0.5
done
if ! timeout 5 docker info >/dev/null 2>&1; then
    log "dockerd did not come up within 60 s; its log:"
    tail -n 50 "$work/dockerd.log" >&2 || true
    exit 1
fi
for rt in "${runtimes[@]}"; do
    if ! timeout 10 docker info --format '{{json .Runtimes}}' | jq -e --arg rt "$rt" 'has($rt)' >/dev/null; then
        log "dockerd does not know the runtime $rt"
        exit 1
    fi
done
# A run killed before its cleanup leaves labelled leftovers in the data root.
remove_ours

# --- content and images ----------------------------------------------------

# What the servers serve: a page with a token of this run, and a binary
# file several TCP windows long, compared by checksum.
mkdir -p "$work/www"
token=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '<html><body><h1>sandbox network test</h1><p>%s</p></body></html>\n' "$token" >"$work/www/index.html"
head -c $((256 * 1024)) /dev/urandom >"$work/www/blob.bin"
page_sum=$(sha256sum <"$work/www/index.html" | cut -d' ' -f1)
blob_sum=$(sha256sum <"$work/www/blob.bin" | cut -d' ' -f1)

t0=$(date +%s)
# shellcheck source=tests/docker/images.sh
. "$here/images.sh"
image_busybox "$IMG_BUSYBOX" --change "LABEL $LABEL"
image_python "$IMG_PYTHON" "$work/www" --change "LABEL $LABEL"
image_nginx "$IMG_NGINX" "$work/www" --change "LABEL $LABEL"
image_redis "$IMG_REDIS" --change "LABEL $LABEL"
log "imported ${images[*]} in $(($(date +%s) - t0)) s"

# --- the host's side of the default bridge ----------------------------------

gw=$(ip -4 -o addr show dev docker0 | awk '{print $4}' | cut -d/ -f1)
if [ -z "$gw" ]; then
    log "docker0 has no IPv4 address"
    exit 1
fi
# The host address a --network=host container must see.
host_ip=$(ip -4 -o route get 1.1.1.1 2>/dev/null | sed -nE 's/.* src ([0-9.]+).*/\1/p')
host_ip=${host_ip:-$(hostname -I | awk '{print $1}')}
# A web server on the host, bound to the bridge's address only.
python3 -m http.server --bind "$gw" --directory "$work/www" "$HOST_WEB_PORT" \
    >"$work/host-web.log" 2>&1 &
host_pids+=($!)
for _ in $(seq 1 50); do
    curl -fsS --max-time 2 -o /dev/null "http://$gw:$HOST_WEB_PORT/index.html" 2>/dev/null && break
    sleep 0.2
done

# --- the checks ------------------------------------------------------------
total_pass=0
total_fail=0
pass=0
fail=0
rt=

ok() {
    echo "PASS [$rt] $1"
    pass=$((pass + 1))
}
bad() {
    echo "FAIL [$rt] $1"
    fail=$((fail + 1))
}
# Shows a file's contents, indented, after a failure.
show() { sed 's/^/    | /' "$1" >&2 || true; }
# Shows a container's log after a failure.
show_logs() { timeout -k 5 20 docker logs "$1" 2>&1 | tail -n 20 | sed 's/^/    | /' >&2 || true; }

# docker, bounded: TERM after $TIMEOUT s, then KILL (docker run proxies TERM
# to the container instead of exiting).
d() { timeout -k 10 "$TIMEOUT" docker "$@"; }
# Every container of a check has a name (sbxnet-WHAT-RUNTIME), so that the
# check removes it by name even when `docker run` failed before printing an
# id (a container whose runtime failed at create stays behind, --rm or not).
# A container of this run, detached: prints its id.
run_d() { # NAME ARGS...
    local name=$1
    shift
    d run -d --name "$name" --runtime="$rt" --label "$LABEL" "$@"
}
# A container of this run, in the foreground, removed at exit.
run_fg() { # NAME ARGS...
    local name=$1
    shift
    d run --rm --name "$name" --runtime="$rt" --label "$LABEL" "$@"
}
# The container's address (on its only network).
ctr_ip() { d inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"; }
rm_ctr() { timeout -k 5 30 docker rm -f "$1" >/dev/null 2>&1 || true; }

# docker for a quick query (inspect, logs): a short bound, so that polling
# loops keep to their deadlines.
dq() { timeout -k 5 10 docker "$@"; }
running() { [ "$(dq inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" = true ]; }

# Waits until URL answers, for at most SECONDS and only while container ID
# runs; 0 when it answered.
wait_http() { # URL ID [SECONDS]
    local url=$1 id=$2 end=$((SECONDS + ${3:-30}))
    while [ "$SECONDS" -lt "$end" ]; do
        curl -fsS --max-time 2 -o /dev/null "$url" 2>/dev/null && return 0
        running "$id" || return 1
        sleep 0.2
    done
    return 1
}

# Waits until container ID's log has a line matching PATTERN.
wait_log() { # ID PATTERN [SECONDS]
    local id=$1 pattern=$2 end=$((SECONDS + ${3:-30}))
    while [ "$SECONDS" -lt "$end" ]; do
        dq logs "$id" 2>&1 | grep -q -- "$pattern" && return 0
        running "$id" || return 1
        sleep 0.2
    done
    return 1
}

# Fetches URL N times, P at a time, with a fresh connection each, and
# prints how many of the bodies had sha256 SUM.
fetch_many() { # URL N P SUM
    local url=$1 n=$2 p=$3 sum=$4 dir good=0 f
    dir=$(mktemp -d "$work/fetch.XXXXXX")
    seq 1 "$n" | timeout -k 5 120 xargs -P "$p" -I{} \
        curl -fsS --max-time 20 -o "$dir/{}" "$url" 2>>"$work/err" || true
    for f in "$dir"/*; do
        [ -f "$f" ] && [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$sum" ] && good=$((good + 1))
    done
    rm -rf "$dir"
    echo "$good"
}

# 1. Published ports: a server in the container behind -p HOST:80, reached
#    from the host through docker-proxy (127.0.0.1) and through the DNAT
#    rule (the host's own address).
check_published() { # WHAT PORT IMAGE [CMD...]
    local what=$1 port=$2 img=$3 id st=0 n name ctr
    shift 3
    name="$what -p $port:80"
    ctr=sbxnet-$(tr -cd 'a-z0-9' <<<"$what")-$rt
    : >"$work/err"
    id=$(run_d "$ctr" -p "$port:80" "$img" "$@" 2>"$work/err") || st=$?
    if [ "$st" != 0 ] || [ -z "$id" ]; then
        bad "$name: docker run -d failed (status $st)"
        show "$work/err"
        bad "$name: 100 sequential requests (no server)"
        bad "$name: 20 concurrent requests (no server)"
        rm_ctr "$ctr"
        return
    fi
    if ! wait_http "http://127.0.0.1:$port/index.html" "$id" 30; then
        bad "$name: curl http://127.0.0.1:$port/ never answered within 30 s"
        show_logs "$id"
        bad "$name: 100 sequential requests (no server)"
        bad "$name: 20 concurrent requests (no server)"
        rm_ctr "$ctr"
        return
    fi
    local sums=() addr got
    for addr in 127.0.0.1 "$host_ip"; do
        got=$(curl -fsS --max-time 10 "http://$addr:$port/index.html" 2>>"$work/err" | sha256sum | cut -d' ' -f1)
        sums+=("$addr/index.html:$([ "$got" = "$page_sum" ] && echo ok || echo BAD)")
        got=$(curl -fsS --max-time 10 "http://$addr:$port/blob.bin" 2>>"$work/err" | sha256sum | cut -d' ' -f1)
        sums+=("$addr/blob.bin:$([ "$got" = "$blob_sum" ] && echo ok || echo BAD)")
    done
    if [[ "${sums[*]}" != *BAD* ]]; then
        ok "$name: curl from the host (127.0.0.1 and $host_ip) gets the page and the 256 KiB file intact"
    else
        bad "$name: curl from the host: ${sums[*]}"
        show "$work/err"
    fi
    : >"$work/err"
    n=$(fetch_many "http://127.0.0.1:$port/blob.bin" 100 1 "$blob_sum")
    if [ "$n" = 100 ]; then
        ok "$name: 100 sequential requests, all intact"
    else
        bad "$name: 100 sequential requests: $n intact"
        show "$work/err"
    fi
    : >"$work/err"
    n=$(fetch_many "http://127.0.0.1:$port/blob.bin" 20 20 "$blob_sum")
    if [ "$n" = 20 ]; then
        ok "$name: 20 concurrent requests, all intact"
    else
        bad "$name: 20 concurrent requests: $n intact"
        show "$work/err"
    fi
    rm_ctr "$ctr"
}

# 2. A user-defined network: a server and a client container; the client
#    finds the server through Docker's embedded DNS (127.0.0.11) and
#    reaches it by name and by address.
check_user_network() {
    local net=sbxnet-$rt server=sbxnet-web-$rt id ip st=0 out
    : >"$work/err"
    if ! d network create --label "$LABEL" "$net" >/dev/null 2>"$work/err"; then
        bad "user network: docker network create $net failed"
        show "$work/err"
        bad "user network: by name (no network)"
        bad "user network: by address (no network)"
        return
    fi
    id=$(run_d "$server" --network "$net" "$IMG_PYTHON" \
        python3 -m http.server 80 --directory /srv/www 2>"$work/err") || st=$?
    ip=$(d inspect -f "{{(index .NetworkSettings.Networks \"$net\").IPAddress}}" "$server" 2>/dev/null || true)
    if [ "$st" != 0 ] || [ -z "$ip" ] || ! wait_http "http://$ip/index.html" "$id" 30; then
        bad "user network: the server $server did not come up (status $st, address '$ip')"
        show "$work/err"
        [ -n "$id" ] && show_logs "$id"
        bad "user network: by name (no server)"
        bad "user network: by address (no server)"
        rm_ctr "$server"
        d network rm "$net" >/dev/null 2>&1 || true
        return
    fi
    # One client container for all the client's checks: each prints a
    # line of its own. nslookup is busybox's, which asks the nameserver
    # over UDP itself; the fetches are urllib's (glibc's resolver).
    local fetch='import hashlib, sys, urllib.request
print(sys.argv[1], hashlib.sha256(urllib.request.urlopen(sys.argv[2], timeout=10).read()).hexdigest())'
    st=0
    # shellcheck disable=SC2016 # expanded by the container's shell
    out=$(run_fg "sbxnet-client-$rt" --network "$net" "$IMG_PYTHON" sh -c '
        echo "resolv $(grep ^nameserver /etc/resolv.conf | tr "\n" " ")"
        echo "nslookup $(nslookup "$1" 2>&1 | tr "\n" " ")"
        echo "getent $(getent hosts "$1")"
        echo "getent-tcp $(RES_OPTIONS=use-vc getent hosts "$1")"
        python3 -c "$3" byname "http://$1/blob.bin" 2>&1
        python3 -c "$3" byip "http://$2/blob.bin" 2>&1
        ' sh "$server" "$ip" "$fetch" 2>"$work/err") || st=$?
    local resolv ns byname byip gent gtcp
    resolv=$(sed -n 's/^resolv //p' <<<"$out")
    ns=$(sed -n 's/^nslookup //p' <<<"$out")
    gent=$(sed -n 's/^getent //p' <<<"$out")
    gtcp=$(sed -n 's/^getent-tcp //p' <<<"$out")
    byname=$(sed -n 's/^byname //p' <<<"$out")
    byip=$(sed -n 's/^byip //p' <<<"$out")
    if [ "$resolv" = "nameserver 127.0.0.11 " ] && [[ "$ns" == *"Address: $ip"* ]] &&
        [ "$(awk '{print $1}' <<<"$gent")" = "$ip" ] && [ "$(awk '{print $1}' <<<"$gtcp")" = "$ip" ]; then
        ok "user network: embedded DNS: resolv.conf names 127.0.0.11; nslookup (UDP), getent and getent over TCP (use-vc) give $server = $ip"
    else
        bad "user network: embedded DNS: resolv.conf '$resolv', nslookup '$ns', getent '$gent', getent over TCP '$gtcp' (want 127.0.0.11 and $ip); status $st"
        show "$work/err"
    fi
    if [ "$byname" = "$blob_sum" ]; then
        ok "user network: the client reaches the server by name (http://$server/, intact)"
    else
        bad "user network: by name: got '$byname' (status $st), output: $(tr '\n' '|' <<<"$out")"
    fi
    if [ "$byip" = "$blob_sum" ]; then
        ok "user network: the client reaches the server by address (http://$ip/, intact)"
    else
        bad "user network: by address: got '$byip' (status $st)"
    fi
    rm_ctr "sbxnet-client-$rt"
    rm_ctr "$server"
    if ! d network rm "$net" >/dev/null 2>"$work/err"; then
        bad "user network: docker network rm $net failed"
        show "$work/err"
    fi
}

# 3. Compose (Debian's docker-compose 1.29, file format 2.4, which has
#    `runtime:`): an app and a redis service on the project's network; the
#    app reaches redis by its service name; `down` leaves nothing.
check_compose() {
    local project dir st=0 out i
    project=sbxnet-$rt
    dir=$work/compose-$rt
    mkdir -p "$dir"
    cat >"$dir/docker-compose.yml" <<EOF
version: "2.4"
services:
  redis:
    image: $IMG_REDIS
    runtime: $rt
    labels: ["$LABEL"]
  app:
    image: $IMG_REDIS
    runtime: $rt
    labels: ["$LABEL"]
    depends_on: [redis]
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
networks:
  default:
    labels: ["$LABEL"]
EOF
    dc() { timeout -k 10 "$TIMEOUT" docker-compose -p "$project" -f "$dir/docker-compose.yml" "$@"; }
    : >"$work/err"
    if ! dc up -d >/dev/null 2>"$work/err"; then
        bad "compose: docker-compose up -d failed"
        show "$work/err"
        bad "compose: the app reaches redis by service name (not up)"
        bad "compose: SET then GET (not up)"
    else
        ok "compose: docker-compose up -d (app and redis with runtime: $rt)"
        # redis may still be starting: retry the first PING for 30 s.
        : >"$work/err"
        local end=$((SECONDS + 30))
        i=0
        while [ "$SECONDS" -lt "$end" ]; do
            i=$((i + 1))
            out=$(timeout -k 5 20 docker-compose -p "$project" -f "$dir/docker-compose.yml" \
                exec -T app redis-cli -h redis ping 2>>"$work/err") || true
            [ "$out" = PONG ] && break
            sleep 0.5
        done
        if [ "$out" = PONG ]; then
            ok "compose: the app reaches redis by service name (redis-cli -h redis ping: PONG)"
        else
            bad "compose: redis-cli -h redis ping from the app: '$out' after $i tries"
            show "$work/err"
        fi
        # shellcheck disable=SC2016 # expanded by the container's shell
        out=$(dc exec -T app sh -c 'redis-cli -h redis set sbxkey "$1" && redis-cli -h redis get sbxkey' sh "$token" 2>"$work/err") || st=$?
        if [ "$out" = $'OK\n'"$token" ]; then
            ok "compose: SET then GET through the service name returns the value"
        else
            bad "compose: SET/GET: '$(tr '\n' '|' <<<"$out")', status $st"
            show "$work/err"
        fi
    fi
    st=0
    dc down --timeout 10 >/dev/null 2>"$work/err" || st=$?
    local left nets
    left=$(d ps -aq --filter "label=com.docker.compose.project=$project" 2>/dev/null)
    nets=$(d network ls -q --filter "label=com.docker.compose.project=$project" 2>/dev/null)
    if [ "$st" = 0 ] && [ -z "$left" ] && [ -z "$nets" ]; then
        ok "compose: docker-compose down leaves no container and no network"
    else
        bad "compose: down: status $st, containers left '$(tr '\n' ' ' <<<"$left")', networks left '$(tr '\n' ' ' <<<"$nets")'"
        show "$work/err"
        remove_ours
    fi
}

# 4. The default bridge, both ways: the container reaches a server on the
#    host's docker0 address, and the host reaches the container's address.
check_bridge() {
    local st=0 out id ip got
    : >"$work/err"
    # No wget -T: Debian's busybox-static 1.35 wget segfaults with it (on
    # the host too); run_fg's timeout bounds the fetch instead.
    out=$(run_fg "sbxnet-wget-$rt" "$IMG_BUSYBOX" sh -c "wget -q -O - http://$gw:$HOST_WEB_PORT/blob.bin | sha256sum" \
        2>"$work/err") || st=$?
    if [ "${out%% *}" = "$blob_sum" ]; then
        ok "bridge: the container fetches from the host's server at $gw:$HOST_WEB_PORT (busybox wget, intact)"
    else
        bad "bridge: container -> host $gw:$HOST_WEB_PORT: got '$out', status $st"
        show "$work/err"
    fi
    st=0
    rm_ctr "sbxnet-wget-$rt"
    id=$(run_d "sbxnet-bridgeweb-$rt" "$IMG_PYTHON" python3 -m http.server 80 --directory /srv/www \
        2>"$work/err") || st=$?
    ip=
    if [ -n "$id" ]; then ip=$(ctr_ip "$id" 2>/dev/null || true); fi
    if [ "$st" = 0 ] && [ -n "$ip" ] && wait_http "http://$ip/index.html" "$id" 30; then
        got=$(curl -fsS --max-time 10 "http://$ip/blob.bin" 2>"$work/err" | sha256sum | cut -d' ' -f1)
        if [ "$got" = "$blob_sum" ]; then
            ok "bridge: the host fetches from the container's address $ip (no -p, intact)"
        else
            bad "bridge: host -> container $ip: wrong or no content"
            show "$work/err"
        fi
    else
        bad "bridge: host -> container: the server never answered at '$ip' (status $st)"
        show "$work/err"
        [ -n "$id" ] && show_logs "$id"
    fi
    # A restarted container gets its network again (a runtime that took
    # the interface over must find it configured anew).
    if [ -n "$id" ] && d restart -t 2 "$id" >/dev/null 2>"$work/err"; then
        ip=$(ctr_ip "$id" 2>/dev/null || true)
        if [ -n "$ip" ] && wait_http "http://$ip/index.html" "$id" 30; then
            ok "bridge: after docker restart the container serves again at $ip"
        else
            bad "bridge: after docker restart the server never answered at '$ip'"
            show_logs "$id"
        fi
    else
        bad "bridge: docker restart failed"
        show "$work/err"
    fi
    rm_ctr "sbxnet-bridgeweb-$rt"
}

# 5. Inside, the container sees what docker inspect reports: its address
#    and prefix, MAC, default route; and resolves its own hostname.
check_inside() {
    local id st=0 ip prefix gw_ip mac out
    : >"$work/err"
    id=$(run_d "sbxnet-inside-$rt" "$IMG_PYTHON" sh -c 'trap "exit 0" TERM; while true; do sleep 1; done' \
        2>"$work/err") || st=$?
    if [ "$st" != 0 ] || [ -z "$id" ]; then
        bad "inside: docker run -d failed (status $st)"
        show "$work/err"
        bad "inside: ip route (no container)"
        bad "inside: hostname -i (no container)"
        bad "inside: getent hosts \$(hostname) (no container)"
        rm_ctr "sbxnet-inside-$rt"
        return
    fi
    read -r ip prefix gw_ip mac < <(d inspect -f \
        '{{.NetworkSettings.IPAddress}} {{.NetworkSettings.IPPrefixLen}} {{.NetworkSettings.Gateway}} {{.NetworkSettings.MacAddress}}' \
        "$id" 2>/dev/null || true)
    out=$(d exec "$id" ip addr show dev eth0 2>&1) || true
    if grep -q "inet $ip/$prefix " <<<"$out" && grep -q "link/ether $mac " <<<"$out"; then
        ok "inside: ip addr shows eth0 with $ip/$prefix and MAC $mac"
    else
        bad "inside: ip addr show dev eth0 (want $ip/$prefix, $mac): $(tr '\n' '|' <<<"$out")"
    fi
    out=$(d exec "$id" ip route 2>&1) || true
    if grep -q "^default via $gw_ip dev eth0" <<<"$out" && grep -q "dev eth0 .*src $ip" <<<"$out"; then
        ok "inside: ip route shows default via $gw_ip and the subnet route from $ip"
    else
        bad "inside: ip route (want default via $gw_ip, a route with src $ip): $(tr '\n' '|' <<<"$out")"
    fi
    out=$(d exec "$id" hostname -i 2>&1) || true
    if [ "$(xargs <<<"$out")" = "$ip" ]; then
        ok "inside: hostname -i gives $ip"
    else
        bad "inside: hostname -i: '$out' (want $ip)"
    fi
    # shellcheck disable=SC2016 # expanded by the container's shell
    out=$(d exec "$id" sh -c 'getent hosts "$(hostname)"' 2>&1) || true
    if [ "$(awk '{print $1}' <<<"$out")" = "$ip" ]; then
        ok "inside: getent hosts \$(hostname) gives $ip"
    else
        bad "inside: getent hosts \$(hostname): '$out' (want $ip)"
    fi
    rm_ctr "sbxnet-inside-$rt"
}

# 6. --network=none: loopback only. --network=host: the host's interfaces
#    under runc; a sandbox runtime must refuse it with an error that says
#    why, unless it is the one registered with --network=host.
check_none_and_host() {
    local st=0 out links
    : >"$work/err"
    out=$(run_fg "sbxnet-none-$rt" --network=none "$IMG_PYTHON" ip -o link show 2>"$work/err") || st=$?
    rm_ctr "sbxnet-none-$rt"
    links=$(awk -F': ' '{print $2}' <<<"$out" | tr '\n' ' ')
    if [ "$st" = 0 ] && [ "$links" = "lo " ] && grep -q '<LOOPBACK,UP' <<<"$out"; then
        ok "--network=none: only lo, and it is up"
    else
        bad "--network=none: status $st, interfaces '$links' (want only lo, up): $(tr '\n' '|' <<<"$out")"
        show "$work/err"
    fi
    st=0
    : >"$work/err"
    out=$(run_fg "sbxnet-host-$rt" --network=host "$IMG_PYTHON" ip -4 -o addr show 2>"$work/err") || st=$?
    rm_ctr "sbxnet-host-$rt"
    case $rt in
    runc | sandbox-hostnet)
        if [ "$st" = 0 ] && grep -q "inet $host_ip/" <<<"$out"; then
            ok "--network=host: the container sees the host's address $host_ip"
        else
            bad "--network=host: status $st, want the host's address $host_ip in: $(tr '\n' '|' <<<"$out")"
            show "$work/err"
        fi
        ;;
    *)
        # Our own names (socket, exec root, containerd namespace) contain
        # "sandbox-net": they must not pass for the runtime's explanation.
        if [ "$st" != 0 ] && sed 's/sandbox-net[-a-z]*//g' "$work/err" | grep -qi network; then
            ok "--network=host: refused with an error that names the network ($(grep -i network "$work/err" | head -n 1 | cut -c1-160))"
        else
            bad "--network=host: want a failure whose message mentions the network; got status $st, stderr: $(tr '\n' '|' <"$work/err" | cut -c1-300)"
        fi
        ;;
    esac
}

# 7. Bulk TCP between the host and the container's address, each way,
#    checksummed on both ends (netblob.py: sha256 of what was sent and of
#    what was received).
check_bulk() {
    local mib=$((BULK_BYTES >> 20)) id ip st=0 sent got t0 ms
    # host -> container
    : >"$work/err"
    id=$(run_d "sbxnet-bulkrx-$rt" "$IMG_PYTHON" python3 /usr/local/bin/netblob.py --timeout "$BULK_TIMEOUT" recv 9000 \
        2>"$work/err") || st=$?
    ip=
    if [ -n "$id" ]; then ip=$(ctr_ip "$id" 2>/dev/null || true); fi
    if [ "$st" != 0 ] || [ -z "$ip" ] || ! wait_log "$id" listening 30; then
        bad "bulk host -> container: the receiver did not start (status $st, address '$ip')"
        show "$work/err"
        [ -n "$id" ] && show_logs "$id"
    else
        t0=$(date +%s%N)
        sent=$(timeout -k 5 "$BULK_TIMEOUT" python3 "$here/netblob.py" --timeout 60 send "$ip" 9000 "$BULK_BYTES" \
            2>>"$work/err") || st=$?
        ms=$((($(date +%s%N) - t0) / 1000000))
        # The receiver exits once it has read everything; one that never
        # got a connection would wait out its own timeout: don't wait then.
        if [ "$st" = 0 ]; then
            timeout -k 5 60 docker wait "$id" >/dev/null 2>&1 || true
        fi
        got=$(dq logs "$id" 2>&1 | grep '^bytes ' || true)
        if [ "$st" = 0 ] && [ -n "$sent" ] && [ "$got" = "$sent" ]; then
            ok "bulk host -> container: $mib MiB, sha256 equal on both ends, ${ms} ms ($((mib * 1000 / (ms + 1))) MiB/s)"
        else
            bad "bulk host -> container: status $st after ${ms} ms; sent '$sent', received '$got'"
            show "$work/err"
            show_logs "$id"
        fi
    fi
    rm_ctr "sbxnet-bulkrx-$rt"

    # container -> host
    st=0
    : >"$work/err"
    : >"$work/bulk-recv.out"
    timeout -k 5 "$BULK_TIMEOUT" python3 "$here/netblob.py" --timeout "$BULK_TIMEOUT" \
        recv --bind "$gw" "$HOST_BULK_PORT" >"$work/bulk-recv.out" 2>&1 &
    local rpid=$!
    for _ in $(seq 1 50); do
        grep -q listening "$work/bulk-recv.out" && break
        sleep 0.1
    done
    t0=$(date +%s%N)
    sent=$(timeout -k 10 "$BULK_TIMEOUT" docker run --rm --name "sbxnet-bulktx-$rt" --runtime="$rt" \
        --label "$LABEL" "$IMG_PYTHON" \
        python3 /usr/local/bin/netblob.py --timeout 60 send "$gw" "$HOST_BULK_PORT" "$BULK_BYTES" \
        2>"$work/err") || st=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    rm_ctr "sbxnet-bulktx-$rt"
    # A sender that never connected leaves the receiver waiting: end it.
    if [ "$st" != 0 ]; then
        kill "$rpid" 2>/dev/null || true
    fi
    wait "$rpid" || true
    got=$(grep '^bytes ' "$work/bulk-recv.out" || true)
    if [ "$st" = 0 ] && [ -n "$sent" ] && [ "$got" = "$sent" ]; then
        ok "bulk container -> host: $mib MiB, sha256 equal on both ends, ${ms} ms with the container's start ($((mib * 1000 / (ms + 1))) MiB/s)"
    else
        bad "bulk container -> host: status $st after ${ms} ms; sent '$sent', received '$got'"
        show "$work/err"
        show "$work/bulk-recv.out"
    fi
}

# 9. docker run --network=container:X (issue 14): a second container in
#    the first's network namespace (for sandbox: in the first's sandbox)
#    reaches the first's server, bound to 127.0.0.1 only, on localhost and
#    sees the first's address; the first keeps serving after the second
#    is gone.
check_container_network() {
    local web=sbxnet-pod-$rt name="--network=container:" id ip got st=0 end
    local fetch="wget -qO- http://127.0.0.1:8000/index.html"
    : >"$work/err"
    id=$(run_d "$web" "$IMG_PYTHON" python3 -m http.server 8000 --bind 127.0.0.1 \
        --directory /srv/www 2>"$work/err") || st=$?
    if [ "$st" != 0 ] || [ -z "$id" ]; then
        bad "$name: docker run -d of the server failed (status $st)"
        show "$work/err"
        rm_ctr "$web"
        return
    fi
    end=$((SECONDS + 30))
    until dq exec "$web" sh -c "$fetch" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$end" ] || ! running "$web"; then
            bad "$name: the server never answered on its own loopback within 30 s"
            show_logs "$web"
            rm_ctr "$web"
            return
        fi
        sleep 0.2
    done
    ip=$(ctr_ip "$web")
    : >"$work/err"
    got=$(run_fg "sbxnet-pod-client-$rt" --network "container:$web" "$IMG_BUSYBOX" \
        sh -c "$fetch && ip -4 -o addr show eth0" 2>"$work/err") || st=$?
    if [ "$st" = 0 ] && [ "$(sed '$d' <<<"$got" | sha256sum | cut -d' ' -f1)" = "$page_sum" ]; then
        ok "$name$web: wget http://127.0.0.1:8000/ from the second container gets the first's page"
    else
        bad "$name$web: wget from the second container: status $st"
        show "$work/err"
    fi
    if [ -n "$ip" ] && grep -q "inet $ip/" <<<"$got"; then
        ok "$name$web: the second container has the first's address ($ip)"
    else
        bad "$name$web: the second container's eth0 is not the first's $ip: $(tail -n 1 <<<"$got")"
    fi
    got=$(dq exec "$web" sh -c "$fetch" 2>>"$work/err" | sha256sum | cut -d' ' -f1)
    if running "$web" && [ "$got" = "$page_sum" ]; then
        ok "$name$web: the first container keeps serving after the second exited"
    else
        bad "$name$web: the first container after the second exited: running=$(running "$web" && echo yes || echo no)"
        show_logs "$web"
    fi
    rm_ctr "$web"
}

check_nothing_left() {
    local left nets
    left=$(timeout -k 5 30 docker ps -aq --filter "label=$LABEL")
    nets=$(timeout -k 5 30 docker network ls -q --filter "label=$LABEL")
    if [ -z "$left" ] && [ -z "$nets" ]; then
        ok "no containers or networks left behind"
    else
        bad "left behind: containers '$(tr '\n' ' ' <<<"$left")', networks '$(tr '\n' ' ' <<<"$nets")'"
        remove_ours
    fi
}

# Runs one group of checks and logs how long it took.
group() { # FUNCTION [ARGS...]
    local t0=$SECONDS
    if [ -n "${NET_ONLY:-}" ] && [[ " $NET_ONLY " != *" $1 "* ]]; then
        return 0
    fi
    # Each check judges its own outcome and prints PASS/FAIL lines; a
    # command failing inside one must not end the whole run (errexit is
    # off inside a function called from an || list).
    "$@" || log "[$rt] $1 ended with status $? (its checks have reported)"
    log "[$rt] $1 took $((SECONDS - t0)) s"
}

control_failed=0
for rt in "${runtimes[@]}"; do
    pass=0
    fail=0
    start=$SECONDS
    log "checks with --runtime=$rt"
    group check_published nginx "$NGINX_PORT" "$IMG_NGINX"
    group check_published "python http.server" "$PYTHON_PORT" "$IMG_PYTHON" \
        python3 -m http.server 80 --directory /srv/www
    group check_user_network
    group check_compose
    group check_bridge
    group check_inside
    group check_none_and_host
    group check_bulk
    group check_container_network
    check_nothing_left
    echo "$rt: $pass passed, $fail failed ($((SECONDS - start)) s)"
    if [ "$rt" = runc ] && [ "$fail" != 0 ]; then
        control_failed=1
        log "the runc CONTROL failed: the harness or the machine is broken, not (only) sandbox"
    fi
    total_pass=$((total_pass + pass))
    total_fail=$((total_fail + fail))
done

if [ "$total_fail" != 0 ]; then
    log "last lines of the dockerd log:"
    tail -n 30 "$work/dockerd.log" >&2 || true
fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ] && [ "$control_failed" = 0 ]
