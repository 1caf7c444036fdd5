#!/usr/bin/env bash
# Builds Watchtower (tools/watchtower: github.com/containrrr/watchtower, from the Go module proxy only) for the
# single-host peer bench and its integration test, which run it beside the modelpilot agent against the same podman
# Docker API and registry. Cached outside the clone under $MODELPILOT_TOOLS_CACHE (default
# ~/.cache/modelpilot/tools), keyed by a hash of tools/watchtower/go.mod and go.sum. Prints the bin directory on the
# last line of stdout.
# --check: build nothing; print the bin directory if Watchtower is cached, else say how to build it and exit 1.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
export PATH="/usr/local/go/bin:$PATH"
CACHE="${MODELPILOT_TOOLS_CACHE:-$HOME/.cache/modelpilot/tools}"
KEY=$(cat "$ROOT"/tools/watchtower/go.{mod,sum} | sha256sum | cut -c1-16)
OUT="$CACHE/watchtower-$KEY"
log() { echo "[watchtower-build $(date +%H:%M:%S)] $*" >&2; }

if [ -x "$OUT/bin/watchtower" ]; then log "cache hit: $OUT/bin"; echo "$OUT/bin"; exit 0; fi
if [ "${1:-}" = "--check" ]; then
  echo "watchtower is not built for tools/watchtower (looked in $OUT/bin); build it with: bash scripts/watchtower/build.sh (about a minute cold on 2 cores)" >&2
  exit 1
fi
mkdir -p "$OUT/bin.tmp"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
V=$(cd "$ROOT/tools/watchtower" && go list -m -f '{{.Version}}' github.com/containrrr/watchtower)
t0=$SECONDS
log "building watchtower $V ..."
( cd "$ROOT/tools/watchtower" && go build -trimpath -p 2 \
    -ldflags "-s -w -X github.com/containrrr/watchtower/internal/meta.Version=$V" \
    -o "$OUT/bin.tmp/watchtower" github.com/containrrr/watchtower )
log "watchtower: done in $((SECONDS - t0)) s ($(du -h "$OUT/bin.tmp/watchtower" | cut -f1))"
rm -rf "$OUT/bin"; mv "$OUT/bin.tmp" "$OUT/bin"
echo "$OUT/bin"
