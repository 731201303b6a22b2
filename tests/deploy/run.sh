#!/usr/bin/env bash
# Deployment test: the shipped artefacts, for real, on this machine.
#  - the static musl binary (packaging/build-static.sh): static, size recorded;
#  - nginx (Debian) with packaging/nginx.conf in front of three instances on 127.0.0.1:
#    1000 /health at concurrency 10 (the guide's `ab -n 1000 -c 10`), HTTP -> HTTPS redirect,
#    /health kept out of the access log, SSE through the proxy, a legacy session pinned to
#    its instance across many requests, stateless requests spread over all three, and one
#    instance killed mid-run with stateless requests still succeeding;
#  - the systemd units: `systemd-analyze verify` and the offline security score (<= 1.5);
#  - the Docker image and its HEALTHCHECK when a Docker daemon is available (said if not).
# Installs what it needs (Debian packages). Only 127.0.0.1 is used. Ends with
# "deploy: N passed, M failed" and exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "  ok   $*"; }
fail() { failed=$((failed + 1)); echo "  FAIL $*"; }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }

need() { # need COMMAND DEBIAN-PACKAGE
    command -v "$1" >/dev/null 2>&1 && return 0
    local sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    if [ -z "${apt_updated:-}" ]; then $sudo_cmd apt-get update -qq >/dev/null; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$2" >/dev/null
}
need nginx nginx
need ab apache2-utils
need envsubst gettext-base
need curl curl
need openssl openssl
if ! command -v systemd-analyze >/dev/null 2>&1; then need systemd-analyze systemd || true; fi

work=$(mktemp -d /tmp/mcp-deploy.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [ -f "$work/nginx/nginx.pid" ]; then kill "$(cat "$work/nginx/nginx.pid")" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "== static binary"
bash packaging/build-static.sh | tail -n 1
bin=$root/target/x86_64-unknown-linux-musl/release/mcp-server-spec
linkage=$(ldd "$bin" 2>&1 || true)
check "static binary ($(echo "$linkage" | head -n 1 | xargs))" grep -Eq "not a dynamic executable|statically linked" <<<"$linkage"
size=$(stat -c %s "$bin")
echo "  size: $size bytes ($((size / 1024)) KiB)"
check "static binary under 4 MiB" test "$size" -lt $((4 * 1024 * 1024))

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_health() { # URL
    for _ in $(seq 1 100); do
        curl -skf --max-time 1 "$1" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

echo "== three instances behind nginx"
mkdir -p "$work/ws" "$work/nginx"
declare -A port pid
for inst in a b c; do
    port[$inst]=$(free_port)
    "$bin" --transport http-stream --host 127.0.0.1 --port "${port[$inst]}" --instance-id "$inst" \
        --workspace "$work/ws" --log-level info --log-file "$work/$inst.log" &
    pid[$inst]=$!
    pids+=("${pid[$inst]}")
done
for inst in a b c; do
    check "instance $inst healthy" wait_health "http://127.0.0.1:${port[$inst]}/health"
done

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/server.key" -out "$work/server.crt" -days 2 \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >/dev/null 2>&1
export NGINX_HTTP_PORT=$(free_port) NGINX_HTTPS_PORT=$(free_port) SERVER_NAME=localhost \
    SSL_CERT=$work/server.crt SSL_KEY=$work/server.key NGINX_PREFIX_LOGS=$work/nginx \
    MCP_BACKEND_1=127.0.0.1:${port[a]} MCP_BACKEND_2=127.0.0.1:${port[b]} MCP_BACKEND_3=127.0.0.1:${port[c]}
# Only our variables: nginx's own ($host, $request_uri, …) must survive.
envsubst '$NGINX_HTTP_PORT $NGINX_HTTPS_PORT $SERVER_NAME $SSL_CERT $SSL_KEY $MCP_BACKEND_1 $MCP_BACKEND_2 $MCP_BACKEND_3 $NGINX_PREFIX_LOGS' \
    < packaging/nginx.conf > "$work/nginx.conf"
check "nginx -t accepts packaging/nginx.conf" nginx -t -q -p "$work/nginx" -c "$work/nginx.conf"
nginx -p "$work/nginx" -c "$work/nginx.conf"
https=https://localhost:$NGINX_HTTPS_PORT
check "nginx serves /health over TLS" wait_health "$https/health"

redirect=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "http://localhost:$NGINX_HTTP_PORT/health")
check "HTTP -> HTTPS redirect ($redirect)" test "$redirect" = "301 https://localhost:$NGINX_HTTPS_PORT/health"

echo "== ab -n 1000 -c 10 $https/health"
ab -q -n 1000 -c 10 "$https/health" > "$work/ab.txt" 2>&1 || true
grep -E "Complete requests|Failed requests|Non-2xx|Requests per second|Time per request.*mean\)" "$work/ab.txt" | sed 's/^/  /'
check "1000 /health requests complete" grep -Eq "^Complete requests: +1000$" "$work/ab.txt"
check "no failed /health request" grep -Eq "^Failed requests: +0$" "$work/ab.txt"
check "no non-2xx /health response" bash -c "! grep -q 'Non-2xx' '$work/ab.txt'"
check "ab's /health requests are not in nginx's access log" bash -c "! grep -q 'ApacheBench' '$work/nginx/access.log' 2>/dev/null"

ct=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
meta='"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}'
modern_list() {
    curl -sk -o /dev/null -w '%{http_code}' "$https/mcp" "${ct[@]}" -H 'MCP-Protocol-Version: 2026-07-28' \
        -H 'Mcp-Method: tools/list' -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{$meta}}"
}

