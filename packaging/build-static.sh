#!/usr/bin/env bash
# Builds the static release binary for x86_64-unknown-linux-musl:
#   target/x86_64-unknown-linux-musl/release/mcp-server-spec
# Release profile (Cargo.toml): LTO, one codegen unit, stripped symbols. panic stays
# "unwind": the protocol core catches a panicking handler per request (catch_unwind), which
# panic = "abort" would turn into a dead server.
# Installs the rustup target and musl-gcc (Debian's musl-tools, for ring's C code) if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-musl

if ! rustup target list --installed | grep -qx "$target"; then
    echo "build-static: installing rustup target $target"
    rustup target add "$target"
fi

if ! command -v musl-gcc >/dev/null 2>&1; then
    echo "build-static: installing musl-tools (musl-gcc)"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq musl-tools >/dev/null
fi

export CC_x86_64_unknown_linux_musl=musl-gcc
cargo build --release --locked --target "$target"

bin="target/$target/release/mcp-server-spec"
linkage=$(ldd "$bin" 2>&1 || true)
case "$linkage" in
    *"not a dynamic executable"*|*"statically linked"*) ;;
    *) echo "build-static: $bin is not static: $linkage" >&2; exit 1 ;;
esac
size=$(stat -c %s "$bin")
echo "build-static: $bin is static, $size bytes ($(( size / 1024 )) KiB)"
