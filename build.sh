#!/usr/bin/env bash
# One entry point for everything: ./build.sh test | demo | bench [part] | chaos [faults] [seed] | pack
# Each verb first installs what is missing (PostgreSQL server binaries, NuGet packages),
# then runs. Quiet on success; on failure it says what failed and exits non-zero.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
ROOT=$(pwd)
SLN=RoutingDataSource.sln
LOGDIR="$ROOT/artifacts/logs"
mkdir -p "$LOGDIR"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

say()  { printf '==> %s\n' "$*"; }
fail() { printf 'build.sh: error: %s\n' "$*" >&2; exit 1; }

# Runs a command with its output in a log file; prints the log only when it fails.
quietly() {
  local name=$1; shift
  local log="$LOGDIR/$name.log"
  if ! "$@" >"$log" 2>&1; then
    tail -n 80 "$log" >&2
    fail "$name failed (full log: $log)"
  fi
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo -n "$@" || fail "need root to run: $* (sudo -n refused)"
  else fail "need root to run: $* (not root and no sudo)"
  fi
}

# Same search order as LocalPgCluster: PG_BIN, pg_config --bindir, newest /usr/lib/postgresql/*/bin.
find_pg_bin() {
  local d
  if [ -n "${PG_BIN:-}" ] && [ -x "$PG_BIN/postgres" ] && [ -x "$PG_BIN/initdb" ]; then echo "$PG_BIN"; return 0; fi
  if command -v pg_config >/dev/null 2>&1; then
    d=$(pg_config --bindir 2>/dev/null || true)
    if [ -n "$d" ] && [ -x "$d/postgres" ] && [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
  fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/postgres" ] && [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
  done
  return 1
}

apt_updated=0
# Installs the Debian packages that are not installed yet (dpkg -s), nothing otherwise.
ensure_apt() {
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || fail "missing ${missing[*]} and no apt-get to install them"
  say "installing ${missing[*]}"
  if [ $apt_updated -eq 0 ]; then quietly apt-update as_root apt-get update; apt_updated=1; fi
  quietly apt-install as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

ensure_postgres() {
  if ! find_pg_bin >/dev/null; then
    ensure_apt postgresql
    find_pg_bin >/dev/null || fail "PostgreSQL server binaries still not found after installing postgresql"
  fi
  # The harness runs servers as this user when we are root (PostgreSQL refuses to run as root).
  if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    fail "running as root but there is no 'postgres' OS user to run servers as (install the postgresql package)"
  fi
}

# etcd for the coordinators' leader election (LocalEtcdCluster runs its own members on loopback ports; the package's
# service is never used). Debian 12: etcd-server and etcd-client 3.4.23.
ensure_etcd() {
  if ! command -v etcd >/dev/null 2>&1 || ! command -v etcdctl >/dev/null 2>&1; then
    ensure_apt etcd-server etcd-client
  fi
  command -v etcd >/dev/null 2>&1 || fail "etcd not on PATH after installing etcd-server"
}

ensure_dotnet() {
  command -v dotnet >/dev/null 2>&1 || fail "the .NET SDK (dotnet) is not on PATH; install .NET SDK 10"
  quietly restore dotnet restore "$SLN"
}

build_release() { quietly build dotnet build "$SLN" -c Release --no-restore -warnaserror; }

cmd_test() {
  ensure_postgres; ensure_etcd; ensure_dotnet; build_release
  say "running tests"
  # A hung test must not hang CI: blame-hang aborts it and the harness's finalizers stop its servers.
  dotnet test "$SLN" -c Release --no-build \
    --blame-hang-timeout 5m \
    --logger "console;verbosity=normal" \
    --results-directory "$ROOT/artifacts/test-results" "$@"
}

cmd_demo() {
  ensure_postgres; ensure_dotnet
  quietly build-demo dotnet build samples/QuickStart -c Release --no-restore
  dotnet run --project samples/QuickStart -c Release --no-build -- "$@"
}

# Pgpool-II for the side-by-side comparison (Debian 12: pgpool2 is Pgpool-II 4.3). The harness starts its own
# instance on a loopback port; the package's service is never used (and not started in containers).
ensure_pgpool() {
  command -v pgpool >/dev/null 2>&1 || ensure_apt pgpool2
  command -v pgpool >/dev/null 2>&1 || fail "pgpool not on PATH after installing pgpool2"
}

# ./build.sh bench                  everything: side-by-side throughput + failover, then the micro benchmarks
# ./build.sh bench throughput|failover|overhead|micro [--rounds N --duration S ...]   one part (see benchmarks/README.md)
# ./build.sh bench ef [--rounds N --duration S]   the EF Core cell (not part of "all")
# ./build.sh bench ryw [--iterations N --gaps 0,1,5,100 --wait MS]   a read right after a write: share served by standbys
# ./build.sh bench corpus             the regression-suite corpus replayed through the data source and Pgpool-II (counts)
# ./build.sh bench switchover [--trials N]   planned switchovers back and forth under write load (not part of "all")
# ./build.sh bench --filter '*RoutingDecision*'  anything else goes to BenchmarkDotNet's switcher
cmd_bench() {
  ensure_postgres; ensure_pgpool; ensure_etcd; ensure_dotnet
  quietly build-bench dotnet build benchmarks/RoutingDataSource.Benchmarks -c Release --no-restore
  local run=(dotnet run --project benchmarks/RoutingDataSource.Benchmarks -c Release --no-build --)
  export BENCH_COMMAND="./build.sh bench${*:+ $*}"   # recorded in the results file
  case "${1:-all}" in
    all) [ $# -gt 0 ] && shift; "${run[@]}" compare all "$@" ;;
    throughput|failover|overhead|micro|corpus) "${run[@]}" compare "$@" ;;
    ef) shift; "${run[@]}" ef "$@" ;;
    switchover) shift; "${run[@]}" switchover "$@" ;;
    cpu) shift; "${run[@]}" cpu "$@" ;;
    *) "${run[@]}" "$@" ;;
  esac
}