echo "== legacy session pinned to its instance"
sid=$(curl -sk -D - -o /dev/null "$https/mcp" "${ct[@]}" \
    -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"deploy","version":"1"}}}' \
    | awk 'tolower($1)=="mcp-session-id:"{print $2}' | tr -d '\r')
check "initialize through nginx gives an instance-tagged session ($sid)" grep -Eq '^[abc]\.[0-9a-f]{64}$' <<<"$sid"
curl -sk -o /dev/null "$https/mcp" "${ct[@]}" -H "Mcp-Session-Id: $sid" -H 'MCP-Protocol-Version: 2025-11-25' \
    -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'
ok=0
for i in $(seq 1 50); do
    code=$(curl -sk -o "$work/legacy.json" -w '%{http_code}' "$https/mcp" "${ct[@]}" -H "Mcp-Session-Id: $sid" \
        -H 'MCP-Protocol-Version: 2025-11-25' -d "{\"jsonrpc\":\"2.0\",\"id\":$i,\"method\":\"tools/list\"}")
    [ "$code" = 200 ] && grep -q '"tools"' "$work/legacy.json" && ok=$((ok + 1))
done
check "50 legacy requests in one session all answered ($ok/50)" test "$ok" = 50

echo "== stateless requests spread over the instances"
before=()
for inst in a b c; do before+=("$(grep -c 'tools/list' "$work/$inst.log" || true)"); done
ok=0
for _ in $(seq 1 60); do [ "$(modern_list)" = 200 ] && ok=$((ok + 1)); done
check "60 stateless requests answered ($ok/60)" test "$ok" = 60
n=0
for inst in a b c; do
    after=$(grep -c 'tools/list' "$work/$inst.log" || true)
    delta=$((after - ${before[$n]}))
    echo "  instance $inst served $delta"
    check "instance $inst took part" test "$delta" -gt 0
    n=$((n + 1))
done

echo "== SSE through nginx (subscriptions/listen, no buffering)"
curl -skN --max-time 3 "$https/mcp" -H 'Content-Type: application/json' -H 'Accept: text/event-stream' \
    -H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: subscriptions/listen' \
    -d "{\"jsonrpc\":\"2.0\",\"id\":\"sub\",\"method\":\"subscriptions/listen\",\"params\":{$meta,\"notifications\":{\"resourcesListChanged\":true}}}" \
    > "$work/sse.txt" 2>/dev/null || true
check "the acknowledgement streams through before the stream ends" grep -q 'notifications/subscriptions/acknowledged' "$work/sse.txt"

echo "== one instance killed mid-run"
kill "${pid[b]}"
wait "${pid[b]}" 2>/dev/null || true
ok=0
for _ in $(seq 1 60); do [ "$(modern_list)" = 200 ] && ok=$((ok + 1)); done
check "stateless requests keep succeeding with b down ($ok/60)" test "$ok" = 60
check "/health still healthy with b down" wait_health "$https/health"

echo "== systemd units"
if command -v systemd-analyze >/dev/null 2>&1; then
    mkdir -p "$work/units"
    sed "s#/usr/local/bin/mcp-server-spec#$bin#" systemd/mcp-server-spec.service > "$work/units/mcp-server-spec.service"
    cp systemd/mcp-server-spec.socket "$work/units/"
    check "systemd-analyze verify" bash -c "systemd-analyze verify '$work/units/mcp-server-spec.socket' '$work/units/mcp-server-spec.service' 2>&1 | tee '$work/verify.txt' | (! grep -v 'Unknown key name\|^$' )"
    exposure=$(systemd-analyze security --offline=yes "$work/units/mcp-server-spec.service" 2>/dev/null | awk '/Overall exposure level/{print $(NF-2)}')
    echo "  exposure: $exposure"
    check "security exposure $exposure <= 1.5" awk -v e="$exposure" 'BEGIN{exit !(e != "" && e <= 1.5)}'
else
    echo "  systemd-analyze is not available here: units not verified"
fi

echo "== docker"
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    docker build -q -f packaging/Dockerfile -t mcp-server-spec:deploy-test . >/dev/null
    cid=$(docker run -d mcp-server-spec:deploy-test)
    healthy=""
    for _ in $(seq 1 60); do
        healthy=$(docker inspect -f '{{.State.Health.Status}}' "$cid" 2>/dev/null || true)
        [ "$healthy" = healthy ] && break
        sleep 1
    done
    docker rm -f "$cid" >/dev/null
    check "image HEALTHCHECK reports healthy" test "$healthy" = healthy
else
    echo "  docker: no Docker daemon here (docker info fails); the image build and its HEALTHCHECK were NOT exercised"
fi

echo "deploy: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
