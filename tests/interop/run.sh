#!/usr/bin/env bash
# Interop suite: the official MCP SDK clients (TypeScript v1 and v2 lines, Python) drive the
# release binary over stdio, and over Streamable HTTP and HTTPS when the binary serves them.
#
# Installs are pinned and locked (package-lock.json, hash-locked requirements.txt), go to
# folders git ignores (node_modules/, .venv/), and are skipped when a stamp says they already
# match the lock. Exits non-zero on any failure; the last line is `interop: N passed, M failed`.
#
# Environment:
#   MCP_SERVER_BIN   binary to test; when set, no build happens (default: cargo build
#                    --release --locked, then target/release/mcp-server-spec)
#   INTEROP_HTTP     1 (default: Streamable HTTP runs, and a binary without it fails),
#                    auto (run when the binary serves --transport http-stream, print SKIPPED
#                    when it says it is not in this build), 0 (off)
#   INTEROP_HTTPS    1 (default), auto (run when --ssl-certfile/--ssl-keyfile work), 0
#   INTEROP_PYTHON   interpreter for the venv (default python3; the lock is for CPython 3.11)
#   INTEROP_ONLY     regex: run only the cases whose name matches
#   INTEROP_INSTALL_ONLY=1  install (or confirm) the pinned SDKs, then exit 0
#   INTEROP_SELFTEST_HTTP=1  checks the drivers' own HTTP/HTTPS paths through
#                    selftest/http_bridge.py (Streamable HTTP in front of the binary's stdio);
#                    says nothing about the server's HTTP transport
set -euo pipefail

caller_dir="$PWD"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"

# Longest one driver (one SDK on one transport, every revision) may run.
DRIVER_TIMEOUT_S=300
# Longest the HTTP probe waits for the `listening on` log line (tenths of a second).
PROBE_TENTHS=100

