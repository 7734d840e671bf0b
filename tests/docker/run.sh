#!/usr/bin/env bash
# Docker end to end (issue 2): runs the Docker checks against each runtime
# named as an argument, e.g. `tests/docker/run.sh runc sandbox`. runc is the
# control: if it fails, the harness is wrong, not the sandbox.
#
# As root. It registers `sandbox` and `sandbox-vm` (runtimeArgs
# --backend=microvm; SANDBOX_BIN, default target/debug/sandbox)
# in /etc/docker/daemon.json, merged into what is there, with iptables off
# and no bridge; starts dockerd (unless one is running: then it only reloads
# its configuration); imports a busybox image built from busybox-static; runs
# the checks; prints `N passed, M failed`; and at exit removes its containers
# and image, stops the dockerd it started and restores daemon.json (set
# KEEP_DAEMON_JSON=1 to keep the registration).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
SANDBOX_BIN=${SANDBOX_BIN:-$repo/target/debug/sandbox}
IMG=sandbox-busybox:test
LABEL=dev.sandbox.test=docker-run-sh
CFG=/etc/docker/daemon.json
TIMEOUT=${DOCKER_CHECK_TIMEOUT:-60} # seconds for any one docker command

runtimes=("$@")
if [ ${#runtimes[@]} -eq 0 ]; then
    runtimes=(runc sandbox)
fi
if [ "$(id -u)" != 0 ]; then
    echo "tests/docker/run.sh: run as root" >&2
    exit 2
fi
for rt in "${runtimes[@]}"; do
    if [ "$rt" != runc ] && [ ! -x "$SANDBOX_BIN" ]; then
        echo "tests/docker/run.sh: $SANDBOX_BIN is missing (cargo build -p sandbox-runtime)" >&2
        exit 2
    fi
done

# One run at a time: two would share daemon.json, dockerd and the image.
exec 9>/run/sandbox-docker-run.lock
if ! flock -w 900 9; then
    echo "tests/docker/run.sh: another run holds /run/sandbox-docker-run.lock" >&2
    exit 2
fi

work=$(mktemp -d /tmp/sandbox-docker.XXXXXX)
dockerd_pid=
cfg_saved=
cfg_existed=0

log() { echo "docker/run.sh: $*" >&2; }

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

# Removes our containers (by label); returns the ids it could not remove.
stuck_ids=
remove_our_containers() {
    local id
    for id in $(timeout -k 5 30 docker ps -aq --no-trunc --filter "label=$LABEL" 2>/dev/null); do
        if ! timeout -k 5 30 docker rm -f "$id" >/dev/null 2>&1; then
            log "docker rm -f $id failed or hung; killing its shim and processes"
            stuck_ids="$stuck_ids $id"
            kill_container "$id"
            timeout -k 5 30 docker rm -f "$id" >/dev/null 2>&1 || true
        fi
    done
}

cleanup() {
    local rc=$?
    set +e
    if timeout 10 docker info >/dev/null 2>&1; then
        remove_our_containers
        timeout -k 5 30 docker rmi "$IMG" >/dev/null 2>&1
    fi
    if [ -n "$dockerd_pid" ]; then
        log "stopping dockerd ($dockerd_pid)"
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
    if [ -n "$cfg_saved" ] && [ "${KEEP_DAEMON_JSON:-0}" != 1 ]; then
        if [ "$cfg_existed" = 1 ]; then
            cp "$cfg_saved" "$CFG"
        else
            rm -f "$CFG"
        fi
    fi
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT

# --- daemon.json: merge our settings into whatever is there ---------------
mkdir -p /etc/docker
cfg_saved=$work/daemon.json.orig
if [ -e "$CFG" ]; then
    cfg_existed=1
    cp "$CFG" "$cfg_saved"
else
    echo '{}' >"$cfg_saved"
fi
jq --arg path "$SANDBOX_BIN" \
    '. + {"iptables": false, "bridge": "none"}
     | .runtimes = ((.runtimes // {}) + {"sandbox": {"path": $path},
         "sandbox-vm": {"path": $path, "runtimeArgs": ["--backend=microvm"]}})' \
    "$cfg_saved" >"$work/daemon.json"
cp "$work/daemon.json" "$CFG"
log "registered sandbox and sandbox-vm (--backend=microvm) = $SANDBOX_BIN in $CFG"

# --- dockerd ---------------------------------------------------------------
if docker info >/dev/null 2>&1; then
    log "dockerd is already running; reloading its configuration (SIGHUP)"
    kill -HUP "$(cat /var/run/docker.pid)"
    sleep 2
else
    log "starting dockerd (log: $work/dockerd.log)"
    dockerd >"$work/dockerd.log" 2>&1 &
    dockerd_pid=$!
    for _ in $(seq 1 120); do
        docker info >/dev/null 2>&1 && break
        if ! kill -0 "$dockerd_pid" 2>/dev/null; then
            break
        fi
        sleep 0.5
    done
    if ! docker info >/dev/null 2>&1; then
        log "dockerd did not come up within 60 s; its log:"
        tail -n 50 "$work/dockerd.log" >&2 || true
        exit 1
    fi
fi
for rt in "${runtimes[@]}"; do
    if ! docker info --format '{{json .Runtimes}}' | jq -e --arg rt "$rt" 'has($rt)' >/dev/null; then
        log "dockerd does not know the runtime $rt"
        exit 1
    fi
done

# --- the image -------------------------------------------------------------
"$repo/tests/rootfs.sh" "$work/rootfs" "$work/rootfs.tar"
docker import "$work/rootfs.tar" "$IMG" >/dev/null
log "imported $IMG"

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

# docker, bounded: TERM after $TIMEOUT s, then KILL (docker run proxies TERM
# to the container instead of exiting).
d() { timeout -k 10 "$TIMEOUT" docker "$@"; }

check_run_output_and_status() {
    local st=0 out
    out=$(d run --rm --network=none --runtime="$rt" --label "$LABEL" "$IMG" \
        sh -c 'echo hi; exit 3' 2>"$work/err") || st=$?
    if [ "$out" = hi ] && [ "$st" = 3 ]; then
        ok "docker run --rm: output 'hi', exit status 3"
    else
        bad "docker run --rm: expected output 'hi' and status 3, got '$out' and status $st"
        show "$work/err"
    fi
}

check_detached_exec_stop() {
    local id st out t0 t1 elapsed code
    st=0
    id=$(d run -d --network=none --runtime="$rt" --label "$LABEL" "$IMG" \
        sh -c 'trap "echo got TERM; exit 0" TERM; echo ready; while true; do sleep 1; done' \
        2>"$work/err") || st=$?
    if [ "$st" != 0 ] || [ -z "$id" ]; then
        bad "docker run -d: status $st"
        show "$work/err"
        bad "docker exec: no container to exec in"
        bad "docker stop: no container to stop"
        bad "docker rm: no container to remove"
        return
    fi
    ok "docker run -d"
    # The trap must be installed before we send TERM: wait for `ready`.
    for _ in $(seq 1 100); do
        grep -q ready <<<"$(d logs "$id" 2>/dev/null)" && break
        sleep 0.2
    done

    st=0
    out=$(d exec "$id" echo inside 2>"$work/err") || st=$?
    if [ "$out" = inside ] && [ "$st" = 0 ]; then
        ok "docker exec: output 'inside'"
    else
        bad "docker exec: expected 'inside' and status 0, got '$out' and status $st"
        show "$work/err"
    fi

    local paused running
    st=0
    d pause "$id" >/dev/null 2>"$work/err" || st=$?
    paused=$(d inspect -f '{{.State.Status}}' "$id" 2>/dev/null || echo '?')
    d unpause "$id" >/dev/null 2>>"$work/err" || st=$?
    running=$(d inspect -f '{{.State.Status}}' "$id" 2>/dev/null || echo '?')
    if [ "$st" = 0 ] && [ "$paused" = paused ] && [ "$running" = running ]; then
        ok "docker pause/unpause: status paused, then running"
    else
        bad "docker pause/unpause: status $st, states '$paused' then '$running' (want paused, running)"
        show "$work/err"
    fi

    st=0
    t0=$(date +%s%N)
    d stop -t 10 "$id" >/dev/null 2>"$work/err" || st=$?
    t1=$(date +%s%N)
    elapsed=$(((t1 - t0) / 1000000))
    out=$(d logs "$id" 2>&1 || true)
    code=$(d inspect -f '{{.State.ExitCode}}' "$id" 2>/dev/null || echo '?')
    if [ "$st" = 0 ] && grep -q 'got TERM' <<<"$out" && [ "$elapsed" -lt 6000 ] && [ "$code" = 0 ]; then
        ok "docker stop: SIGTERM ran the trap ('got TERM'), exit code 0, in ${elapsed} ms"
    else
        bad "docker stop: status $st, ${elapsed} ms (want < 6000), exit code $code (want 0), logs: $(tr '\n' '|' <<<"$out")"
        show "$work/err"
    fi

    st=0
    d rm "$id" >/dev/null 2>"$work/err" || st=$?
    if [ "$st" = 0 ] && [ -z "$(d ps -aq --filter "id=$id")" ]; then
        ok "docker rm"
    else
        bad "docker rm: status $st"
        show "$work/err"
    fi
}

check_stdin() {
    local st=0 out
    out=$(echo piped | d run --rm -i --network=none --runtime="$rt" --label "$LABEL" "$IMG" \
        cat 2>"$work/err") || st=$?
    if [ "$out" = piped ] && [ "$st" = 0 ]; then
        ok "docker run --rm -i: stdin piped through cat"
    else
        bad "docker run --rm -i: expected 'piped' and status 0, got '$out' and status $st"
        show "$work/err"
    fi
}

check_tty() {
    local st=0 out
    # -t without -i needs no terminal on our side. tty names the terminal;
    # stty rows/cols/size set and read its window size (TIOCSWINSZ, TIOCGWINSZ) and stty -g its
    # termios with TCGETS: the ioctls a shell needs.
    out=$(d run --rm -t --network=none --runtime="$rt" --label "$LABEL" "$IMG" \
        sh -c 'tty; stty rows 24 cols 80 && stty size; stty -g >/dev/null && echo termios-ok' </dev/null 2>"$work/err") || st=$?
    out=$(tr -d '\r' <<<"$out")
    local want='^/dev/pts/[0-9]+
24 80
termios-ok$'
    if [[ "$out" =~ $want ]] && [ "$st" = 0 ]; then
        ok "docker run --rm -t: tty is $(head -n 1 <<<"$out"), window size and termios readable"
    else
        bad "docker run --rm -t: expected /dev/pts/N, a window size and termios-ok with status 0, got '$out' and status $st"
        show "$work/err"
    fi
}

check_tty_interrupt() {
    local st=0 out
    # An interactive terminal: ^C typed into it interrupts the foreground
    # command and runs the shell's INT trap. script(1) gives docker a tty.
    local cmd="docker run --rm -it --network=none --runtime=$rt --label $LABEL $IMG"
    cmd+=" sh -c 'trap \"echo got INT\" INT; echo ready; sleep 3; echo done'"
    out=$( (sleep 2; printf '\003'; sleep 4) | timeout -k 10 "$TIMEOUT" script -qfc "$cmd" /dev/null 2>"$work/err") || st=$?
    out=$(tr -d '\r' <<<"$out" | sed 's/^^C//')
    if [ "$out" = $'ready\ngot INT\ndone' ] && [ "$st" = 0 ]; then
        ok "docker run -it: ^C reached the foreground process group (INT trap ran)"
    else
        bad "docker run -it: expected ready / got INT / done and status 0, got '$out' and status $st"
        show "$work/err"
    fi
}

# --memory=256m --cpus=1: the container's cgroup has the limits (runc: the
# host's cgroup v1 files; the sandbox: its own cgroup v2 file system, in the
# same "quota period" form), and under the sandbox /proc/meminfo and the CPU
# count (nproc: sched_getaffinity) follow them, as gVisor's do.
check_container_limits() {
    local st=0 out want
    # shellcheck disable=SC2016 # expanded by the container's shell
    out=$(d run --rm --memory=256m --cpus=1 --network=none --runtime="$rt" --label "$LABEL" "$IMG" \
        sh -c 'c=/sys/fs/cgroup
            if [ -e $c/memory.max ]; then echo "memory $(cat $c/memory.max)"; echo "cpu $(cat $c/cpu.max)"
            else echo "memory $(cat $c/memory/memory.limit_in_bytes)"
                echo "cpu $(cat $c/cpu/cpu.cfs_quota_us) $(cat $c/cpu/cpu.cfs_period_us)"; fi
            echo "memtotal $(sed -n "s/^MemTotal: *\([0-9]*\) kB/\1/p" /proc/meminfo)"
            echo "nproc $(nproc)"' 2>"$work/err") || st=$?
    want=$'memory 268435456\ncpu 100000 100000'
    if [ "$rt" != runc ]; then
        want+=$'\nmemtotal 262144\nnproc 1'
    fi
    if [ "$st" = 0 ] && [[ "$out" == "$want"* ]]; then
        ok "docker run --memory=256m --cpus=1: $(tr '\n' ' ' <<<"$out")"
    else
        bad "docker run --memory=256m --cpus=1: expected '$(tr '\n' ' ' <<<"$want")' and status 0, got '$(tr '\n' ' ' <<<"$out")' and status $st"
        show "$work/err"
    fi
}

# A container that touches more memory than --memory allows is OOM-killed:
# exit code 137 and Docker's OOMKilled as under runc (busybox's tail keeps
# the whole of a file without newlines). OOMKilled must be what runc's
# container gets on this host: some Docker and containerd versions on
# cgroup v1 report false even for runc (true when runc was not checked).
oom_control=
check_oom_killed() {
    local st=0 id code oom want
    id=$(d run -d --memory=64m --memory-swap=64m --network=none --runtime="$rt" --label "$LABEL" "$IMG" \
        tail /dev/zero 2>"$work/err") || st=$?
    if [ "$st" != 0 ] || [ -z "$id" ]; then
        bad "docker run --memory=64m (OOM): status $st"
        show "$work/err"
        return
    fi
    code=$(d wait "$id" 2>>"$work/err" || echo '?')
    oom=$(d inspect -f '{{.State.OOMKilled}}' "$id" 2>>"$work/err" || echo '?')
    d rm -f "$id" >/dev/null 2>&1 || true
    if [ "$rt" = runc ]; then
        oom_control=$oom
    fi
    want=${oom_control:-true}
    if [ "$code" = 137 ] && [ "$oom" = "$want" ]; then
        ok "docker run --memory=64m: OOM-killed, exit code 137, OOMKilled $oom (runc's: ${oom_control:-not checked})"
    else
        bad "docker run --memory=64m: expected exit code 137 and OOMKilled $want (runc's), got $code and $oom"
        show "$work/err"
    fi
}

check_nothing_left() {
    local left
    left=$(timeout -k 5 30 docker ps -aq --filter "label=$LABEL")
    if [ -z "$left" ]; then
        ok "no containers left behind"
    else
        bad "containers left behind: $(tr '\n' ' ' <<<"$left")"
        remove_our_containers
    fi
}

control_failed=0
for rt in "${runtimes[@]}"; do
    pass=0
    fail=0
    log "checks with --runtime=$rt"
    check_run_output_and_status
    check_detached_exec_stop
    check_stdin
    check_tty
    check_tty_interrupt
    check_container_limits
    check_oom_killed
    check_nothing_left
    echo "$rt: $pass passed, $fail failed"
    if [ "$rt" = runc ] && [ "$fail" != 0 ]; then
        control_failed=1
        log "the runc CONTROL failed: the harness or the machine is broken, not (only) sandbox"
    fi
    total_pass=$((total_pass + pass))
    total_fail=$((total_fail + fail))
done

if [ "$total_fail" != 0 ] && [ -n "$dockerd_pid" ]; then
    log "last lines of the dockerd log:"
    tail -n 30 "$work/dockerd.log" >&2 || true
fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ] && [ "$control_failed" = 0 ]
