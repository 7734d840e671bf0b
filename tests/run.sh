#!/usr/bin/env bash
# The whole test suite: the command README names and .ci/run calls.
# Needs root (the sandbox makes namespaces, cgroups and ptraced stubs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
cargo build --workspace
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test --workspace
