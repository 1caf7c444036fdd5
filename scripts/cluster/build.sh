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
# shellcheck source=../lib/tools.sh
source "$ROOT/scripts/lib/tools.sh"
tools_cache cluster "$ROOT/tools/versions.env" "$ROOT"/tools/{k8s,etcd,kwok}/go.{mod,sum}
cached_or_check "the control-plane binaries are not built for this tools/versions.env; build them with: bash scripts/cluster/build.sh (about 10 min cold on 2 cores)" \
  "${1:-}" kube-apiserver kube-controller-manager kube-scheduler kubectl etcd etcdctl kwok

LDF=$(k8s_ldflags)
go_build kwok kwok sigs.k8s.io/kwok/cmd/kwok "$LDF"
go_build etcd etcd go.etcd.io/etcd/server/v3 "$LDF"
go_build etcd etcdctl go.etcd.io/etcd/etcdctl/v3 "$LDF"
go_build k8s kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$LDF"
go_build k8s kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$LDF"
go_build k8s kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "$LDF"
go_build k8s kubectl k8s.io/kubernetes/cmd/kubectl "$LDF"
# kwok's default stages (the files kwokctl embeds), taken from the module cache of the pinned version
KW="$(cd "$ROOT/tools/kwok" && go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage"
( cd "$ROOT/tools/kwok" && go mod download sigs.k8s.io/kwok@"$KWOK_VERSION" )
for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
         pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
  cat "$KW/$f"; echo '---'
done > "$OUT/bin.tmp/kwok-stages.yaml"
finish
