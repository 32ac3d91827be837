#!/usr/bin/env bash
# Builds the real kube-apiserver (from kubernetes/apiserver-build) and kine, its datastore on
# SQLite, into the tool cache, keyed by version, skipping whichever is already there: a machine
# builds them once (kube-apiserver takes 15-30 minutes on 2 cores). There is no download of
# Kubernetes binaries here: envtest's and kind's come from outside the reachable network.
# Prints one line per thing it builds and nothing else on success; a failed step prints the
# tail of its log. Keep the pinned versions in step with stack/tool-paths.ts and, for
# Kubernetes, with every version in kubernetes/apiserver-build/go.mod.
set -euo pipefail

readonly KUBERNETES_VERSION=v1.37.1
readonly KINE_VERSION=v0.17.5

project_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tool_cache="${DBKEEP_TOOL_CACHE:-$HOME/.cache/dbkeep}"
kubernetes_dir="$tool_cache/kubernetes-$KUBERNETES_VERSION"
kine_dir="$tool_cache/kine-$KINE_VERSION"

mkdir -p "$tool_cache"
# Its own lock, not bootstrap.lock: bootstrap.sh holds that one while it runs this script.
exec 8>"$tool_cache/build-kubernetes.lock"
flock 8

if [[ -x "$kubernetes_dir/bin/kube-apiserver" && -x "$kine_dir/bin/kine" ]]; then
  exit 0
fi

if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
  PATH="/usr/local/go/bin:$PATH"
fi
command -v go >/dev/null || { echo "build-kubernetes: go is needed to build kube-apiserver and kine and is not on PATH" >&2; exit 1; }

# Two packages at a time: compiling k8s.io/kubernetes with more parallelism than cores
# only adds memory pressure.
export GOMAXPROCS="${GOMAXPROCS:-2}"
readonly GO_BUILD_PARALLELISM="${DBKEEP_GO_BUILD_PARALLELISM:-2}"

# Runs "$@" with its output in a log, printed only if the step fails.
run_logged() {
  local what="$1"; shift
  local log="$tool_cache/build-$what.log"
  if ! "$@" >"$log" 2>&1; then
    echo "build-kubernetes: building $what failed; last lines of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
}

# Builds into a temporary name and renames, so an interrupted build never leaves a binary
# that the check above would take for a finished one.
build_kube_apiserver() {
  local minor="${KUBERNETES_VERSION#v1.}"; minor="${minor%%.*}"
  local ldflags="-s -w"
  local package
  # What hack/lib/version.sh stamps, so /version reports the release instead of v0.0.0-master.
  for package in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $package.gitVersion=$KUBERNETES_VERSION -X $package.gitMajor=1 -X $package.gitMinor=$minor -X $package.gitTreeState=clean"
  done
  mkdir -p "$kubernetes_dir/bin"
  (cd "$project_root/kubernetes/apiserver-build" &&
    go build -mod=readonly -trimpath -p "$GO_BUILD_PARALLELISM" -ldflags "$ldflags" \
      -o "$kubernetes_dir/bin/kube-apiserver.partial" .)
  mv "$kubernetes_dir/bin/kube-apiserver.partial" "$kubernetes_dir/bin/kube-apiserver"
}

# kine's SQLite driver is mattn/go-sqlite3, which needs cgo (and so gcc).
build_kine() {
  local gobin="$kine_dir/partial"
  rm -rf "$gobin"
  CGO_ENABLED=1 GOBIN="$gobin" go install -trimpath -p "$GO_BUILD_PARALLELISM" \
    -ldflags "-s -w -X github.com/k3s-io/kine/pkg/version.Version=$KINE_VERSION" \
    "github.com/k3s-io/kine@$KINE_VERSION"
  mkdir -p "$kine_dir/bin"
  mv "$gobin/kine" "$kine_dir/bin/kine"
  rmdir "$gobin"
}

if [[ ! -x "$kine_dir/bin/kine" ]]; then
  echo "build-kubernetes: building kine $KINE_VERSION into $kine_dir"
  run_logged kine build_kine
fi

if [[ ! -x "$kubernetes_dir/bin/kube-apiserver" ]]; then
  echo "build-kubernetes: building kube-apiserver $KUBERNETES_VERSION into $kubernetes_dir (takes 15-30 minutes)"
  run_logged kube-apiserver build_kube_apiserver
fi
