#!/usr/bin/env bash
# Seeds the fuzz corpora from the official MCP example messages (../shared/mcp-spec).
set -euo pipefail
cd "$(dirname "$0")"
examples=../../shared/mcp-spec/schema/2026-07-28/examples
mkdir -p corpus/stdio_line corpus/sandbox_resolve
for f in "$examples"/*/*.json; do
    name=$(basename "$(dirname "$f")")-$(basename "$f" .json)
    # First byte picks the session mode; the rest is the example as one line.
    for mode in 0 1 4; do
        { printf "\\x0$mode"; tr -d '\n' < "$f"; } > "corpus/stdio_line/$name-$mode"
    done
done
for p in specs/a.md ../etc/passwd /etc/passwd etc-link/passwd 'a/../../b' 'specs/./sub/../a.md'; do
    printf '%s' "$p" > "corpus/sandbox_resolve/$(printf '%s' "$p" | md5sum | cut -c1-12)"
done
printf 'a\0b' > corpus/sandbox_resolve/nul-byte
mkdir -p corpus/spec_documents
for f in ../tests/fixtures/specs/*/*.md; do
    cp "$f" "corpus/spec_documents/$(basename "$(dirname "$f")")-$(basename "$f")"
done
# http_request: byte 0 holds the harness flags, then raw bytes or the structured form
# (see fuzz_targets/http_request.rs). `{sid}` names a legacy session the harness opens.
hr=corpus/http_request
mkdir -p "$hr"
json='Content-Type: application/json\r\n'
both='Accept: application/json, text/event-stream\r\n'
# req NAME FLAGS METHOD TARGET HEADERS BODY: one raw request (HEADERS take printf escapes).
req() {
    { printf "\\x$2"; printf '%s %s HTTP/1.1\r\nHost: localhost\r\n' "$3" "$4"; printf '%b' "$5"
      printf 'Content-Length: %s\r\n\r\n%s' "$(printf '%s' "$6" | wc -c)" "$6"; } > "$hr/$1"
}
for f in "$examples"/*/*.json; do
    name=$(basename "$(dirname "$f")")-$(basename "$f" .json)
    body=$(tr -d '\n' < "$f")
    # Structured: POST /mcp, JSON, both Accept types, headers derived from the body,
    # bearer token; on the open and on the protected app.
    for app in 80 81; do
        { printf "\\x$app\\x00\\x9b\\x00"; printf '%s' "$body"; } > "$hr/$name-s$app"
    done
    method=$(grep -o '"method": *"[^"]*"' "$f" | head -1 | sed 's/.*: *"//; s/"$//' || true)
    if [ -n "$method" ]; then
        req "$name-raw" 00 POST /mcp "$json$both"'MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: '"$method"'\r\n' "$body"
    fi
done
init='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"VERSION","capabilities":{},"clientInfo":{"name":"seed","version":"0"}}}'
legacy=(
    '{"jsonrpc":"2.0","id":2,"method":"tools/list"}'
    '{"jsonrpc":"2.0","id":3,"method":"prompts/list","params":{}}'
    '{"jsonrpc":"2.0","id":4,"method":"prompts/get","params":{"name":"generate-requirements","arguments":{"idea":"a todo app"}}}'
    '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"specs/a.md"}}}'
    '{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"create_file","arguments":{"path":"specs/b.md","content":"x"},"_meta":{"progressToken":1}}}'
    '{"jsonrpc":"2.0","method":"notifications/initialized"}'
    '{"jsonrpc":"2.0","id":7,"method":"ping"}'
    '[{"jsonrpc":"2.0","id":8,"method":"tools/list"},{"jsonrpc":"2.0","id":9,"method":"resources/list"}]'
    '{"jsonrpc":"2.0","id":"q1","result":{"action":"accept","content":{}}}'
)
for v in 0 1 2 3; do
    version=$(echo 2024-11-05 2025-03-26 2025-06-18 2025-11-25 | cut -d' ' -f$((v + 1)))
    req "initialize-$version" "0$((v * 2))" POST /mcp "$json$both" "${init/VERSION/$version}"
    i=0
    for body in "${legacy[@]}"; do
        i=$((i + 1))
        # Structured: JSON, Accept JSON (0x2d) or both (0x2b), the session's revision,
        # Mcp-Session-Id.
        for hdr in 2d 2b; do
            { printf "\\x8$((v * 2))\\x00\\x$hdr\\x00"; printf '%s' "$body"; } > "$hr/legacy-$version-$i-$hdr"
        done
    done
    req "delete-$version" "0$((v * 2))" DELETE /mcp 'Mcp-Session-Id: {sid}\r\n' ''
    req "get-stream-$version" "0$((v * 2))" GET /mcp 'Accept: text/event-stream\r\nMcp-Session-Id: {sid}\r\n' ''
done
req health 00 GET /health '' ''
req info-head 00 HEAD /info '' ''
req metrics 00 GET /metrics '' ''
req health-protected 01 GET /health '' ''
req info-protected 01 GET /info 'Authorization: Bearer fuzz-bearer-token-0123\r\n' ''
req preflight 00 OPTIONS /mcp 'Origin: http://localhost\r\nAccess-Control-Request-Method: POST\r\n' ''
req evil-origin 00 POST /mcp "${json}Origin: http://evil.example\r\n" '{}'
req evil-host 00 GET /health 'Host: evil.example\r\n' ''
req put-mcp 00 PUT /mcp '' ''
req get-modern 00 GET /mcp 'MCP-Protocol-Version: 2026-07-28\r\n' ''
req bad-version 00 POST /mcp "$json$both"'MCP-Protocol-Version: 1999-01-01\r\n' '{"jsonrpc":"2.0","id":1,"method":"ping"}'
req rest-tools 00 GET /tools '' ''
req rest-prompts 00 GET '/prompts?cursor=x' '' ''
req rest-read 00 POST /tools/read_file "$json" '{"path":"specs/a.md"}'
req rest-prompt 00 POST /prompts/generate-requirements "$json" '{"idea":"x"}'
req connect 00 POST /connect "$json" '{"clientInfo":{"name":"seed","version":"0"}}'
req connections 00 GET /connections '' ''
req heartbeat 02 POST '/heartbeat/{sid}' '' ''
req ui 00 GET /ui '' ''
req ui-fragment 00 GET /ui/fragment '' ''
req ui-review 00 POST /ui/review "${json}Origin: http://localhost\r\n" '{}'
req sse 00 GET /sse 'Accept: text/event-stream\r\n' ''
req messages 00 POST '/messages?sessionId={sid}' "$json" '{"jsonrpc":"2.0","id":1,"method":"ping"}'
req expect 00 POST /mcp "$json${both}Expect: 100-continue\r\n" "${init/VERSION/2025-11-25}"
req http10 00 GET /health 'Connection: keep-alive\r\n' ''
req close 00 GET /health 'Connection: close\r\n' ''
req not-found 00 GET '/nope?x=%00' '' ''
# Regressions: a non-ASCII head once got no response (head.rs, parse), an upgrade
# pinned a worker (head.rs, Head::forward).
req non-ascii 00 POST /mcp "$json$both"'Mcp-Name: 15\xc2\xb0C\r\n' '{}'
req upgrade 00 POST /mcp "$json${both}Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n" '{"jsonrpc":"2.0","id":1,"method":"ping"}'
printf '\x00GET /health HTTP/1.1\r\n\r\nGET /info HTTP/1.1\r\n\r\nHEAD /health HTTP/1.0\r\n\r\n' > "$hr/pipelined"
printf '\x00POST /mcp HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{"jsonr\r\n21\r\npc":"2.0","id":1,"method":"ping"}\r\n0\r\n\r\n' > "$hr/chunked"
printf '\x00POST /mcp HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!' > "$hr/smuggle"
printf '\x00GET /health HTTP/1.1\r\nHost: localhost' > "$hr/cut-head"
echo "seeded: $(ls corpus/http_request | wc -l) http_request, $(ls corpus/spec_documents | wc -l) spec_documents, $(ls corpus/stdio_line | wc -l) stdio_line, $(ls corpus/sandbox_resolve | wc -l) sandbox_resolve"
