#!/usr/bin/env bash
# THE test command: `sudo tests/run.sh` (CI runs it through .ci/run).
#
# Stages: setup (tests/setup.sh), cargo build, cargo fmt --check, cargo
# clippy -D warnings, cargo test (the integration tests run the real
# `sandbox` binary beside their runc and native controls), the bench's short
# mode (bench/run.sh --short), then the Docker end-to-end checks with runc
# (the control) and with sandbox, then the Docker network checks.
#
# Every stage runs even when an earlier one failed, except those that need
# the build (they are reported as failed, never as passed). The closing
# line counts every cargo test and Docker check, plus each of the stages
# setup, build, fmt, clippy and bench as one check. Exits non-zero on any failure.
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo" || exit 2

if [ "$(id -u)" != 0 ]; then
    echo "tests/run.sh: run as root (sudo tests/run.sh): the tests create containers" >&2
    exit 2
fi

# shellcheck source=tests/toolchain.sh
. "$repo/tests/toolchain.sh"
# Failing integration tests print their captured output; backtraces only add noise.
export RUST_BACKTRACE=${TESTS_BACKTRACE:-0}

logs=$(mktemp -d /tmp/sandbox-run.XXXXXX)
trap 'rm -rf "$logs"' EXIT
passed=0
failed=0
summary=()

stage_result() { # NAME STATUS [DETAIL]
    if [ "$2" = 0 ]; then
        summary+=("ok      $1${3:+ ($3)}")
    else
        summary+=("FAILED  $1${3:+ ($3)}")
    fi
}

# A stage that counts as one check.
check_stage() { # NAME CMD...
    local name=$1 st=0
    shift
    echo
    echo "=== $name: $*"
    "$@" || st=$?
    stage_result "$name" "$st"
    if [ "$st" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    return "$st"
}

start=$(date +%s)

check_stage setup bash tests/setup.sh
built=0
check_stage build cargo build --workspace --all-targets && built=1
check_stage fmt cargo fmt --all -- --check
check_stage clippy cargo clippy --workspace --all-targets -- -D warnings

# cargo test: count its tests.
echo
echo "=== test: cargo test --workspace --no-fail-fast"
if [ "$built" = 1 ]; then
    st=0
    cargo test --workspace --no-fail-fast 2>&1 | tee "$logs/cargo-test.log" || st=$?
    read -r tp tf < <(sed -nE 's/^test result: [A-Za-z]+\. ([0-9]+) passed; ([0-9]+) failed;.*/\1 \2/p' \
        "$logs/cargo-test.log" | awk '{p += $1; f += $2} END {print p + 0, f + 0}')
    if [ "$st" != 0 ] && [ "$tf" = 0 ]; then
        tf=1 # it failed without a failing test (a compile error, a crash)
    fi
    passed=$((passed + tp))
    failed=$((failed + tf))
    stage_result test "$st" "$tp passed, $tf failed"
else
    echo "not run: the build failed"
    failed=$((failed + 1))
    stage_result test 1 "not run: the build failed"
fi

# The benchmark suite's short mode (one small round of every workload under
# every runtime, runsc included when it runs here), so the bench does not
# rot: it fails when a workload fails to run or gives a wrong result, never
# on a timing.
if [ "$built" = 1 ]; then
    check_stage bench bash bench/run.sh --short
else
    echo
    echo "=== bench: not run: the build failed"
    failed=$((failed + 1))
    stage_result bench 1 "not run: the build failed"
fi

# Docker end to end: runc (the control), then sandbox.
echo
# sandbox-vm (the microvm backend) needs a usable /dev/kvm.
docker_runtimes="runc sandbox"
if [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
    docker_runtimes="$docker_runtimes sandbox-vm"
else
    echo "NOTE: no usable /dev/kvm: the Docker checks skip sandbox-vm" >&2
fi
echo "=== docker: tests/docker/run.sh $docker_runtimes"
if [ "$built" = 1 ]; then
    st=0
    # shellcheck disable=SC2086 # the list is words on purpose
    bash tests/docker/run.sh $docker_runtimes 2>&1 | tee "$logs/docker.log" || st=$?
    read -r dp df < <(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$logs/docker.log" | tail -n 1)
    dp=${dp:-0}
    df=${df:-0}
    if [ "$st" != 0 ] && [ "$df" = 0 ]; then
        df=1 # it failed before or beside its checks (dockerd did not start, ...)
    fi
    passed=$((passed + dp))
    failed=$((failed + df))
    stage_result docker "$st" "$dp passed, $df failed"
else
    echo "not run: the build failed"
    failed=$((failed + 1))
    stage_result docker 1 "not run: the build failed"
fi

# Docker networking end to end (tests/docker/network.sh): a dockerd of its
# own with the default bridge and iptables; published ports, user-defined
# networks with the embedded DNS, Compose, the bridge both ways, 1 GiB each
# way; runc (the control), then sandbox, sandbox-vm (where /dev/kvm is
# usable) and sandbox-hostnet (--network=host).
echo
net_runtimes="runc sandbox"
if [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
    net_runtimes="$net_runtimes sandbox-vm"
fi
net_runtimes="$net_runtimes sandbox-hostnet"
echo "=== docker-network: tests/docker/network.sh $net_runtimes"
if [ "$built" = 1 ]; then
    st=0
    # shellcheck disable=SC2086 # the list is words on purpose
    bash tests/docker/network.sh $net_runtimes 2>&1 | tee "$logs/docker-network.log" || st=$?
    read -r np nf < <(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$logs/docker-network.log" | tail -n 1)
    np=${np:-0}
    nf=${nf:-0}
    if [ "$st" != 0 ] && [ "$nf" = 0 ]; then
        nf=1 # it failed before or beside its checks
    fi
    passed=$((passed + np))
    failed=$((failed + nf))
    stage_result docker-network "$st" "$np passed, $nf failed"
else
    echo "not run: the build failed"
    failed=$((failed + 1))
    stage_result docker-network 1 "not run: the build failed"
fi

# The integration tests put their cgroups under sandbox-tests/; remove the
# parents they leave when empty (rmdir fails on a non-empty one: a leak the
# tests have already reported).
for d in /sys/fs/cgroup/sandbox-tests /sys/fs/cgroup/*/sandbox-tests; do
    [ -d "$d" ] && rmdir "$d" 2>/dev/null
done

echo
echo "=== summary ($(($(date +%s) - start)) s)"
printf '  %s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