# ./build.sh chaos [faults] [seed] [--sequence K[*N],..] [--coordinators 1|3]   the chaos soak of issues 18 and 21 (default
# 30 faults, a random seed, printed; 3 coordinators in HA mode on a 3-member etcd, --coordinators 1 for one alone); results in
# benchmarks/results/<date>-chaos.md (+ .json), logs in artifacts/chaos/. Exits non-zero when a write was lost, a
# failed write is present anyway, or a write failed with a raw exception.
cmd_chaos() {
  ensure_postgres; ensure_etcd; ensure_dotnet
  quietly build-chaos dotnet build benchmarks/RoutingDataSource.Chaos -c Release --no-restore -warnaserror
  export CHAOS_COMMAND="./build.sh chaos${*:+ $*}"   # recorded in the results file
  dotnet run --project benchmarks/RoutingDataSource.Chaos -c Release --no-build -- "$@"
}

# ./build.sh pack   the .nupkg files in artifacts/packages, versioned VersionPrefix-dev.<UTC date and time> (a new version
# each time, so a consuming app's restore never serves a stale cached copy). RDS_VERSION_SUFFIX overrides the suffix
# (RDS_VERSION_SUFFIX= for a release version); RDS_REPOSITORY_URL the repository URL (default: git remote origin).
cmd_pack() {
  ensure_dotnet
  rm -rf "$ROOT/artifacts/packages"
  local suffix=${RDS_VERSION_SUFFIX-dev.$(date -u +%Y%m%d%H%M%S)}
  local url=${RDS_REPOSITORY_URL:-$(git remote get-url origin 2>/dev/null || true)}
  local commit
  commit=$(git rev-parse HEAD 2>/dev/null || true)
  local props=("-p:VersionSuffix=$suffix")
  [ -n "$url" ] && props+=("-p:RepositoryUrl=$url")
  [ -n "$commit" ] && props+=("-p:RepositoryCommit=$commit")
  quietly pack dotnet pack "$SLN" -c Release --no-restore -o "$ROOT/artifacts/packages" "${props[@]}"
  say "packages in artifacts/packages:"
  ls -1 "$ROOT/artifacts/packages"
}

usage() {
  cat <<USAGE
usage: ./build.sh <verb> [args]
  test   [dotnet test args]   install prerequisites, build Release, run the whole test suite
  demo                        install prerequisites, run samples/QuickStart on a local cluster
  bench  [part] [options]     install prerequisites (PostgreSQL, Pgpool-II), run the benchmarks:
                              all parts, or throughput | failover | micro | cpu | ef; results in benchmarks/results/
  chaos  [faults] [seed]      install prerequisites, run the chaos soak (default 30 faults, random seed, 3 coordinators
                              on etcd; --coordinators 1 for one alone): crashes, freezes and cuts of servers,
                              coordinators and etcd under a checked workload; results in benchmarks/results/
  pack                        write the .nupkg files to artifacts/packages (version 0.1.0-dev.<UTC time>;
                              RDS_VERSION_SUFFIX overrides the suffix, RDS_REPOSITORY_URL the repository URL)
USAGE
}

verb=${1:-}
[ $# -gt 0 ] && shift
case "$verb" in
  test)  cmd_test "$@" ;;
  demo)  cmd_demo "$@" ;;
  bench) cmd_bench "$@" ;;
  chaos) cmd_chaos "$@" ;;
  pack)  cmd_pack "$@" ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
