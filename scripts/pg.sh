#!/usr/bin/env bash
# Private PostgreSQL cluster for TaskRunner (dev and tests), independent of any system cluster.
#
# Usage: scripts/pg.sh [-i INSTANCE] <command> [args]
#   start [instance]             initdb on first use, start, print "postgres <instance> ready on 127.0.0.1:<port>"
#   stop [instance]              fast shutdown (idempotent)
#   status [instance]            exit 0 if running, 3 if not
#   port [instance]              print the saved port (exit 1 if never started)
#   connstr [database] [instance]  print an Npgsql connection string (database default: postgres)
#   psql [psql args...]          run psql as user postgres (instance only via -i)
#   destroy [instance]           stop and delete the instance directory
# Instance defaults to "dev". Instances named test* run with fsync off.
# Data lives in ${TASKRUNNER_DATA_DIR:-<repo>/.data}/pg-<instance>.
set -euo pipefail
shopt -s inherit_errexit

readonly MIN_PG_MAJOR=15
readonly PORT_FIRST=54320
readonly PORT_LAST=54919
readonly DB_OWNER=postgres # OS user that owns the cluster when this script runs as root

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
DATA_ROOT="${TASKRUNNER_DATA_DIR:-$REPO_DIR/.data}"
[[ $DATA_ROOT == /* ]] || DATA_ROOT="$PWD/$DATA_ROOT"

die() {
  printf 'pg.sh: %s\n' "$*" >&2
  exit 1
}
note() { printf 'pg.sh: %s\n' "$*" >&2; }

usage() {
  awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "${BASH_SOURCE[0]}"
}

# ---------------------------------------------------------------- arguments
INSTANCE=""
if [[ ${1:-} == -i || ${1:-} == --instance ]]; then
  [[ $# -ge 2 ]] || die "missing value for $1"
  INSTANCE="$2"
  shift 2
fi
COMMAND="${1:-}"
[[ $# -gt 0 ]] && shift

set_instance() {
  if [[ -n ${1:-} ]]; then
    [[ -z $INSTANCE || $INSTANCE == "$1" ]] || die "conflicting instances '$INSTANCE' and '$1'"
    INSTANCE="$1"
  fi
}

case "$COMMAND" in
  start | stop | status | port | destroy)
    [[ $# -le 1 ]] || die "too many arguments for $COMMAND"
    set_instance "${1:-}"
    ;;
  connstr)
    [[ $# -le 2 ]] || die "too many arguments for connstr"
    CONN_DB="${1:-postgres}"
    set_instance "${2:-}"
    [[ $CONN_DB =~ ^[A-Za-z0-9_.-]+$ ]] || die "unsupported database name '$CONN_DB'"
    ;;
  psql) ;;
  -h | --help | help)
    usage
    exit 0
    ;;
  *)
    usage >&2
    exit 2
    ;;
esac
INSTANCE="${INSTANCE:-dev}"
[[ $INSTANCE =~ ^[A-Za-z0-9][A-Za-z0-9_-]*$ ]] || die "invalid instance name '$INSTANCE'"

INST_DIR="$DATA_ROOT/pg-$INSTANCE"
PGDATA_DIR="$INST_DIR/data"
PORT_FILE="$INST_DIR/port"
LOG_FILE="$INST_DIR/server.log"
PID_FILE="$PGDATA_DIR/postmaster.pid"

# ---------------------------------------------------------------- helpers
# Root must not own a cluster (initdb refuses), so root delegates to the postgres user.
# Lock fds 8/9 are closed so the daemonized postmaster does not hold our locks forever.
as_owner() {
  if ((EUID == 0)); then
    (cd / && runuser -u "$DB_OWNER" -- "$@" 8>&- 9>&-)
  else
    (cd / && "$@" 8>&- 9>&-)
  fi
}

pg_major() {
  local v
  v="$("$1" --version 2>/dev/null | awk '{print $3; exit}')" || return 1
  v="${v%%.*}"
  v="${v%%[!0-9]*}"
  [[ -n $v ]] && printf '%s\n' "$v"
}

# Prints the newest usable PostgreSQL bin directory (>= MIN_PG_MAJOR), optionally of a given major.
find_bindir() {
  local want="${1:-}" best="" best_major=0 d m
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x $d/pg_ctl && -x $d/initdb && -x $d/postgres ]] || continue
    m="$(pg_major "$d/pg_ctl")" || continue
    [[ -z $want || $m == "$want" ]] || continue
    if ((m >= MIN_PG_MAJOR && m > best_major)); then
      best="$d"
      best_major="$m"
    fi
  done
  if [[ -z $best ]] && command -v pg_ctl >/dev/null 2>&1; then
    d="$(dirname "$(readlink -f "$(command -v pg_ctl)")")"
    if [[ -x $d/initdb && -x $d/postgres ]] && m="$(pg_major "$d/pg_ctl")" &&
      ((m >= MIN_PG_MAJOR)) && [[ -z $want || $m == "$want" ]]; then
      best="$d"
    fi
  fi
  [[ -n $best ]] && printf '%s\n' "$best"
}

install_postgres() {
  note "PostgreSQL >= $MIN_PG_MAJOR not found; installing it with apt-get"
  # We never use Debian's default 'main' cluster, so don't let the package create one.
  mkdir -p /etc/postgresql-common/createcluster.d
  printf 'create_main_cluster = false\n' >/etc/postgresql-common/createcluster.d/50-taskrunner-no-main.conf
  export DEBIAN_FRONTEND=noninteractive
  apt-get -qq -o DPkg::Lock::Timeout=300 update >&2
  apt-get -qq -y -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0 install --no-install-recommends postgresql >&2
}

BINDIR=""
ensure_bindir() {
  local may_install="$1" want=""
  [[ -f $PGDATA_DIR/PG_VERSION ]] && want="$(cat "$PGDATA_DIR/PG_VERSION" 2>/dev/null || true)"
  # An existing cluster can only be run by binaries of its own major version.
  if [[ -n $want ]]; then
    BINDIR="$(find_bindir "$want" || true)"
    [[ -n $BINDIR ]] && return 0
    [[ -n $(find_bindir || true) ]] &&
      die "instance '$INSTANCE' was created by PostgreSQL $want, which is not installed; run: $0 destroy $INSTANCE"
  fi
  BINDIR="$(find_bindir || true)"
  [[ -n $BINDIR ]] && return 0
  [[ $may_install == yes ]] || return 1
  if ((EUID != 0)); then
    die "PostgreSQL >= $MIN_PG_MAJOR server binaries not found (looked in /usr/lib/postgresql/*/bin and PATH); install them (e.g. sudo apt-get install postgresql) or run this once as root"
  fi
  install_postgres
  BINDIR="$(find_bindir || true)"
  [[ -n $BINDIR ]] || die "installed postgresql but still found no PostgreSQL >= $MIN_PG_MAJOR server binaries"
}

