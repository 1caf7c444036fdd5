# shellcheck shell=bash
# What every scripts/<tier>/build.sh shares (source it after setting ROOT): the tools cache outside the clone, keyed by
# a hash of the files that pin a tier's binaries; the cache hit and `--check` paths; go build with a progress line;
# the Kubernetes version ldflags. Binaries come from the Go module proxy only.
export PATH="/usr/local/go/bin:$PATH"
CACHE="${MODELPILOT_TOOLS_CACHE:-$HOME/.cache/modelpilot/tools}"

# tools_cache <tier> <file>...: sets OUT (the tier's cache directory for the hash of the files, in that order) and log().
tools_cache() {
  TIER=$1; shift
  local key
  key=$(cat "$@" | sha256sum | cut -c1-16)
  OUT="$CACHE/$TIER-$key"
}

log() { echo "[$TIER-build $(date +%H:%M:%S)] $*" >&2; }

# cached_or_check <how-to-build hint> <arg1> <binary>...: exits printing the bin directory when every binary is
# cached; with --check and a binary missing, says how to build and exits 1; otherwise prepares $OUT/bin.tmp.
cached_or_check() {
  local hint=$1 arg=$2; shift 2
  local b all=1
  for b in "$@"; do [ -x "$OUT/bin/$b" ] || all=0; done
  if [ $all -eq 1 ]; then log "cache hit: $OUT/bin"; echo "$OUT/bin"; exit 0; fi
  if [ "$arg" = "--check" ]; then
    echo "$hint (looked in $OUT/bin)" >&2
    exit 1
  fi
  mkdir -p "$OUT/bin.tmp"
  export CGO_ENABLED=0 GOFLAGS=-mod=mod
}

# go_build <module dir under tools/> <output name> <package> [ldflags] [tags]: one binary into $OUT/bin.tmp (skipped when
# an interrupted run already built it), a progress line every 60 s.
go_build() {
  local dir=$1 name=$2 pkg=$3 ldf=${4:--s -w} tags=${5:-} t0=$SECONDS
  if [ -x "$OUT/bin.tmp/$name" ]; then log "$name: already built"; return; fi
  log "building $name ($pkg) ..."
  ( cd "$ROOT/tools/$dir" && go build -trimpath -p 2 ${tags:+-tags "$tags"} -ldflags "$ldf" -o "$OUT/bin.tmp/$name" "$pkg" ) &
  wait_build "$name" $! "$t0"
}

# wait_build <name> <pid> <start>: waits for a background build (noticed at once), reporting every 60 s.
wait_build() {
  local name=$1 pid=$2 t0=$3
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if kill -0 "$pid" 2>/dev/null && [ $(((SECONDS - t0) % 60)) -eq 0 ]; then log "  $name: still building ($((SECONDS - t0)) s)"; fi
  done
  wait "$pid"
  log "$name: done in $((SECONDS - t0)) s ($(du -h "$OUT/bin.tmp/$name" | cut -f1))"
}

# module_version <module dir under tools/> <module>: the version that module pins.
module_version() { (cd "$ROOT/tools/$1" && go list -m -f '{{.Version}}' "$2"); }

# k8s_ldflags: the version stamps of a Kubernetes binary built from tools/k8s ($KUBERNETES_VERSION, tools/versions.env).
k8s_ldflags() {
  local minor=${KUBERNETES_VERSION#v1.} d ldf="-s -w" p
  minor=${minor%%.*}
  d=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf="$ldf -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=$d -X $p.gitCommit=module-proxy"
  done
  echo "$ldf"
}

# finish: moves the built binaries into place and prints the bin directory (the last line of stdout).
finish() {
  rm -rf "$OUT/bin"; mv "$OUT/bin.tmp" "$OUT/bin"
  log "binaries in $OUT/bin"
  echo "$OUT/bin"
}
