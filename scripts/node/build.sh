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
# shellcheck source=../lib/tools.sh
source "$ROOT/scripts/lib/tools.sh"
tools_cache node "$ROOT/tools/versions.env" "$ROOT"/tools/k8s/go.{mod,sum}
cached_or_check "the node binaries are not built for this tools/versions.env; build them with: bash scripts/node/build.sh (about 11 min cold on 2 cores)" \
  "${1:-}" kubelet kube-proxy containerd containerd-shim-runc-v2 ctr bridge host-local loopback portmap coredns

# modules without replace directives: `go install <pkg>@<exact version>` (the module's own go.sum pins its graph)
install() { # version, packages...
  local v=$1 t0=$SECONDS; shift
  log "installing ${*##*/} @ $v ..."
  GOBIN="$OUT/bin.tmp" GOFLAGS= go install -trimpath -ldflags "-s -w" -tags no_btrfs "${@/%/@$v}"
  log "  done in $((SECONDS - t0)) s"
}
LDF=$(k8s_ldflags)
go_build k8s kubelet k8s.io/kubernetes/cmd/kubelet "$LDF"
go_build k8s kube-proxy k8s.io/kubernetes/cmd/kube-proxy "$LDF"
[ -x "$OUT/bin.tmp/containerd" ] || install "$CONTAINERD_VERSION" github.com/containerd/containerd/v2/cmd/containerd \
  github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 github.com/containerd/containerd/v2/cmd/ctr
[ -x "$OUT/bin.tmp/bridge" ] || install "$CNI_PLUGINS_VERSION" github.com/containernetworking/plugins/plugins/main/bridge \
  github.com/containernetworking/plugins/plugins/ipam/host-local github.com/containernetworking/plugins/plugins/main/loopback \
  github.com/containernetworking/plugins/plugins/meta/portmap
[ -x "$OUT/bin.tmp/coredns" ] || install "$COREDNS_VERSION" github.com/coredns/coredns
finish
