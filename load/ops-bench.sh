#!/usr/bin/env bash
# Local throughput/latency benchmark of the operational endpoints of a RUNNING TaskRunner.
#
# For each of /health/live, /health/ready and /metrics: a short warm-up, then DURATION of
# wrk with CONNECTIONS connections on THREADS threads. Prints a Markdown table on stdout
# (progress on stderr): requests/s, latency p50/p90/p99/p99.9/max, errors.
#
# Usage:
#   BASE_URL=http://127.0.0.1:8080 load/ops-bench.sh
#
# Environment:
#   BASE_URL     service root; loopback only (127.0.0.0/8, localhost, [::1])  default http://127.0.0.1:8080
#   DURATION     seconds per endpoint            default 10
#   WARMUP       warm-up seconds per endpoint    default 2 (0 disables)
#   CONNECTIONS  wrk -c                          default 32
#   THREADS      wrk -t                          default 1
#   ENDPOINTS    space-separated paths           default "/health/live /health/ready /metrics"
#
# wrk is installed with apt-get when missing and running as root. The load generator shares
# the box with the service, so the numbers describe "service + wrk on this machine".
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPORTER="$SCRIPT_DIR/wrk/report.lua"

BASE_URL=${BASE_URL:-http://127.0.0.1:8080}
BASE_URL=${BASE_URL%/}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
ENDPOINTS=${ENDPOINTS:-/health/live /health/ready /metrics}

log() { printf '[ops-bench] %s\n' "$*" >&2; }
die() { printf '[ops-bench] error: %s\n' "$*" >&2; exit 2; }

for var in DURATION WARMUP CONNECTIONS THREADS; do
  [[ ${!var} =~ ^[0-9]+$ ]] || die "$var must be a non-negative integer, got '${!var}'"
done
((DURATION >= 1)) || die "DURATION must be at least 1"
((CONNECTIONS >= 1 && THREADS >= 1)) || die "CONNECTIONS and THREADS must be at least 1"
((CONNECTIONS >= THREADS)) || die "CONNECTIONS must be >= THREADS (wrk requirement)"
[[ -f $REPORTER ]] || die "missing $REPORTER"

# --- Target: loopback only ----------------------------------------------------------------------
if [[ ! $BASE_URL =~ ^(https?)://(\[[^]]+\]|[^/:?#]+)(:[0-9]+)?(/.*)?$ ]]; then
  die "BASE_URL '$BASE_URL' is not an http(s)://host[:port] URL"
fi
host=${BASH_REMATCH[2],,}
if [[ ! $host =~ ^127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ && $host != localhost && $host != '[::1]' ]]; then
  die "refusing to benchmark '$host': only loopback targets (127.0.0.0/8, localhost, [::1]) are allowed"
fi

# --- Tools ---------------------------------------------------------------------------------------
command -v curl >/dev/null || die "curl is required"
if ! command -v wrk >/dev/null; then
  if ((EUID == 0)) && command -v apt-get >/dev/null; then
    log "wrk not found; installing it with apt-get"
    timeout 300 apt-get update -qq >&2 || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq wrk >&2 || die "apt-get install wrk failed"
  else
    die "wrk is not installed (apt-get install wrk, as root)"
  fi
fi

# --- wrk runs in the background of THIS shell (not in a $(...) subshell) so that a trapped
# signal can stop it at once; `timeout` bounds every run anyway. ---------------------------------
WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ops-bench.XXXXXX")
WRK_OUT="$WORK_DIR/wrk.out"
WRK_PID=""
cleanup() {
  if [[ -n $WRK_PID ]] && kill -0 "$WRK_PID" 2>/dev/null; then
    kill -TERM "$WRK_PID" 2>/dev/null || true
    wait "$WRK_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_wrk seconds path [extra wrk args...]: wrk's output goes to $WRK_OUT; returns wrk's status
run_wrk() {
  local seconds=$1 path=$2 rc=0
  shift 2
  timeout --kill-after=5 $((seconds + 20)) \
    wrk -t "$THREADS" -c "$CONNECTIONS" -d "${seconds}s" --timeout 5s "$@" "$BASE_URL$path" \
    >"$WRK_OUT" 2>&1 </dev/null &
  WRK_PID=$!
  wait "$WRK_PID" || rc=$?
  WRK_PID=""
  return "$rc"
}

us_to_ms() { awk -v u="$1" 'BEGIN { printf (u < 10000 ? "%.2f" : "%.1f"), u / 1000 }'; }

# --- Pre-flight ----------------------------------------------------------------------------------
status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$BASE_URL/health/live" || true)
[[ $status == 200 ]] || die "$BASE_URL/health/live answered '${status:-no connection}' (is the service running?)"

rows=()
for path in $ENDPOINTS; do
  [[ $path == /* ]] || die "endpoint '$path' must start with /"
  status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$BASE_URL$path" || true)
  [[ $status == 200 ]] || log "warning: $path answers $status before the run; non-2xx answers are counted as errors"

  if ((WARMUP > 0)); then
    log "$path: warm-up ${WARMUP}s"
    run_wrk "$WARMUP" "$path" || log "warning: warm-up on $path failed: $(<"$WRK_OUT")"
  fi
  log "$path: ${DURATION}s, -c $CONNECTIONS -t $THREADS"
  if ! run_wrk "$DURATION" "$path" -s "$REPORTER"; then
    log "wrk failed on $path:"
    cat "$WRK_OUT" >&2
    rows+=("| \`$path\` | wrk failed | | | | | | |")
    continue
  fi
  result=$(grep '^WRK_RESULT ' "$WRK_OUT" || true)
  if [[ -z $result ]]; then
    log "no result from wrk on $path:"
    cat "$WRK_OUT" >&2
    rows+=("| \`$path\` | no result | | | | | | |")
    continue
  fi
  declare -A r=()
  for kv in ${result#WRK_RESULT }; do r[${kv%%=*}]=${kv#*=}; done
  socket_errors=$((r[err_connect] + r[err_read] + r[err_write] + r[err_timeout]))
  errors="${r[err_status]} non-2xx/3xx, $socket_errors socket"
  rows+=("| \`$path\` | ${r[rps]} | $(us_to_ms "${r[p50_us]}") | $(us_to_ms "${r[p90_us]}") | $(us_to_ms "${r[p99_us]}") | $(us_to_ms "${r[p999_us]}") | $(us_to_ms "${r[max_us]}") | $errors |")
  log "$path: ${r[rps]} req/s, p50 $(us_to_ms "${r[p50_us]}") ms, p99 $(us_to_ms "${r[p99_us]}") ms, errors: $errors"
  unset r
done

cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
wrk_version=$(wrk -v 2>&1 | awk 'NR == 1 { print $1, $2 }' || true)
cat <<EOF
### Operational endpoints

Target: \`$BASE_URL\` — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores${cpu_model:+ ($cpu_model)}, $(uname -sr), ${wrk_version:-wrk}, ${DURATION}s per endpoint after ${WARMUP}s warm-up, -c $CONNECTIONS -t $THREADS (wrk on the same box).

| Endpoint | Req/s | p50 (ms) | p90 (ms) | p99 (ms) | p99.9 (ms) | max (ms) | Errors |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |
EOF
printf '%s\n' "${rows[@]}"
