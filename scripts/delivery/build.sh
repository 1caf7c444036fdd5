#!/usr/bin/env bash
# Builds the progressive-delivery test tools from the Go module proxy only: the Argo Rollouts controller
# (tools/argo-rollouts: upstream's replace block, pinned) for the cluster tier's real canary and blue-green, and
# actionlint (tools/actionlint) for the workflows `modelpilot pipeline github` writes. Cached outside the clone under
# $MODELPILOT_TOOLS_CACHE (default ~/.cache/modelpilot/tools), keyed by a hash of the two modules' go.mod/go.sum, so a
# second run is a cache hit. Prints the bin directory on the last line of stdout.
# --check: build nothing; print the bin directory if both binaries are cached, else say how to build and exit 1.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
export PATH="/usr/local/go/bin:$PATH"
CACHE="${MODELPILOT_TOOLS_CACHE:-$HOME/.cache/modelpilot/tools}"
KEY=$(cat "$ROOT"/tools/{argo-rollouts,actionlint}/go.{mod,sum} | sha256sum | cut -c1-16)
OUT="$CACHE/delivery-$KEY"
BINS=(rollouts-controller actionlint)
log() { echo "[delivery-build $(date +%H:%M:%S)] $*" >&2; }

have_all() { for b in "${BINS[@]}"; do [ -x "$OUT/bin/$b" ] || return 1; done; }
if have_all; then log "cache hit: $OUT/bin"; echo "$OUT/bin"; exit 0; fi
if [ "${1:-}" = "--check" ]; then
  echo "the delivery tools are not built for tools/argo-rollouts and tools/actionlint (looked in $OUT/bin); build them with: bash scripts/delivery/build.sh (about 8 min cold on 2 cores)" >&2
  exit 1
fi

mkdir -p "$OUT/bin.tmp"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
build() { # dir, output name, package, ldflags
  local dir=$1 name=$2 pkg=$3 ldf=$4 t0=$SECONDS
  if [ -x "$OUT/bin.tmp/$name" ]; then log "$name: already built"; return; fi
  log "building $name ($pkg) ..."
  ( cd "$ROOT/tools/$dir" && go build -trimpath -p 2 -ldflags "-s -w $ldf" -o "$OUT/bin.tmp/$name" "$pkg" )
  log "$name: done in $((SECONDS - t0)) s ($(du -h "$OUT/bin.tmp/$name" | cut -f1))"
}
AR=$(cd "$ROOT/tools/argo-rollouts" && go list -m -f '{{.Version}}' github.com/argoproj/argo-rollouts)
AL=$(cd "$ROOT/tools/actionlint" && go list -m -f '{{.Version}}' github.com/rhysd/actionlint)
build actionlint actionlint github.com/rhysd/actionlint/cmd/actionlint "-X main.version=$AL"
build argo-rollouts rollouts-controller github.com/argoproj/argo-rollouts/cmd/rollouts-controller \
  "-X github.com/argoproj/argo-rollouts/utils/version.version=${AR#v} -X github.com/argoproj/argo-rollouts/utils/version.gitTreeState=clean"
rm -rf "$OUT/bin"; mv "$OUT/bin.tmp" "$OUT/bin"
log "binaries in $OUT/bin"
echo "$OUT/bin"
