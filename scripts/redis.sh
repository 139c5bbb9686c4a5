#!/usr/bin/env bash
# Private redis-server for TaskRunner (dev and tests), independent of any system redis.
#
# Usage: scripts/redis.sh <command> [instance]
#   start     start (installing redis-server when root), print "redis <instance> ready on 127.0.0.1:<port>"
#   stop      shut down without saving (idempotent)
#   status    exit 0 if running, 3 if not
#   port      print the saved port (exit 1 if never started)
#   url       print 127.0.0.1:<port> (exit 1 if never started)
#   destroy   stop and delete the instance directory
# Instance defaults to "dev". Data lives in ${TASKRUNNER_DATA_DIR:-<repo>/.data}/redis-<instance>.
set -euo pipefail
shopt -s inherit_errexit

readonly PORT_FIRST=63790
readonly PORT_LAST=64389

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
DATA_ROOT="${TASKRUNNER_DATA_DIR:-$REPO_DIR/.data}"
[[ $DATA_ROOT == /* ]] || DATA_ROOT="$PWD/$DATA_ROOT"

die() {
  printf 'redis.sh: %s\n' "$*" >&2
  exit 1
}
note() { printf 'redis.sh: %s\n' "$*" >&2; }

usage() {
  awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "${BASH_SOURCE[0]}"
}

COMMAND="${1:-}"
case "$COMMAND" in
  start | stop | status | port | url | destroy) ;;
  -h | --help | help)
    usage
    exit 0
    ;;
  *)
    usage >&2
    exit 2
    ;;
esac
[[ $# -le 2 ]] || die "too many arguments"
INSTANCE="${2:-dev}"
[[ $INSTANCE =~ ^[A-Za-z0-9][A-Za-z0-9_-]*$ ]] || die "invalid instance name '$INSTANCE'"

INST_DIR="$DATA_ROOT/redis-$INSTANCE"
PORT_FILE="$INST_DIR/port"
PID_FILE="$INST_DIR/redis.pid"
LOG_FILE="$INST_DIR/redis.log"

# ---------------------------------------------------------------- helpers
REDIS_SERVER=""
REDIS_CLI=""
find_redis() {
  REDIS_SERVER="$(command -v redis-server || true)"
  REDIS_CLI="$(command -v redis-cli || true)"
  [[ -n $REDIS_SERVER && -n $REDIS_CLI ]]
}

ensure_redis() {
  find_redis && return 0
  ((EUID == 0)) || die "redis-server/redis-cli not found on PATH; install them (e.g. sudo apt-get install redis-server) or run this once as root"
  note "redis-server not found; installing it with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -qq -o DPkg::Lock::Timeout=300 update >&2
  apt-get -qq -y -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0 install --no-install-recommends redis-server >&2
  find_redis || die "installed redis-server but redis-server/redis-cli are still not on PATH"
}

# Prints the pid if this instance's redis is really alive (guards against stale/reused pids and zombies).
server_pid() {
  local pid cwd stat
  [[ -r $PID_FILE ]] || return 1
  pid="$(head -n 1 "$PID_FILE" 2>/dev/null)" || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == redis-server* ]] || return 1
  stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [[ ${stat:0:1} != [ZX] ]] || return 1
  if cwd="$(readlink "/proc/$pid/cwd" 2>/dev/null)"; then
    [[ $cwd == "$(readlink -f "$INST_DIR")" ]] || return 1
  fi
  printf '%s\n' "$pid"
}

# shellcheck source=scripts/private-instance.sh
source "$(dirname "${BASH_SOURCE[0]}")/private-instance.sh"

ping_ok() {
  # timeout: redis-cli has no connect/read timeout of its own.
  [[ "$(timeout 2 "$REDIS_CLI" -h 127.0.0.1 -p "$1" ping 2>/dev/null)" == PONG ]]
}

stop_server() {
  local pid port i
  pid="$(server_pid)" || {
    rm -f "$PID_FILE"
    return 1
  }
  port="$(saved_port || true)"
  if [[ -n $port ]] && find_redis; then
    timeout 5 "$REDIS_CLI" -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
  fi
  # Fall back to signals if the shutdown command did not take (wrong port, hung server).
  for ((i = 0; i < 200; i++)); do
    server_pid >/dev/null || break
    # CONT: a stopped (SIGSTOP) server would otherwise never act on TERM.
    ((i == 50)) && { kill -TERM "$pid" 2>/dev/null || true; kill -CONT "$pid" 2>/dev/null || true; }
    ((i == 150)) && { kill -KILL "$pid" 2>/dev/null || true; }
    sleep 0.1
  done
  server_pid >/dev/null && die "could not stop redis $INSTANCE (pid $pid)"
  rm -f "$PID_FILE"
}

# ---------------------------------------------------------------- commands
cmd_start() {
  local pid port i
  ensure_redis
  mkdir -p "$INST_DIR"
  lock_instance
  if pid="$(server_pid)"; then
    note "redis $INSTANCE already running (pid $pid)"
    printf 'redis %s ready on 127.0.0.1:%s\n' "$INSTANCE" "$(saved_port)"
    return 0
  fi
  rm -f "$PID_FILE"

  lock_ports
  port="$(saved_port || true)"
  if [[ -z $port ]] || ! port_free "$port"; then
    [[ -n $port ]] && note "saved port $port is taken; choosing another"
    port="$(pick_port)"
    printf '%s\n' "$port" >"$PORT_FILE"
  fi

  # cd + closed lock fds: the daemon keeps its cwd and inherited fds for its whole life.
  if ! (cd "$INST_DIR" && "$REDIS_SERVER" --bind 127.0.0.1 --port "$port" --protected-mode yes \
    --daemonize yes --pidfile "$PID_FILE" --dir "$INST_DIR" --logfile "$LOG_FILE" \
    --save "" --appendonly no 8>&- 9>&-); then
    tail -n 20 "$LOG_FILE" >&2 2>/dev/null || true
    die "redis $INSTANCE failed to start (log: $LOG_FILE)"
  fi
  for ((i = 0; i < 200; i++)); do
    ping_ok "$port" && break
    sleep 0.1
  done
  if ! ping_ok "$port"; then
    tail -n 20 "$LOG_FILE" >&2 2>/dev/null || true
    die "redis $INSTANCE did not answer PING on port $port within 20 s (log: $LOG_FILE)"
  fi
  unlock_ports
  printf 'redis %s ready on 127.0.0.1:%s\n' "$INSTANCE" "$port"
}

cmd_stop() {
  lock_instance
  if stop_server; then
    echo "redis $INSTANCE stopped"
  else
    echo "redis $INSTANCE not running"
  fi
}

cmd_status() {
  local pid
  if pid="$(server_pid)"; then
    echo "redis $INSTANCE running on 127.0.0.1:$(saved_port) (pid $pid)"
    exit 0
  fi
  echo "redis $INSTANCE not running"
  exit 3
}

cmd_port() {
  saved_port || die "instance '$INSTANCE' has never been started"
}

cmd_url() {
  local port
  port="$(saved_port)" || die "instance '$INSTANCE' has never been started"
  printf '127.0.0.1:%s\n' "$port"
}

cmd_destroy() {
  if [[ ! -d $INST_DIR ]]; then
    echo "redis $INSTANCE not present"
    return 0
  fi
  lock_instance
  stop_server || true
  rm -rf "$INST_DIR"
  echo "redis $INSTANCE destroyed"
}

"cmd_$COMMAND"
