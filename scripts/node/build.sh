#!/usr/bin/env bash
# Builds the real node of the node tier from the Go module proxy only: kubelet and kube-proxy (tools/k8s, the same
# consumer module, version and flags as the control plane), containerd + its runc shim + ctr, and the CNI plugins the
# node's bridge network uses (bridge, host-local, loopback, portmap), and CoreDNS for the cluster DNS. runc is Debian's
# (scripts/install-test-tools.sh).
# Cached outside the clone under $MODELPILOT_TOOLS_CACHE (default ~/.cache/modelpilot/tools), keyed by a hash of
# tools/versions.env and tools/k8s/go.{mod,sum}, so a second run is a cache hit. Prints the bin directory last.
# --check: build nothing; print the bin directory if every binary is cached, else say how to build and exit 1.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=/dev/null
source "$ROOT/tools/versions.env"
export PATH="/usr/local/go/bin:$PATH"
CACHE="${MODELPILOT_TOOLS_CACHE:-$HOME/.cache/modelpilot/tools}"
KEY=$(cat "$ROOT/tools/versions.env" "$ROOT"/tools/k8s/go.{mod,sum} | sha256sum | cut -c1-16)
OUT="$CACHE/node-$KEY"
BINS=(kubelet kube-proxy containerd containerd-shim-runc-v2 ctr bridge host-local loopback portmap coredns)
log() { echo "[node-build $(date +%H:%M:%S)] $*" >&2; }

have_all() { for b in "${BINS[@]}"; do [ -x "$OUT/bin/$b" ] || return 1; done; }
if have_all; then log "cache hit: $OUT/bin"; echo "$OUT/bin"; exit 0; fi
if [ "${1:-}" = "--check" ]; then
  echo "the node binaries are not built for this tools/versions.env (looked in $OUT/bin); build them with: bash scripts/node/build.sh (about 11 min cold on 2 cores)" >&2
  exit 1
fi

mkdir -p "$OUT/bin.tmp"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
MINOR=${KUBERNETES_VERSION#v1.}; MINOR=${MINOR%%.*}
D=$(date -u +%Y-%m-%dT%H:%M:%SZ); LDF="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDF="$LDF -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$MINOR -X $p.gitTreeState=clean -X $p.buildDate=$D -X $p.gitCommit=module-proxy"
done
k8s() { # output name, package
  local name=$1 pkg=$2 t0=$SECONDS
  if [ -x "$OUT/bin.tmp/$name" ]; then log "$name: already built"; return; fi
  log "building $name ($pkg) ..."
  ( cd "$ROOT/tools/k8s" && go build -trimpath -p 2 -ldflags "$LDF" -o "$OUT/bin.tmp/$name" "$pkg" )
  log "$name: done in $((SECONDS - t0)) s ($(du -h "$OUT/bin.tmp/$name" | cut -f1))"
}
# modules without replace directives: `go install <pkg>@<exact version>` (the module's own go.sum pins its graph)
install() { # version, packages...
  local v=$1 t0=$SECONDS; shift
  log "installing ${*##*/} @ $v ..."
  GOBIN="$OUT/bin.tmp" GOFLAGS= go install -trimpath -ldflags "-s -w" -tags no_btrfs "${@/%/@$v}"
  log "  done in $((SECONDS - t0)) s"
}
k8s kubelet k8s.io/kubernetes/cmd/kubelet
k8s kube-proxy k8s.io/kubernetes/cmd/kube-proxy
[ -x "$OUT/bin.tmp/containerd" ] || install "$CONTAINERD_VERSION" github.com/containerd/containerd/v2/cmd/containerd \
  github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 github.com/containerd/containerd/v2/cmd/ctr
[ -x "$OUT/bin.tmp/bridge" ] || install "$CNI_PLUGINS_VERSION" github.com/containernetworking/plugins/plugins/main/bridge \
  github.com/containernetworking/plugins/plugins/ipam/host-local github.com/containernetworking/plugins/plugins/main/loopback \
  github.com/containernetworking/plugins/plugins/meta/portmap
[ -x "$OUT/bin.tmp/coredns" ] || install "$COREDNS_VERSION" github.com/coredns/coredns
rm -rf "$OUT/bin"; mv "$OUT/bin.tmp" "$OUT/bin"
log "binaries in $OUT/bin"
echo "$OUT/bin"
