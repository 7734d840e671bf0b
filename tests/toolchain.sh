# shellcheck shell=bash
# Sourced by the test scripts. Under sudo, root may have no Rust toolchain
# of its own: use the invoking user's (~/.cargo/bin, ~/.rustup).
if ! command -v cargo >/dev/null && [ -n "${SUDO_USER:-}" ]; then
    sudo_home=$(getent passwd "$SUDO_USER" | cut -d: -f6)
    export PATH="$sudo_home/.cargo/bin:$PATH"
    export CARGO_HOME=${CARGO_HOME:-$sudo_home/.cargo}
    export RUSTUP_HOME=${RUSTUP_HOME:-$sudo_home/.rustup}
fi
