#!/usr/bin/env bash
# Fills npm's cache on this host with what `npm ci` in agent/Dockerfile's stages installs, so that the tests can
# build the agent image from agent/Dockerfile with `--network none` (test/support/agent-image.ts): the root lock's
# packages (there after the root `npm ci`) and agent/package-lock.json's (installed here into a temp dir, then
# removed). Needs the npm registry; a second run is a no-op check against the cache.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for lock in . agent; do
  mkdir -p "$tmp/$lock"
  cp "$lock/package.json" "$lock/package-lock.json" "$tmp/$lock/"
  # --prefer-offline: what the cache holds is used without asking the registry; only missing packages are fetched
  (cd "$tmp/$lock" && npm ci --prefer-offline --ignore-scripts --no-audit --no-fund >/dev/null)
done
echo "[agent-image] npm's cache holds every package agent/Dockerfile installs"
