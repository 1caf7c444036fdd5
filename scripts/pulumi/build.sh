#!/usr/bin/env bash
# Builds the Pulumi engine used by the Pulumi tier, from the Go module proxy only: the `pulumi` CLI (tools/pulumi,
# at the version of the pinned @pulumi/pulumi) and the pulumi-resource-kubernetes provider (tools/pulumi-kubernetes).
# Cached outside the clone under $MODELPILOT_TOOLS_CACHE (default ~/.cache/modelpilot/tools), keyed by a hash of
# tools/pulumi.env and the consumer modules' go.mod/go.sum. Prints the bin directory on the last line of stdout.
# --check: build nothing; print the bin directory if every binary is cached, else say how to build and exit 1.
#
# Not built: pulumi-language-nodejs (the module proxy refuses every version of
# github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3); the Pulumi tier runs the program through the
# Automation API's in-process Node.js language runtime instead (docs/pulumi.md).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=/dev/null
source "$ROOT/tools/pulumi.env"
# shellcheck source=../lib/tools.sh
source "$ROOT/scripts/lib/tools.sh"
tools_cache pulumi "$ROOT/tools/pulumi.env" "$ROOT"/tools/{pulumi,pulumi-kubernetes}/go.{mod,sum}
cached_or_check "the Pulumi binaries are not built for this tools/pulumi.env; build them with: bash scripts/pulumi/build.sh (about 30 min cold on 2 cores)" \
  "${1:-}" pulumi pulumi-resource-kubernetes

go_build pulumi pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
  "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" osusergo,grpcnotrace

if [ ! -x "$OUT/bin.tmp/pulumi-resource-kubernetes" ]; then
  log "building pulumi-resource-kubernetes $PULUMI_KUBERNETES_PROVIDER ..."
  t0=$SECONDS
  SRC="$OUT/src-kubernetes"
  rm -rf "$SRC"; mkdir -p "$SRC"
  cp "$ROOT/tools/pulumi-kubernetes/go.mod" "$ROOT/tools/pulumi-kubernetes/go.sum" "$SRC/"
  # `go list -m -f {{.Dir}}` prints nothing for a module not yet in the module cache (a fresh machine): download first
  ( cd "$ROOT/tools/pulumi-kubernetes" && go mod download github.com/pulumi/pulumi-kubernetes/provider/v4 )
  MOD=$(cd "$ROOT/tools/pulumi-kubernetes" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi-kubernetes/provider/v4)
  if [ -z "$MOD" ] || [ ! -d "$MOD/cmd/pulumi-resource-kubernetes" ]; then
    echo "pulumi-build: github.com/pulumi/pulumi-kubernetes/provider/v4 is not in the module cache after 'go mod download' (dir '$MOD')" >&2
    exit 1
  fi
  cp "$MOD"/cmd/pulumi-resource-kubernetes/{main.go,generate.go,schema.json,terraform-mapping.json} "$SRC/"
  chmod u+w "$SRC"/*
  # what upstream's `go generate` does: stamp the version into schema-embed.json + terraform-mapping-embed.json
  ( cd "$SRC" && VERSION="$PULUMI_KUBERNETES_PROVIDER_VERSION" go run generate.go )
  ( cd "$SRC" && go build -trimpath -p 2 \
      -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$PULUMI_KUBERNETES_PROVIDER_VERSION" \
      -o "$OUT/bin.tmp/pulumi-resource-kubernetes" . ) &
  wait_build pulumi-resource-kubernetes $! $t0
fi
finish
