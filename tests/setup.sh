#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian 12 machine (as root).
# Idempotent: packages already present are left alone.
set -euo pipefail
need=(busybox-static runc gcc make)
missing=()
for p in "${need[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
command -v cargo >/dev/null || { echo "cargo (Rust toolchain) is required" >&2; exit 1; }
