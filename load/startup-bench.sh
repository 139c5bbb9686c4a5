#!/usr/bin/env bash
# Startup and footprint benchmark for the TaskRunner Native AOT binary.
#
# Measures, and prints as a Markdown table on stdout (progress goes to stderr):
#   - binary size (the executable alone; the .dbg symbol file is reported apart, not shipped)
#   - start-to-listen and start-to-ready time: spawn -> first TCP accept, and
#     spawn -> first 200 from GET /health/ready (median, min, max over RUNS runs)
#   - idle RSS: VmRSS after one extra /health/ready request and IDLE_SECONDS of idleness
#   - RSS after a short wrk burst on /health/live (only if wrk is installed)
#   - SIGTERM-to-exit time
#
# Usage:
#   TASKRUNNER_DB='Host=...;Database=...;Username=...' load/startup-bench.sh
#   BENCH_START_PG=1 load/startup-bench.sh    # start a private PostgreSQL via scripts/pg.sh, create a
#                                             # fresh database, migrate it, then measure
#
# Environment:
#   BINARY          AOT executable                    default artifacts/aot/TaskRunner
#   TASKRUNNER_DB   Npgsql connection string of an already migrated database (required,
#                   unless BENCH_START_PG=1)
#   BENCH_START_PG  1: start scripts/pg.sh instance "bench", create a fresh database there and migrate it
#   RUNS            number of cold starts               default 10
#   IDLE_SECONDS    idle time before reading VmRSS      default 5
#   READY_TIMEOUT   seconds to wait for readiness/run   default 30
#   STOP_TIMEOUT    seconds to wait after SIGTERM       default 10 (then SIGKILL)
#   BURST_SECONDS   wrk burst length (0 disables it)    default 5
#   BURST_CONNECTIONS  wrk connections                  default 32
#   KEEP_LOGS       1: keep the per-run service logs (always kept on failure)
#
# Every wait is bounded; the service (and wrk) are stopped on exit, Ctrl-C included.
# Traffic only ever goes to 127.0.0.1.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

BINARY=${BINARY:-artifacts/aot/TaskRunner}
RUNS=${RUNS:-10}
IDLE_SECONDS=${IDLE_SECONDS:-5}
READY_TIMEOUT=${READY_TIMEOUT:-30}
STOP_TIMEOUT=${STOP_TIMEOUT:-10}
BURST_SECONDS=${BURST_SECONDS:-5}
BURST_CONNECTIONS=${BURST_CONNECTIONS:-32}
KEEP_LOGS=${KEEP_LOGS:-0}
BENCH_START_PG=${BENCH_START_PG:-0}
PG_INSTANCE=bench
HOST=127.0.0.1

log() { printf '[startup-bench] %s\n' "$*" >&2; }
die() { printf '[startup-bench] error: %s\n' "$*" >&2; exit 2; }

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
for var in RUNS IDLE_SECONDS READY_TIMEOUT STOP_TIMEOUT BURST_SECONDS BURST_CONNECTIONS; do
  is_uint "${!var}" || die "$var must be a non-negative integer, got '${!var}'"
done
((RUNS >= 1)) || die "RUNS must be at least 1"
((READY_TIMEOUT >= 1)) || die "READY_TIMEOUT must be at least 1"

