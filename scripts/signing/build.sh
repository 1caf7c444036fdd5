#!/usr/bin/env bash
# Builds cosign (tools/cosign, from the Go module proxy only) for the signature-verification tests: they sign test
# images offline (a key pair, no transparency-log upload) and push the signatures to the distribution registry.
# Cached outside the clone under $MODELPILOT_TOOLS_CACHE (default ~/.cache/modelpilot/tools), keyed by a hash of
# tools/cosign/go.mod and go.sum. Prints the bin directory on the last line of stdout.
# --check: build nothing; print the bin directory if cosign is cached, else say how to build it and exit 1.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
export PATH="/usr/local/go/bin:$PATH"
CACHE="${MODELPILOT_TOOLS_CACHE:-$HOME/.cache/modelpilot/tools}"
KEY=$(cat "$ROOT"/tools/cosign/go.{mod,sum} | sha256sum | cut -c1-16)
OUT="$CACHE/signing-$KEY"
log() { echo "[signing-build $(date +%H:%M:%S)] $*" >&2; }

if [ -x "$OUT/bin/cosign" ]; then log "cache hit: $OUT/bin"; echo "$OUT/bin"; exit 0; fi
if [ "${1:-}" = "--check" ]; then
  echo "cosign is not built for tools/cosign (looked in $OUT/bin); build it with: bash scripts/signing/build.sh (a few minutes cold on 2 cores)" >&2
  exit 1
fi
mkdir -p "$OUT/bin.tmp"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
V=$(cd "$ROOT/tools/cosign" && go list -m -f '{{.Version}}' github.com/sigstore/cosign/v2)
t0=$SECONDS
log "building cosign $V ..."
( cd "$ROOT/tools/cosign" && go build -trimpath -p 2 -ldflags "-s -w -X sigs.k8s.io/release-utils/version.gitVersion=$V" \
    -o "$OUT/bin.tmp/cosign" github.com/sigstore/cosign/v2/cmd/cosign )
log "cosign: done in $((SECONDS - t0)) s ($(du -h "$OUT/bin.tmp/cosign" | cut -f1))"
rm -rf "$OUT/bin"; mv "$OUT/bin.tmp" "$OUT/bin"
echo "$OUT/bin"
