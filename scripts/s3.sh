#!/usr/bin/env bash
# Private S3-compatible server (s3rver, from tools/s3rver) for the S3 attachment-storage tests and local trials.
#
# Usage: scripts/s3.sh <command> [instance]
#   start     install s3rver from tools/s3rver's lockfile when missing (npm ci), start it with the bucket
#             "taskrunner-test", print "s3 <instance> ready on http://127.0.0.1:<port>"
#   stop      stop it (idempotent)
#   status    exit 0 if running, 3 if not
#   url       print http://127.0.0.1:<port> (exit 1 if never started)
#   destroy   stop and delete the instance directory (its objects included)
# Instance defaults to "dev". Objects live in ${TASKRUNNER_DATA_DIR:-<repo>/.data}/s3-<instance>. Credentials: S3RVER / S3RVER.
set -euo pipefail
shopt -s inherit_errexit

readonly PORT_FIRST=45680
readonly PORT_LAST=46279
readonly BUCKET=taskrunner-test

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
TOOL_DIR="$REPO_DIR/tools/s3rver"
DATA_ROOT="${TASKRUNNER_DATA_DIR:-$REPO_DIR/.data}"
[[ $DATA_ROOT == /* ]] || DATA_ROOT="$PWD/$DATA_ROOT"

die() {
  printf 's3.sh: %s\n' "$*" >&2
  exit 1
}
note() { printf 's3.sh: %s\n' "$*" >&2; }

usage() {
  awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "${BASH_SOURCE[0]}"
}

COMMAND="${1:-}"
case "$COMMAND" in
  start | stop | status | url | destroy) ;;
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

INST_DIR="$DATA_ROOT/s3-$INSTANCE"
PORT_FILE="$INST_DIR/port"
PID_FILE="$INST_DIR/s3rver.pid"
LOG_FILE="$INST_DIR/s3rver.log"
SERVER="$TOOL_DIR/node_modules/s3rver/bin/s3rver.js"

ensure_s3rver() {
  [[ -f $SERVER ]] && return 0
  command -v npm >/dev/null || die "npm not found: install Node.js (Debian: apt-get install nodejs npm)"
  note "installing s3rver from tools/s3rver/package-lock.json"
  (cd "$TOOL_DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
}

# Prints the pid if this instance's server is really alive.
server_pid() {
  local pid
  [[ -r $PID_FILE ]] || return 1
  pid="$(head -n 1 "$PID_FILE" 2>/dev/null)" || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  grep -q s3rver "/proc/$pid/cmdline" 2>/dev/null || return 1
  printf '%s\n' "$pid"
}

# shellcheck source=scripts/private-instance.sh
source "$(dirname "${BASH_SOURCE[0]}")/private-instance.sh"

answers() { curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$1/"; }

stop_server() {
  local pid i
  pid="$(server_pid)" || {
    rm -f "$PID_FILE"
    return 1
  }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    server_pid >/dev/null || break
    ((i == 50)) && { kill -KILL "$pid" 2>/dev/null || true; }
    sleep 0.1
  done
  server_pid >/dev/null && die "could not stop s3rver $INSTANCE (pid $pid)"
  rm -f "$PID_FILE"
}

cmd_start() {
  local pid port i
  ensure_s3rver
  mkdir -p "$INST_DIR/objects"
  lock_instance
  if pid="$(server_pid)"; then
    note "s3 $INSTANCE already running (pid $pid)"
    printf 's3 %s ready on http://127.0.0.1:%s\n' "$INSTANCE" "$(saved_port)"
    return 0
  fi
  lock_ports
  port="$(saved_port || true)"
  if [[ -z $port ]] || ! port_free "$port"; then
    port="$(pick_port)"
    printf '%s\n' "$port" >"$PORT_FILE"
  fi
  # setsid + lock fds closed before exec: the server outlives this script and holds none of its locks.
  (
    exec 8>&- 9>&- </dev/null >"$LOG_FILE" 2>&1
    cd "$INST_DIR"
    exec setsid node "$SERVER" -d "$INST_DIR/objects" -a 127.0.0.1 -p "$port" --silent --no-vhost-buckets --configure-bucket "$BUCKET"
  ) &
  echo $! >"$PID_FILE"
  for ((i = 0; i < 200; i++)); do
    answers "$port" && break
    sleep 0.1
  done
  if ! answers "$port"; then
    tail -n 20 "$LOG_FILE" >&2 2>/dev/null || true
    die "s3 $INSTANCE did not answer on port $port within 20 s (log: $LOG_FILE)"
  fi
  unlock_ports
  printf 's3 %s ready on http://127.0.0.1:%s\n' "$INSTANCE" "$port"
}

cmd_stop() {
  lock_instance
  if stop_server; then
    echo "s3 $INSTANCE stopped"
  else
    echo "s3 $INSTANCE not running"
  fi
}

cmd_status() {
  local pid
  if pid="$(server_pid)"; then
    echo "s3 $INSTANCE running on http://127.0.0.1:$(saved_port) (pid $pid)"
    exit 0
  fi
  echo "s3 $INSTANCE not running"
  exit 3
}

cmd_url() {
  local port
  port="$(saved_port)" || die "instance '$INSTANCE' has never been started"
  printf 'http://127.0.0.1:%s\n' "$port"
}

cmd_destroy() {
  if [[ ! -d $INST_DIR ]]; then
    echo "s3 $INSTANCE not present"
    return 0
  fi
  lock_instance
  stop_server || true
  rm -rf "$INST_DIR"
  echo "s3 $INSTANCE destroyed"
}

"cmd_$COMMAND"
