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
echo "seeded: $(ls corpus/spec_documents | wc -l) spec_documents, $(ls corpus/stdio_line | wc -l) stdio_line, $(ls corpus/sandbox_resolve | wc -l) sandbox_resolve"
