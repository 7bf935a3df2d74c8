#!/usr/bin/env bash
# Builds Grafana Pyroscope's server (cmd/pyroscope) at the version pinned in
# fleet/pyroscope/go.mod, from the Go module proxy, into the cache
#   ${XDG_CACHE_HOME:-$HOME/.cache}/streamprof/pyroscope/<version>/pyroscope
# and prints that path (the only line on stdout; progress goes to stderr).
#
# The build is skipped when the cached binary exists, its sha256 matches the
# one recorded beside it (pyroscope.sha256) and the recipe (go.mod, go.sum,
# this script's flags, the Go version) is the one recorded (recipe.sha256).
# go.sum is complete and committed, so the build runs with -mod=readonly and
# asks no checksum database: every module is checked against go.sum.
#
# Usage: fleet/pyroscope/build.sh [--force] [--check]
#   --force   rebuild even if the cache is valid
#   --check   build nothing: print the path and exit 0 if the cache is valid,
#             exit 1 if it is not
# Needs Go >= 1.24 on PATH (the `tool` directive). A cold build here (2 CPUs)
# downloads ~250 modules and compiles for a few minutes; see README.md.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
force=0
check=0
for arg in "$@"; do
  case "$arg" in
  --force) force=1 ;;
  --check) check=1 ;;
  -h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "build.sh: unknown option: $arg (try --help)" >&2
    exit 2
    ;;
  esac
done

log() { echo "pyroscope build: $*" >&2; }

version="$(awk '$1 == "github.com/grafana/pyroscope" && $2 ~ /^v/ { print $2; exit }' "$HERE/go.mod")"
if [[ -z "$version" ]]; then
  log "cannot find the github.com/grafana/pyroscope version in $HERE/go.mod"
  exit 2
fi

cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/streamprof/pyroscope/$version"
bin="$cache_root/pyroscope"

if ! command -v go >/dev/null 2>&1; then
  log "go is not on PATH (Go >= 1.24 is needed)"
  exit 3
fi
go_version="$(go env GOVERSION)"
if ! printf '%s\n' "$go_version" | grep -Eq '^go(1\.(2[4-9]|[3-9][0-9])|[2-9])'; then
  log "$go_version is too old: Go >= 1.24 is needed (go.mod's tool directive)"
  exit 3
fi

# Everything that decides the binary's bytes. CGO off, netgo and -s -w as
# upstream's Makefile builds its release; -trimpath so paths do not leak in.
ldflags="-s -w -X github.com/grafana/pyroscope/pkg/util/build.Version=${version#v} -X github.com/grafana/pyroscope/pkg/util/build.Branch=$version -X github.com/grafana/pyroscope/pkg/util/build.BuildUser=streamprof"
build_args=(build -mod=readonly -trimpath -tags netgo -ldflags "$ldflags")
recipe="$({
  cat "$HERE/go.mod" "$HERE/go.sum"
  printf '%s\n' "$go_version" "$(go env GOOS)/$(go env GOARCH)" "${build_args[@]}"
} | sha256sum | cut -d' ' -f1)"

cache_valid() {
  [[ -x "$bin" && -f "$cache_root/pyroscope.sha256" && -f "$cache_root/recipe.sha256" ]] || return 1
  [[ "$(cat "$cache_root/recipe.sha256")" == "$recipe" ]] || return 1
  [[ "$(sha256sum "$bin" | cut -d' ' -f1)" == "$(cat "$cache_root/pyroscope.sha256")" ]]
}

if [[ $check == 1 ]]; then
  if cache_valid; then
    echo "$bin"
    exit 0
  fi
  log "no valid cached binary at $bin (run fleet/pyroscope/build.sh)"
  exit 1
fi

mkdir -p "$cache_root"
# One build at a time per version (parallel test runs, two shells).
exec 9>"$cache_root/.lock"
flock 9

if [[ $force == 0 ]] && cache_valid; then
  log "cached, sha256 ok: $bin"
  echo "$bin"
  exit 0
fi

log "building github.com/grafana/pyroscope/cmd/pyroscope@$version with $go_version"
start=$SECONDS
tmp="$cache_root/.pyroscope.tmp.$$"
trap 'rm -f "$tmp"' EXIT
(
  cd "$HERE"
  # GOFLAGS from the caller's environment could carry -mod=vendor or similar;
  # the flags above are the whole recipe.
  CGO_ENABLED=0 GOFLAGS=-buildvcs=false go "${build_args[@]}" -o "$tmp" \
    github.com/grafana/pyroscope/cmd/pyroscope
)
sha256sum "$tmp" | cut -d' ' -f1 >"$cache_root/pyroscope.sha256.tmp"
mv -f "$tmp" "$bin"
mv -f "$cache_root/pyroscope.sha256.tmp" "$cache_root/pyroscope.sha256"
echo "$recipe" >"$cache_root/recipe.sha256"
trap - EXIT
log "built in $((SECONDS - start)) s, $(du -m "$bin" | cut -f1) MiB: $bin"
echo "$bin"