# Prints the postmaster pid if this instance's server is really alive (guards against stale/reused pids).
server_pid() {
  local pid cwd stat
  [[ -r $PID_FILE ]] || return 1
  pid="$(head -n 1 "$PID_FILE" 2>/dev/null)" || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == postgres ]] || return 1
  # A killed postmaster can linger as a zombie until init reaps it.
  stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [[ ${stat:0:1} != [ZX] ]] || return 1
  if cwd="$(readlink "/proc/$pid/cwd" 2>/dev/null)"; then
    [[ $cwd == "$(readlink -f "$PGDATA_DIR")" ]] || return 1
  fi
  printf '%s\n' "$pid"
}

running_port() { sed -n '4p' "$PID_FILE"; }

# shellcheck source=scripts/private-instance.sh
source "$(dirname "${BASH_SOURCE[0]}")/private-instance.sh"

# Live processes still working in the data dir (e.g. backends of a postmaster that was kill -9'ed).
leftover_pids() {
  local d real cwd stat
  real="$(readlink -f "$PGDATA_DIR")"
  for d in /proc/[0-9]*; do
    cwd="$(readlink "$d/cwd" 2>/dev/null)" || continue
    [[ $cwd == "$real" ]] || continue
    stat="$(cat "$d/stat" 2>/dev/null)" || continue
    stat="${stat##*) }"
    [[ ${stat:0:1} == [ZX] ]] || printf '%s ' "${d#/proc/}"
  done
}

