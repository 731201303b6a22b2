#!/usr/bin/env bash
# Instructions and heap allocations per HTTP request, counted by valgrind's callgrind:
# repeatable on a shared machine where requests/s swing by a third within minutes.
#
# Run: bash benches/callgrind.sh   (needs valgrind and python3; ~2 minutes after the build)
# MCP_CALLGRIND_BIN=path counts another build instead of building this one.
#
# For each of `tools/list` and `tools/call read_file` (2026-07-28, the headers an SDK
# client sends), the release binary with symbols runs under callgrind at the default log
# level (the access line included) and answers N requests on one keep-alive connection
# from 127.0.0.1; it runs twice, with 500 and 2500 requests, and the difference divided
# by 2000 is what one request costs (start-up and shutdown cancel out). Prints Markdown.
# Only the processes this script starts are stopped, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v valgrind >/dev/null || { echo "callgrind: valgrind is not installed" >&2; exit 1; }
# MCP_CALLGRIND_BIN: another build to count (an older commit, for a before/after).
bin=${MCP_CALLGRIND_BIN:-}
if [ -z "$bin" ]; then
    target_dir=target/callgrind
    CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=1 \
        cargo build --release --locked --quiet --target-dir "$target_dir"
    bin="$target_dir/release/mcp-server-spec"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/ws/specs"
printf '# Small\n\nA small file for read_file.\n' >"$work/ws/specs/small.md"

# client.py PORT N KIND: N requests, each answer read in full and checked for 200.
cat >"$work/client.py" <<'EOF'
import json, re, socket, sys
port, n, kind = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}}
if kind == "tools/list":
    params, extra = {"_meta": meta}, "Mcp-Method: tools/list\r\n"
else:
    params = {"name": "read_file", "arguments": {"path": "specs/small.md"}, "_meta": meta}
    extra = "Mcp-Method: tools/call\r\nMcp-Name: read_file\r\n"
method = "tools/list" if kind == "tools/list" else "tools/call"
body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
request = ("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
           "Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\n"
           "%sContent-Length: %d\r\n\r\n%s" % (port, extra, len(body), body)).encode()
conn = socket.create_connection(("127.0.0.1", port), timeout=60)
for _ in range(n):
    conn.sendall(request)
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = conn.recv(65536)
        if not chunk:
            sys.exit("connection closed")
        got += chunk
    head_end = got.index(b"\r\n\r\n") + 4
    length = int(re.search(rb"content-length: (\d+)", got[:head_end], re.I).group(1))
    while len(got) - head_end < length:
        got += conn.recv(65536)
    if not got.startswith(b"HTTP/1.1 200"):
        sys.exit("unexpected answer: %r" % got[:200])
EOF

# allocs.py FILE: calls of malloc, realloc and calloc in a callgrind profile.
cat >"$work/allocs.py" <<'EOF'
import re, subprocess, sys
out = subprocess.run(["callgrind_annotate", "--tree=caller", sys.argv[1]],
                     capture_output=True, text=True, check=True).stdout.split("\n")
def calls(name):
    for i, line in enumerate(out):
        if "*  " in line and name in line:
            total, j = 0, i - 1
            while j >= 0 and out[j].strip() and "*  " not in out[j]:
                m = re.search(r"\(([\d,]+)x\)", out[j])
                total += int(m.group(1).replace(",", "")) if m else 0
                j -= 1
            return total
    return 0
print(sum(calls(f) for f in ["malloc.c:malloc [", "malloc.c:realloc [", "malloc.c:calloc ["]))
EOF

# profile KIND N: prints "instructions allocations" for one run.
profile() {
    local kind=$1 n=$2 out="$work/cg.out" log="$work/server.log"
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" --transport http-stream \
        --host 127.0.0.1 --port 0 --workspace "$work/ws" 2>"$log" &
    local pid=$! port=""
    for _ in $(seq 1 300); do
        port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$' || true)
        [ -n "$port" ] && break
        sleep 0.1
    done
    [ -n "$port" ] || { kill "$pid"; echo "callgrind: the server did not start" >&2; exit 1; }
    python3 "$work/client.py" "$port" "$n" "$kind"
    kill -TERM "$pid"
    wait "$pid" || true
    local instructions
    instructions=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    echo "$instructions $(python3 "$work/allocs.py" "$out")"
}

echo "| request (2026-07-28, one keep-alive connection) | instructions / request | heap allocations / request |"
echo "| --- | --- | --- |"
for kind in tools/list read_file; do
    read -r i1 a1 < <(profile "$kind" 500)
    read -r i2 a2 < <(profile "$kind" 2500)
    echo "| $kind | $(( (i2 - i1) / 2000 )) | $(( (a2 - a1) / 2000 )) |"
done