# Resolve BINARY relative to the repository root when it is not absolute.
[[ $BINARY == /* ]] || BINARY="$REPO_ROOT/$BINARY"
[[ -f $BINARY ]] || die "binary not found: $BINARY (build it first, e.g. the AOT publish target)"
[[ -x $BINARY ]] || die "binary is not executable: $BINARY"

command -v curl >/dev/null || die "curl is required"

# ---------------------------------------------------------------------------------------------
# State and cleanup
# ---------------------------------------------------------------------------------------------
WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/startup-bench.XXXXXX")
SERVICE_PID=""
FAILED=0
PG_STARTED=0

# A file descriptor that never becomes readable: `read -t` on it is a fork-free sub-second sleep.
exec {SLEEP_FD}<> <(:)
nap() { read -r -t "$1" -u "$SLEEP_FD" _ || true; }

# Stops the service started by this script: SIGTERM, bounded wait, then SIGKILL.
# Sets STOP_MS (time from SIGTERM to exit) and STOP_HOW.
stop_service() {
  local pid=$SERVICE_PID
  STOP_MS=""
  STOP_HOW=""
  [[ -n $pid ]] || return 0
  SERVICE_PID=""
  if ! alive "$pid"; then
    wait "$pid" 2>/dev/null || true
    STOP_HOW="already exited"
    return 0
  fi
  local t0 deadline rc=0
  now_us
  t0=$NOW_US
  deadline=$((t0 + STOP_TIMEOUT * 1000000))
  kill -TERM "$pid" 2>/dev/null || true
  while alive "$pid"; do
    if past "$deadline"; then
      log "pid $pid ignored SIGTERM for ${STOP_TIMEOUT}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      STOP_HOW="SIGKILL"
      break
    fi
    nap 0.005
  done
  wait "$pid" 2>/dev/null || rc=$?
  since_ms "$t0"
  STOP_MS=$ELAPSED_MS
  [[ -n $STOP_HOW ]] || STOP_HOW="exit $rc"
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_service || true
  if ((PG_STARTED)); then
    log "stopping private PostgreSQL instance '$PG_INSTANCE'"
    timeout 60 "$REPO_ROOT/scripts/pg.sh" stop "$PG_INSTANCE" >&2 2>&1 || true
  fi
  if ((FAILED)) || [[ $KEEP_LOGS == 1 ]]; then
    log "logs kept in $WORK_DIR"
  else
    rm -rf "$WORK_DIR"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# Time helpers. Everything called inside the polling loops is fork-free: EPOCHREALTIME
# (microsecond wall clock), arithmetic and builtins only; results go into globals.
# ---------------------------------------------------------------------------------------------
now_us() { # -> NOW_US
  local t=$EPOCHREALTIME
  NOW_US=$((10#${t%[.,]*} * 1000000 + 10#${t#*[.,]}))
}
since_ms() { # start_us -> ELAPSED_MS (milliseconds with one decimal)
  now_us
  local us=$((NOW_US - $1))
  printf -v ELAPSED_MS '%d.%d' $((us / 1000)) $(((us % 1000) / 100))
}
past() { # deadline_us
  now_us
  ((NOW_US >= $1))
}
is_zombie() { # pid: exited but not yet reaped (kill -0 still succeeds on a zombie)
  local stat
  { IFS= read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
  stat=${stat##*) }
  [[ ${stat%% *} == Z ]]
}
alive() { # pid
  kill -0 "$1" 2>/dev/null && ! is_zombie "$1"
}

# ---------------------------------------------------------------------------------------------
# Networking helpers (bash /dev/tcp: no fork per poll)
# ---------------------------------------------------------------------------------------------
port_is_free() { # nothing accepts connections on the port
  if { exec {probe}<>"/dev/tcp/$HOST/$1"; } 2>/dev/null; then
    exec {probe}>&-
    return 1
  fi
  return 0
}

free_port() { # -> PORT (a random port in 20000-59999 that nothing listens on)
  local i
  for ((i = 0; i < 200; i++)); do
    PORT=$((20000 + RANDOM % 40000))
    port_is_free "$PORT" && return 0
  done
  die "could not find a free TCP port on $HOST"
}

# One HTTP/1.1 GET over a fresh connection; sets HTTP_STATUS to the status code, or 000 when
# there was no HTTP answer. Returns 1 when the connection was refused (nothing listening yet).
http_status() { # port path
  local fd line
  HTTP_STATUS=000
  { exec {fd}<>"/dev/tcp/$HOST/$1"; } 2>/dev/null || return 1
  { printf 'GET %s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n\r\n' "$2" "$HOST" "$1" >&"$fd"; } 2>/dev/null || true
  if IFS= read -r -t 2 -u "$fd" line 2>/dev/null && [[ $line =~ ^HTTP/[0-9.]+\ ([0-9]{3}) ]]; then
    HTTP_STATUS=${BASH_REMATCH[1]}
    # Drain the rest (the server closes after it, Connection: close), so that closing our end
    # does not reset a connection the server is still writing to. Bounded in lines and time.
    local i
    for ((i = 0; i < 100; i++)); do
      IFS= read -r -t 1 -u "$fd" line 2>/dev/null || break
    done
  fi
  exec {fd}>&-
  return 0
}

vm_field_kib() { # pid field -> KiB value from /proc/<pid>/status, or empty
  local key value _
  [[ -r /proc/$1/status ]] || return 0
  while read -r key value _; do
    if [[ $key == "$2:" ]]; then
      echo "$value"
      return 0
    fi
  done <"/proc/$1/status" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------------------------
# The service refuses to start without its signing keys (tokens, cursors); a throwaway one per run.
BENCH_JWT_KEY=$(head -c 32 /dev/urandom | base64)

if [[ -z ${TASKRUNNER_DB:-} ]]; then
  if [[ $BENCH_START_PG != 1 ]]; then
    die "TASKRUNNER_DB is not set. Give the Npgsql connection string of an already migrated
  database, e.g.
    scripts/pg.sh start bench && export TASKRUNNER_DB=\"\$(scripts/pg.sh connstr taskrunner_bench)\"
    make migrate   # against that database
    load/startup-bench.sh
  or let this script do exactly that with BENCH_START_PG=1."
  fi
  [[ -x $REPO_ROOT/scripts/pg.sh ]] || die "BENCH_START_PG=1 needs scripts/pg.sh"
  log "starting private PostgreSQL instance '$PG_INSTANCE'"
  PG_STARTED=1
  timeout 120 "$REPO_ROOT/scripts/pg.sh" start "$PG_INSTANCE" >&2 || die "scripts/pg.sh start failed"
  timeout 60 "$REPO_ROOT/scripts/pg.sh" -i "$PG_INSTANCE" psql -qtAX \
    -c 'DROP DATABASE IF EXISTS taskrunner_bench WITH (FORCE)' -c 'CREATE DATABASE taskrunner_bench' >/dev/null ||
    die "creating the database failed"
  TASKRUNNER_DB=$(timeout 30 "$REPO_ROOT/scripts/pg.sh" connstr taskrunner_bench "$PG_INSTANCE") ||
    die "scripts/pg.sh connstr failed"
  export TASKRUNNER_DB
  log "migrating (this checkout's migrations)"
  timeout 300 dotnet run --project "$REPO_ROOT/migrations/TaskRunner.Migrations.csproj" -c Release -- \
    up --Database:ConnectionString="$TASKRUNNER_DB" >&2 || die "migrating failed"
fi

# ---------------------------------------------------------------------------------------------
# One cold start
# ---------------------------------------------------------------------------------------------
# Sets PORT, LISTEN_MS, READY_MS and POLLS (number of /health/ready attempts).
start_and_wait_ready() { # run-number
  local run=$1 logf t0 deadline
  free_port
  logf="$WORK_DIR/run-$run.log"
  LISTEN_MS=""
  READY_MS=""

  now_us
  t0=$NOW_US
  Database__ConnectionString=$TASKRUNNER_DB Urls="http://$HOST:$PORT" \
    Auth__JwtSigningKeys__bench="$BENCH_JWT_KEY" Auth__JwtActiveKeyId=bench Cursors__SigningKey="$BENCH_JWT_KEY" \
    "$BINARY" >"$logf" 2>&1 </dev/null &
  SERVICE_PID=$!
  deadline=$((t0 + READY_TIMEOUT * 1000000))

  POLLS=0
  while :; do
    POLLS=$((POLLS + 1))
    if http_status "$PORT" /health/ready && [[ -z $LISTEN_MS ]]; then
      since_ms "$t0"
      LISTEN_MS=$ELAPSED_MS
    fi
    if [[ $HTTP_STATUS == 200 ]]; then
      since_ms "$t0"
      READY_MS=$ELAPSED_MS
      return 0
    fi
    if ! alive "$SERVICE_PID"; then
      FAILED=1
      log "run $run: the service exited before it was ready; last lines of $logf:"
      tail -n 20 "$logf" >&2 || true
      return 1
    fi
    if past "$deadline"; then
      FAILED=1
      log "run $run: not ready after ${READY_TIMEOUT}s (last /health/ready status: $HTTP_STATUS;" \
        "000 = no HTTP answer). Is TASKRUNNER_DB reachable and migrated? Last lines of $logf:"
      tail -n 20 "$logf" >&2 || true
      return 1
    fi
    nap 0.002
  done
}

measure_idle_rss() {
  local status
  status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$HOST:$PORT/health/ready" || true)
  [[ $status == 200 ]] || log "warning: extra /health/ready request answered $status"
  nap "$IDLE_SECONDS"
  if ! alive "$SERVICE_PID"; then
    FAILED=1
    log "the service exited while idle; last lines of its log:"
    tail -n 20 "$WORK_DIR"/run-*.log >&2 || true
    return 1
  fi
  IDLE_RSS_KIB=$(vm_field_kib "$SERVICE_PID" VmRSS)
  PEAK_RSS_KIB=$(vm_field_kib "$SERVICE_PID" VmHWM)
  SMAPS_ROWS=$(smaps_breakdown "$SERVICE_PID")
}

# Where the idle RSS lives, from /proc/<pid>/smaps: Markdown rows "| part | RSS MiB |". The executable's mapping is
# split into its clean file pages (code, read-only data: page cache the kernel can drop) and the pages written at
# start (NativeAOT's rehydrated type data, statics); mappings without a file are the GC heap, thread stacks and
# other mmap'd memory of the runtime and native libraries.
smaps_breakdown() { # pid
  [[ -r /proc/$1/smaps ]] || return 0
  awk -v exe="$(readlink "/proc/$1/exe")" '
    /^[0-9a-f]+-[0-9a-f]+ / { path = $6; part = path == exe ? "exe" : path ~ /\.so/ ? "lib" : path == "[heap]" ? "heap" : path ~ /^\[stack/ ? "stack" : path == "" ? "anon" : "other"; next }
    $1 == "Rss:" { rss[part] += $2 }
    $1 == "Anonymous:" { anon[part] += $2 }
    END {
      mib = 1024
      printf "| &nbsp;&nbsp;executable, clean file pages (code, read-only data) | %.1f MiB |\n", (rss["exe"] - anon["exe"]) / mib
      printf "| &nbsp;&nbsp;executable, pages written at start (rehydrated runtime data, statics) | %.1f MiB |\n", anon["exe"] / mib
      printf "| &nbsp;&nbsp;mappings without a file (GC heap, thread stacks, native allocations) | %.1f MiB |\n", rss["anon"] / mib
      printf "| &nbsp;&nbsp;malloc heap ([heap]) and main stack | %.1f MiB |\n", (rss["heap"] + rss["stack"]) / mib
      printf "| &nbsp;&nbsp;shared libraries (libSkiaSharp only once used, libssl/libcrypto, libc, …) | %.1f MiB |\n", rss["lib"] / mib
      printf "| &nbsp;&nbsp;other files | %.1f MiB |\n", rss["other"] / mib
    }' "/proc/$1/smaps" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------
# Statistics and formatting
# ---------------------------------------------------------------------------------------------
stats() { # values... -> "median min max" (numeric sort; median of an even count = mean of the middle two)
  printf '%s\n' "$@" | sort -g | awk '
    { v[NR] = $1 }
    END {
      if (NR == 0) { print "- - -"; exit }
      med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      printf "%.1f %.1f %.1f\n", med, v[1], v[NR]
    }'
}
kib_to_mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
bytes_to_mb() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1048576 }'; }

# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------
BIN_BYTES=$(stat -c %s "$BINARY")
DBG_BYTES=""
if [[ -f $BINARY.dbg ]]; then DBG_BYTES=$(stat -c %s "$BINARY.dbg"); fi

log "binary: $BINARY ($(bytes_to_mb "$BIN_BYTES") MiB)"
log "$RUNS cold starts, ready timeout ${READY_TIMEOUT}s, idle ${IDLE_SECONDS}s before reading RSS"

listen_ms=() ready_ms=() idle_rss=() peak_rss=() stop_ms=() stop_how=()
for ((run = 1; run <= RUNS; run++)); do
  start_and_wait_ready "$run" || exit 1
  measure_idle_rss || exit 1
  listen_ms+=("${LISTEN_MS:-$READY_MS}")
  ready_ms+=("$READY_MS")
  idle_rss+=("$(kib_to_mib "${IDLE_RSS_KIB:-0}")")
  peak_rss+=("$(kib_to_mib "${PEAK_RSS_KIB:-0}")")

  BURST_LINE=""
  if ((run == RUNS)) && ((BURST_SECONDS > 0)); then
    if command -v wrk >/dev/null; then
      log "run $run: wrk burst on /health/live (${BURST_SECONDS}s, -c $BURST_CONNECTIONS -t 1)"
      wrk_out=$(timeout $((BURST_SECONDS + 15)) wrk -t 1 -c "$BURST_CONNECTIONS" -d "${BURST_SECONDS}s" \
        "http://$HOST:$PORT/health/live" 2>&1) || log "warning: wrk failed: $wrk_out"
      burst_rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$wrk_out")
      BURST_RSS_KIB=$(vm_field_kib "$SERVICE_PID" VmRSS)
      BURST_HWM_KIB=$(vm_field_kib "$SERVICE_PID" VmHWM)
      BURST_LINE="| RSS after ${BURST_SECONDS} s wrk burst on /health/live (-c $BURST_CONNECTIONS, ${burst_rps:-?} req/s) | $(kib_to_mib "${BURST_RSS_KIB:-0}") MiB (peak $(kib_to_mib "${BURST_HWM_KIB:-0}") MiB) |"
    else
      BURST_LINE="| RSS after wrk burst | skipped (wrk not installed) |"
    fi
  fi

  stop_service
  stop_ms+=("$STOP_MS")
  stop_how+=("$STOP_HOW")
  log "run $run/$RUNS: listening ${listen_ms[-1]} ms, ready ${READY_MS} ms, idle RSS ${idle_rss[-1]} MiB, stop ${STOP_MS} ms ($STOP_HOW), $POLLS polls"
done

read -r listen_med listen_min listen_max <<<"$(stats "${listen_ms[@]}")"
read -r ready_med ready_min ready_max <<<"$(stats "${ready_ms[@]}")"
read -r rss_med rss_min rss_max <<<"$(stats "${idle_rss[@]}")"
read -r hwm_med _ hwm_max <<<"$(stats "${peak_rss[@]}")"
read -r stop_med stop_min stop_max <<<"$(stats "${stop_ms[@]}")"
exit_kinds=$(printf '%s\n' "${stop_how[@]}" | sort | uniq -c | awk '{ c = $1; $1 = ""; printf "%s%s x%d", sep, substr($0, 2), c; sep = ", " }')

cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
cat <<EOF
### Startup and footprint (AOT)

Binary: \`${BINARY#"$REPO_ROOT"/}\` — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores${cpu_model:+ ($cpu_model)}, $(uname -sr), $RUNS runs.

| Metric | Value |
| --- | --- |
| Binary size (without .dbg) | $(bytes_to_mb "$BIN_BYTES") MiB |
EOF
if [[ -n $DBG_BYTES ]]; then echo "| Debug symbols (.dbg, not shipped) | $(bytes_to_mb "$DBG_BYTES") MiB |"; fi
cat <<EOF
| Spawn → listening (median / min / max) | $listen_med / $listen_min / $listen_max ms |
| Spawn → first 200 from /health/ready (median / min / max) | $ready_med / $ready_min / $ready_max ms |
| Idle RSS after ${IDLE_SECONDS} s (median / min / max) | $rss_med / $rss_min / $rss_max MiB |
| Peak RSS while idle, VmHWM (median / max) | $hwm_med / $hwm_max MiB |
| Idle RSS of the last run, by mapping (/proc/<pid>/smaps): | |
$SMAPS_ROWS
EOF
if [[ -n $BURST_LINE ]]; then echo "$BURST_LINE"; fi
cat <<EOF
| SIGTERM → exit (median / min / max) | $stop_med / $stop_min / $stop_max ms ($exit_kinds) |
EOF