remove_stale_pidfile() {
  local pid left i
  server_pid >/dev/null && return 0
  if [[ -f $PID_FILE ]]; then
    pid="$(head -n 1 "$PID_FILE" 2>/dev/null || true)"
    # PostgreSQL treats a zombie as alive and would refuse to start; give init time to reap it.
    for ((i = 0; i < 150; i++)); do
      [[ $pid =~ ^[0-9]+$ && "$(cut -d ')' -f 2 "/proc/$pid/stat" 2>/dev/null)" == " Z"* ]] || break
      sleep 0.1
    done
  fi
  # Deleting lock files disables PostgreSQL's own interlock, so only do it when nothing is left.
  left="$(leftover_pids)"
  [[ -z $left ]] || die "postmaster of '$INSTANCE' is gone but processes ${left}still use its data dir; retry shortly or kill them"
  if [[ -f $PID_FILE ]]; then
    note "removing stale $PID_FILE"
    rm -f "$PID_FILE"
  fi
  rm -f "$INST_DIR"/.s.PGSQL.*
}

prepare_dirs() {
  mkdir -p "$INST_DIR"
  if ((EUID == 0)); then
    id "$DB_OWNER" >/dev/null 2>&1 || die "user '$DB_OWNER' does not exist (it comes with the postgresql package)"
    runuser -u "$DB_OWNER" -- test -x "$DATA_ROOT" || chmod o+x "$DATA_ROOT"
    [[ "$(stat -c %U "$INST_DIR")" == "$DB_OWNER" ]] || chown -R "$DB_OWNER:" "$INST_DIR"
    runuser -u "$DB_OWNER" -- test -w "$INST_DIR" ||
      die "user '$DB_OWNER' cannot reach $INST_DIR; make its parent directories traversable (chmod o+x) or set TASKRUNNER_DATA_DIR"
  elif [[ ! -O $INST_DIR ]]; then
    die "$INST_DIR belongs to $(stat -c %U "$INST_DIR"); run as root or destroy it"
  fi
}

init_cluster() {
  local extra=()
  [[ -f $PGDATA_DIR/PG_VERSION ]] && return 0
  # A half-written data dir (failed initdb) would make initdb refuse; it holds nothing of value.
  [[ -d $PGDATA_DIR ]] && rm -rf "$PGDATA_DIR"
  [[ $INSTANCE == test* ]] && extra+=(--no-sync)
  note "initializing $PGDATA_DIR"
  if ! as_owner "$BINDIR/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
    "${extra[@]}" >"$INST_DIR/initdb.log" 2>&1; then
    cat "$INST_DIR/initdb.log" >&2
    die "initdb failed"
  fi
}

