#!/usr/bin/env bash
# Builds the real Kubernetes control plane used by the cluster tier, from the Go module proxy only:
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (tools/k8s), etcd + etcdctl (tools/etcd) and
# kwok (tools/kwok). Binaries are cached outside the clone under $MODELPILOT_TOOLS_CACHE (default
# ~/.cache/modelpilot/tools), keyed by a hash of tools/versions.env and the consumer modules' go.mod/go.sum, so a
# second run is a cache hit. Prints the bin directory on the last line of stdout.
# --check: build nothing; print the bin directory if every binary is cached, else say how to build and exit 1.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=/dev/null
source "$ROOT/tools/versions.env"
export PATH="/usr/local/go/bin:$PATH"
CACHE="${MODELPILOT_TOOLS_CACHE:-$HOME/.cache/modelpilot/tools}"
KEY=$(cat "$ROOT/tools/versions.env" "$ROOT"/tools/{k8s,etcd,kwok}/go.{mod,sum} | sha256sum | cut -c1-16)
OUT="$CACHE/cluster-$KEY"
BINS=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd etcdctl kwok)
log() { echo "[cluster-build $(date +%H:%M:%S)] $*" >&2; }

have_all() { for b in "${BINS[@]}"; do [ -x "$OUT/bin/$b" ] || return 1; done; }
if have_all; then log "cache hit: $OUT/bin"; echo "$OUT/bin"; exit 0; fi
if [ "${1:-}" = "--check" ]; then
  echo "the control-plane binaries are not built for this tools/versions.env (looked in $OUT/bin); build them with: bash scripts/cluster/build.sh (about 10 min cold on 2 cores)" >&2
  exit 1
fi

mkdir -p "$OUT/bin.tmp"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
MINOR=${KUBERNETES_VERSION#v1.}; MINOR=${MINOR%%.*}
D=$(date -u +%Y-%m-%dT%H:%M:%SZ); LDF="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDF="$LDF -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$MINOR -X $p.gitTreeState=clean -X $p.buildDate=$D -X $p.gitCommit=module-proxy"
done

build() { # dir, output name, package
  local dir=$1 name=$2 pkg=$3 t0=$SECONDS
  if [ -x "$OUT/bin.tmp/$name" ]; then log "$name: already built"; return; fi
  log "building $name ($pkg) ..."
  ( cd "$ROOT/tools/$dir" && go build -trimpath -p 2 -ldflags "$LDF" -o "$OUT/bin.tmp/$name" "$pkg" ) &
  local pid=$!
  # check every second (a finished build is noticed at once), report every 30 s
  while kill -0 $pid 2>/dev/null; do
    sleep 1
    if kill -0 $pid 2>/dev/null && [ $(((SECONDS - t0) % 30)) -eq 0 ]; then log "  $name: still building ($((SECONDS - t0)) s)"; fi
  done
  wait $pid
  log "$name: done in $((SECONDS - t0)) s ($(du -h "$OUT/bin.tmp/$name" | cut -f1))"
}
build kwok kwok sigs.k8s.io/kwok/cmd/kwok
build etcd etcd go.etcd.io/etcd/server/v3
build etcd etcdctl go.etcd.io/etcd/etcdctl/v3
build k8s kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build k8s kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
build k8s kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler
build k8s kubectl k8s.io/kubernetes/cmd/kubectl
# kwok's default stages (the files kwokctl embeds), taken from the module cache of the pinned version
KW="$(cd "$ROOT/tools/kwok" && go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage"
( cd "$ROOT/tools/kwok" && go mod download sigs.k8s.io/kwok@"$KWOK_VERSION" )
for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
         pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
  cat "$KW/$f"; echo '---'
done > "$OUT/bin.tmp/kwok-stages.yaml"
rm -rf "$OUT/bin"; mv "$OUT/bin.tmp" "$OUT/bin"
log "binaries in $OUT/bin"
echo "$OUT/bin"
