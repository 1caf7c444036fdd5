#!/usr/bin/env bash
# Builds the progressive-delivery test tools from the Go module proxy only: the Argo Rollouts controller
# (tools/argo-rollouts: upstream's replace block, pinned) for the cluster tier's real canary and blue-green, and
# actionlint (tools/actionlint) for the workflows `modelpilot pipeline github` writes. Cached outside the clone under
# $MODELPILOT_TOOLS_CACHE (default ~/.cache/modelpilot/tools), keyed by a hash of the two modules' go.mod/go.sum, so a
# second run is a cache hit. Prints the bin directory on the last line of stdout.
# --check: build nothing; print the bin directory if both binaries are cached, else say how to build and exit 1.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=../lib/tools.sh
source "$ROOT/scripts/lib/tools.sh"
tools_cache delivery "$ROOT"/tools/{argo-rollouts,actionlint}/go.{mod,sum}
cached_or_check "the delivery tools are not built for tools/argo-rollouts and tools/actionlint; build them with: bash scripts/delivery/build.sh (about 8 min cold on 2 cores)" \
  "${1:-}" rollouts-controller actionlint

AR=$(module_version argo-rollouts github.com/argoproj/argo-rollouts)
AL=$(module_version actionlint github.com/rhysd/actionlint)
go_build actionlint actionlint github.com/rhysd/actionlint/cmd/actionlint "-s -w -X main.version=$AL"
go_build argo-rollouts rollouts-controller github.com/argoproj/argo-rollouts/cmd/rollouts-controller \
  "-s -w -X github.com/argoproj/argo-rollouts/utils/version.version=${AR#v} -X github.com/argoproj/argo-rollouts/utils/version.gitTreeState=clean"
finish
