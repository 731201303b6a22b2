#!/usr/bin/env bash
# The deployment guide's health check, unchanged in behaviour: exit 0 when /health answers
# 200, else 1. For cron: */5 * * * * /path/to/health_check.sh >> /var/log/mcp-health.log 2>&1
# Without curl (scratch images), use: mcp-server-spec healthcheck --url "$URL"
URL="${1:-${MCP_HEALTH_URL:-http://localhost:3001/health}}"
TIMEOUT="${MCP_HEALTH_TIMEOUT:-10}"

response=$(curl -s -w "%{http_code}" --max-time "$TIMEOUT" "$URL")
http_code="${response: -3}"

if [ "$http_code" = "200" ]; then
    echo "✓ MCP server healthy"
    exit 0
else
    echo "✗ MCP server unhealthy (HTTP: $http_code)"
    exit 1
fi
