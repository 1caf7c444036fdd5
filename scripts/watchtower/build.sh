#!/usr/bin/env bash
# Builds Watchtower (tools/watchtower: github.com/containrrr/watchtower, from the Go module proxy only) for the
# single-host peer bench and its integration test, which run it beside the modelpilot agent against the same podman
# Docker API and registry. Cached outside the clone under $MODELPILOT_TOOLS_CACHE (default
# ~/.cache/modelpilot/tools), keyed by a hash of tools/watchtower/go.mod and go.sum. Prints the bin directory on the
# last line of stdout.
# --check: build nothing; print the bin directory if Watchtower is cached, else say how to build it and exit 1.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=../lib/tools.sh
source "$ROOT/scripts/lib/tools.sh"
tools_cache watchtower "$ROOT"/tools/watchtower/go.{mod,sum}
cached_or_check "watchtower is not built for tools/watchtower; build it with: bash scripts/watchtower/build.sh (about a minute cold on 2 cores)" "${1:-}" watchtower

V=$(module_version watchtower github.com/containrrr/watchtower)
go_build watchtower watchtower github.com/containrrr/watchtower "-s -w -X github.com/containrrr/watchtower/internal/meta.Version=$V"
finish
