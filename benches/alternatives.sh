#!/usr/bin/env bash
# Our server beside the alternatives on this machine, in one run, driven by wrk at c=64:
# the official Rust SDK (rmcp on axum/tokio, benches/alternatives/rmcp), the official
# TypeScript SDK and Python SDK servers (benches/alternatives/ts_server.mjs, py_server.py,
# on the SDK versions tests/interop pins), and a bare tiny_http server answering a fixed
# body as long as our tools/list answer (the http bench's ceiling mode).
#
# Run: bash benches/alternatives.sh [--rounds N] [--seconds S] [--only NAME,NAME]
# (~10 minutes with the defaults after the builds; the first run builds rmcp and its
# tokio/axum tree, ~4 minutes on 2 cores). Prints Markdown. On demand, not in CI.
# Installs what is missing: wrk (Debian package), the interop SDKs (npm ci, pip
# --require-hashes, cached as tests/interop/run.sh caches them).
# The rmcp project is a separate Cargo package with its own lock file; none of its
# dependencies (tokio, axum) enter mcp-server-spec's dependency graph.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'alternatives: %s\n' "$*" >&2; }

if ! command -v wrk >/dev/null; then
    say "installing wrk"
    if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk >&2; else sudo apt-get install -y -qq wrk >&2; fi
fi
INTEROP_INSTALL_ONLY=1 bash tests/interop/run.sh

say "building mcp-server-spec (release)"
cargo build --release --locked --quiet
say "building the ceiling (the http bench in ceiling mode)"
ceiling=$(cargo bench --bench http --no-run --locked --message-format=json 2>/dev/null \
    | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "http":
        print(m["executable"])')
[ -x "$ceiling" ] || { say "error: no http bench executable"; exit 1; }
say "building the rmcp comparison server (release)"
cargo build --release --locked --quiet --manifest-path benches/alternatives/rmcp/Cargo.toml \
    --target-dir target/alternatives

exec python3 benches/alternatives/run.py --ours target/release/mcp-server-spec \
    --rmcp target/alternatives/release/rmcp-bench-server --ceiling "$ceiling" "$@"
