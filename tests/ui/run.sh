#!/usr/bin/env bash
# Dashboard browser test: headless Chromium (Debian's /usr/bin/chromium, never a downloaded
# browser) driven by playwright-core loads /ui of the release binary, approves a document,
# sees the badge change, sees an on-disk edit without a reload, and saves a screenshot
# (target/ui-screenshot.png). playwright-core is pinned and locked (package-lock.json) and
# cached in tests/ui/node_modules (git ignores it); a stamp of the lock skips reinstalls.
#
# Environment:
#   MCP_SERVER_BIN  binary to test; when set, no build happens (default: cargo build
#                   --release --locked, then target/release/mcp-server-spec)
#   UI_CHROMIUM     browser executable (default /usr/bin/chromium)
#   UI_SCREENSHOT   where the screenshot goes (default target/ui-screenshot.png)
set -euo pipefail

caller_dir="$PWD"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"

say() { printf 'ui: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
sha() { sha256sum "$@" | sha256sum | cut -c1-64; }

command -v npm >/dev/null || die "npm is required"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || die "node >= 20 is required (found $(node --version))"
chromium="${UI_CHROMIUM:-/usr/bin/chromium}"
[ -x "$chromium" ] || die "$chromium is missing (apt-get install chromium chromium-driver)"

stamp="$(sha package.json package-lock.json) node$node_major"
if [ "$(cat node_modules/.ui-stamp 2>/dev/null || true)" = "$stamp" ]; then
    say "node_modules matches package-lock.json (cached)"
else
    say "installing playwright-core: npm ci (no browser download)"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2
    printf '%s' "$stamp" > node_modules/.ui-stamp
fi

if [ -n "${MCP_SERVER_BIN:-}" ]; then
    case "$MCP_SERVER_BIN" in /*) bin="$MCP_SERVER_BIN" ;; *) bin="$caller_dir/$MCP_SERVER_BIN" ;; esac
else
    say "building the release binary"
    (cd "$root" && cargo build --release --locked --quiet)
    bin="${CARGO_TARGET_DIR:-$root/target}/release/mcp-server-spec"
fi
[ -x "$bin" ] || die "no executable at $bin"

MCP_SERVER_BIN="$bin" UI_CHROMIUM="$chromium" timeout 120 node ui_test.mjs