say() { printf 'interop: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
sha() { sha256sum "$@" | sha256sum | cut -c1-64; }

t_start="$(now)"
scratch="$(mktemp -d "${TMPDIR:-/tmp}/mcp-interop-run.XXXXXX")"
probe_pid=""
cleanup() {
    if [ -n "$probe_pid" ]; then kill "$probe_pid" 2>/dev/null || true; wait "$probe_pid" 2>/dev/null || true; fi
    rm -rf "$scratch"
}
trap cleanup EXIT

# ---- tools -------------------------------------------------------------------------------
command -v node >/dev/null || die "node (>= 20) is required"
command -v npm >/dev/null || die "npm is required"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || die "node >= 20 is required (found $(node --version))"
python="${INTEROP_PYTHON:-python3}"
command -v "$python" >/dev/null || die "$python is required (CPython 3.11; the lock is compiled for it)"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || die "$python is older than 3.10"

# ---- installs (idempotent: a stamp of the lock file decides) ------------------------------
t0="$(now)"
node_stamp="$(sha package.json package-lock.json) node$node_major"
if [ "$(cat node_modules/.interop-stamp 2>/dev/null || true)" = "$node_stamp" ]; then
    say "node_modules matches package-lock.json (cached)"
else
    say "installing TypeScript SDKs: npm ci"
    npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2
    printf '%s' "$node_stamp" > node_modules/.interop-stamp
fi
py_stamp="$(sha requirements.txt) $("$python" -c 'import sys; print(sys.implementation.name, *sys.version_info[:3])')"
if [ -x .venv/bin/python ] && [ "$(cat .venv/.interop-stamp 2>/dev/null || true)" = "$py_stamp" ]; then
    say ".venv matches requirements.txt (cached)"
else
    say "installing the Python SDK: venv + pip install --require-hashes"
    rm -rf .venv
    "$python" -m venv .venv
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
        -r requirements.txt >&2
    printf '%s' "$py_stamp" > .venv/.interop-stamp
fi
say "installs: $(elapsed "$t0") s"
# For scripts that only need the SDKs (benches/alternatives.sh).
if [ "${INTEROP_INSTALL_ONLY:-0}" = 1 ]; then exit 0; fi

# ---- the binary ----------------------------------------------------------------------------
t0="$(now)"
if [ -n "${MCP_SERVER_BIN:-}" ]; then
    bin="$MCP_SERVER_BIN"
    case "$bin" in /*) ;; *) bin="$caller_dir/$bin" ;; esac
    say "testing MCP_SERVER_BIN=$bin (no build)"
else
    say "cargo build --release --locked"
    (cd "$root" && cargo build --release --locked --quiet) >&2
    bin="$root/target/release/mcp-server-spec"
fi
[ -x "$bin" ] || die "no executable at $bin"
export MCP_SERVER_BIN="$bin"
say "binary: $(elapsed "$t0") s ($("$bin" --version))"

# ---- which transports ----------------------------------------------------------------------
# The HTTP runs start `$http_bin --transport http-stream ...`: the binary itself, or in
# self-test mode the bridge in front of its stdio.
http_bin="$bin"
if [ "${INTEROP_SELFTEST_HTTP:-0}" = 1 ]; then
    http_bin="$here/selftest/http_bridge.py"
    export MCP_BRIDGE_TARGET="$bin"
    say "SELF-TEST: HTTP/HTTPS runs go through selftest/http_bridge.py, not the server's HTTP transport"
fi
# probe_http [extra flags...]: 0 = serves, 2 = "not available in this build", 1 = broken.
probe_http() {
    local log="$scratch/probe.log" ws="$scratch/probe-ws" i
    mkdir -p "$ws"
    : > "$log"
    "$http_bin" --transport http-stream --host 127.0.0.1 --port 0 --workspace "$ws" "$@" 2> "$log" > /dev/null < /dev/null &
    probe_pid=$!
    for ((i = 0; i < PROBE_TENTHS; i++)); do
        if grep -q 'listening on http' "$log"; then break; fi
        if ! kill -0 "$probe_pid" 2>/dev/null; then break; fi
        sleep 0.1
    done
    local listening=1
    grep -q 'listening on http' "$log" && listening=0
    kill "$probe_pid" 2>/dev/null || true
    wait "$probe_pid" 2>/dev/null || true
    probe_pid=""
    if [ "$listening" = 0 ]; then return 0; fi
    if grep -q 'not available in this build' "$log"; then return 2; fi
    sed 's/^/    server: /' "$log" >&2
    return 1
}

transports=(stdio)
skipped=()
want_http="${INTEROP_HTTP:-1}"
want_https="${INTEROP_HTTPS:-1}"
http_ok=0
if [ "$want_http" != 0 ]; then
    status=0; probe_http || status=$?
    case "$status:$want_http" in
        0:*) transports+=(http); http_ok=1 ;;
        2:auto) skipped+=("http and https (this binary says --transport http-stream is not available in this build)") ;;
        2:*) die "this binary says --transport http-stream is not available in this build (INTEROP_HTTP=auto skips HTTP for such a binary)" ;;
        *) die "--transport http-stream does not start (INTEROP_HTTP=$want_http); see the log above" ;;
    esac
fi
cert="$scratch/cert.pem"
key="$scratch/key.pem"
if [ "$want_https" != 0 ] && [ "$http_ok" = 1 ]; then
    command -v openssl >/dev/null || die "openssl is needed to make the test certificate"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj '/CN=localhost' -addext 'subjectAltName=IP:127.0.0.1,DNS:localhost' \
        -keyout "$key" -out "$cert" 2> "$scratch/openssl.log" || { cat "$scratch/openssl.log" >&2; die "openssl failed"; }
    status=0; probe_http --ssl-certfile "$cert" --ssl-keyfile "$key" || status=$?
    case "$status:$want_https" in
        0:*) transports+=(https) ;;
        *:auto) skipped+=("https (the binary did not start with --ssl-certfile/--ssl-keyfile)") ;;
        *) die "HTTPS does not start (INTEROP_HTTPS=$want_https); see the log above" ;;
    esac
elif [ "$want_https" = 1 ] && [ "$want_http" != auto ]; then
    die "INTEROP_HTTPS=1 but HTTP is off (INTEROP_HTTP=$want_http)"
fi

# ---- run every SDK on every transport --------------------------------------------------------
passed=0
failed=0
results=()
run_driver() {
    local name="$1" transport="$2"; shift 2
    local out="$scratch/$name-$transport.out" t rc=0 extra=() envs=() driver_bin="$bin"
    if [ "$transport" != stdio ]; then driver_bin="$http_bin"; fi
    if [ "$transport" = https ]; then
        extra=(--cert "$cert" --key "$key")
        envs=(NODE_EXTRA_CA_CERTS="$cert")
    fi
    if [ -n "${INTEROP_ONLY:-}" ]; then extra+=(--only "$INTEROP_ONLY"); fi
    t="$(now)"
    env "${envs[@]}" timeout --kill-after=10 "$DRIVER_TIMEOUT_S" \
        "$@" --transport "$transport" --bin "$driver_bin" "${extra[@]}" > "$out" 2>&1 || rc=$?
    grep -v '^ok ' "$out" | grep -v '^interop: ' || true
    local line p f
    line="$(grep -E '^interop: [0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1 || true)"
    if [ -z "$line" ]; then
        p=0; f=1
        echo "FAIL $name $transport: no summary line (exit $rc)"
    else
        p="$(sed -E 's/^interop: ([0-9]+) passed.*/\1/' <<< "$line")"
        f="$(sed -E 's/.* ([0-9]+) failed$/\1/' <<< "$line")"
        if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; echo "FAIL $name $transport: exit $rc"; fi
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    results+=("$(printf '%-16s %-6s %4s passed %3s failed %6s s' "$name" "$transport" "$p" "$f" "$(elapsed "$t")")")
}

for transport in "${transports[@]}"; do
    run_driver ts-sdk@1 "$transport" node ts_sdk_v1.mjs
    run_driver ts-client@2 "$transport" node ts_client_v2.mjs
    run_driver python-mcp "$transport" .venv/bin/python py_client.py
done

printf '%s\n' "${results[@]}"
for s in "${skipped[@]}"; do echo "SKIPPED: $s"; done
say "total: $(elapsed "$t_start") s"
echo "interop: $passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