# ---------------------------------------------------------------- commands
cmd_start() {
  local pid port opts
  ensure_bindir yes
  lock_instance
  prepare_dirs
  if pid="$(server_pid)"; then
    note "postgres $INSTANCE already running (pid $pid)"
    printf 'postgres %s ready on 127.0.0.1:%s\n' "$INSTANCE" "$(running_port)"
    return 0
  fi
  remove_stale_pidfile
  init_cluster

  lock_ports
  port="$(saved_port || true)"
  if [[ -z $port ]] || ! port_free "$port"; then
    [[ -n $port ]] && note "saved port $port is taken; choosing another"
    port="$(pick_port)"
    printf '%s\n' "$port" >"$PORT_FILE"
  fi

  opts="-p $port -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=256MB"
  # Unix socket paths are limited to 107 bytes; fall back to TCP only for deep directories.
  if ((${#INST_DIR} + 20 < 108)); then
    [[ $INST_DIR != *"'"* ]] || die "data directory path must not contain a single quote"
    opts+=" -c unix_socket_directories='$INST_DIR'"
  else
    note "path too long for a unix socket; listening on TCP only"
    opts+=" -c unix_socket_directories=''"
  fi
  # Test clusters are disposable: trade durability for speed.
  [[ $INSTANCE == test* ]] && opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"

  if ! as_owner "$BINDIR/pg_ctl" -D "$PGDATA_DIR" -l "$LOG_FILE" -w -t 60 -s -o "$opts" start >&2; then
    tail -n 20 "$LOG_FILE" >&2 || true
    die "postgres $INSTANCE failed to start (log: $LOG_FILE)"
  fi
  unlock_ports
  printf 'postgres %s ready on 127.0.0.1:%s\n' "$INSTANCE" "$port"
}

stop_server() {
  local pid i
  if ! pid="$(server_pid)"; then
    remove_stale_pidfile
    return 1
  fi
  BINDIR="$(find_bindir "$(cat "$PGDATA_DIR/PG_VERSION")" || true)"
  if [[ -n $BINDIR ]]; then
    as_owner "$BINDIR/pg_ctl" -D "$PGDATA_DIR" -m fast -w -t 60 -s stop >&2 ||
      die "pg_ctl stop failed for instance '$INSTANCE'"
  else
    # Binaries gone (package removed?): SIGINT is PostgreSQL's fast shutdown.
    kill -INT "$pid"
    for ((i = 0; i < 600; i++)); do
      server_pid >/dev/null || break
      sleep 0.1
    done
  fi
}

cmd_stop() {
  lock_instance
  if stop_server; then
    echo "postgres $INSTANCE stopped"
  else
    echo "postgres $INSTANCE not running"
  fi
}

cmd_status() {
  local pid state
  if pid="$(server_pid)"; then
    state="$(sed -n '8p' "$PID_FILE" | tr -d ' ')"
    echo "postgres $INSTANCE running on 127.0.0.1:$(running_port) (pid $pid, ${state:-unknown})"
    exit 0
  elif [[ -d $PGDATA_DIR ]]; then
    echo "postgres $INSTANCE not running"
  else
    echo "postgres $INSTANCE not initialized"
  fi
  exit 3
}

cmd_port() {
  saved_port || die "instance '$INSTANCE' has never been started"
}

cmd_connstr() {
  local port
  port="$(saved_port)" || die "instance '$INSTANCE' has never been started"
  printf 'Host=127.0.0.1;Port=%s;Username=postgres;Database=%s\n' "$port" "$CONN_DB"
}

cmd_psql() {
  local psql_bin port
  server_pid >/dev/null || die "postgres $INSTANCE is not running (run: $0 start $INSTANCE)"
  port="$(running_port)"
  psql_bin="$(find_bindir || true)/psql"
  [[ -x $psql_bin ]] || psql_bin="$(command -v psql)" || die "psql not found"
  # Neutralize libpq settings from the caller's environment that would point elsewhere.
  unset PGHOSTADDR PGSERVICE PGSERVICEFILE
  PGHOST=127.0.0.1 PGPORT="$port" PGUSER=postgres PGDATABASE=postgres exec "$psql_bin" "$@"
}

cmd_destroy() {
  if [[ ! -d $INST_DIR ]]; then
    echo "postgres $INSTANCE not present"
    return 0
  fi
  lock_instance
  stop_server || true
  rm -rf "$INST_DIR"
  echo "postgres $INSTANCE destroyed"
}

"cmd_$COMMAND" "$@"
