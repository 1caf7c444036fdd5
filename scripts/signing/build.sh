#!/usr/bin/env bash
# Builds cosign (tools/cosign, from the Go module proxy only) for the signature-verification tests: they sign test
# images offline (a key pair, no transparency-log upload) and push the signatures to the distribution registry.
# Cached outside the clone under $MODELPILOT_TOOLS_CACHE (default ~/.cache/modelpilot/tools), keyed by a hash of
# tools/cosign/go.mod and go.sum. Prints the bin directory on the last line of stdout.
# --check: build nothing; print the bin directory if cosign is cached, else say how to build it and exit 1.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=../lib/tools.sh
source "$ROOT/scripts/lib/tools.sh"
tools_cache signing "$ROOT"/tools/cosign/go.{mod,sum}
cached_or_check "cosign is not built for tools/cosign; build it with: bash scripts/signing/build.sh (a few minutes cold on 2 cores)" "${1:-}" cosign

V=$(module_version cosign github.com/sigstore/cosign/v2)
go_build cosign cosign github.com/sigstore/cosign/v2/cmd/cosign "-s -w -X sigs.k8s.io/release-utils/version.gitVersion=$V"
finish
