#!/usr/bin/env bash
# Idle WebSockets on one node (issue 16): SOCKETS authenticated sockets held open against the AOT binary, loopback only,
# bounded. USERS accounts (the per-user socket cap lifted) log in once each; client processes (load/ws-idle.mjs, the `ws`
# package of load/package.json), each on its own loopback source address (127.0.0.2, .3, …: ≈ 28,000 ephemeral ports per
# address), open at most PER_CLIENT sockets each with `Sec-WebSocket-Protocol: bearer, <token>`. Reported: the service's
# RSS before and after, per socket, and the server's own count of open sockets (taskrunner_realtime_sockets) after
# opening and again after HOLD_SECONDS.
#
# Every process may hold at most `ulimit -Hn` files; the script raises the soft limit to it. When the hard limit is below
# what SOCKETS needs in the service, only root with CAP_SYS_RESOURCE can raise it: the script then measures as many
# sockets as the limit allows (it minus 1,000 for the service's other files) and says so.
#
# Usage (starts its own PostgreSQL instance "ws-idle-bench" and the AOT binary, stops both at the end):
#   make publish && (cd load && npm ci) && load/ws-idle-bench.sh
# Environment: BINARY (artifacts/aot/TaskRunner), PORT (5199), SOCKETS (100000), USERS (50), PER_CLIENT (15000),
#   CONCURRENCY (handshakes in flight per client, 100), HOLD_SECONDS (20), TIMEOUT (600 s for opening them all).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BINARY=${BINARY:-$ROOT/artifacts/aot/TaskRunner}
PORT=${PORT:-5199}
SOCKETS=${SOCKETS:-100000}
USERS=${USERS:-50}
PER_CLIENT=${PER_CLIENT:-15000}
CONCURRENCY=${CONCURRENCY:-100}
HOLD_SECONDS=${HOLD_SECONDS:-20}
TIMEOUT=${TIMEOUT:-600}
BASE_URL=http://127.0.0.1:$PORT
INSTANCE=ws-idle-bench
WORK=$(mktemp -d)

log() { printf '[ws-idle-bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }
# shellcheck source=lib/bench-service.sh
source "$ROOT/load/lib/bench-service.sh"

[[ -x $BINARY ]] || die "no AOT binary at $BINARY (run: make publish)"
for tool in jq curl node timeout; do command -v "$tool" >/dev/null || die "$tool is required"; done
[[ -d $ROOT/load/node_modules/ws ]] || die "run: (cd load && npm ci)"
for number in "$SOCKETS" "$USERS" "$PER_CLIENT" "$CONCURRENCY" "$HOLD_SECONDS" "$TIMEOUT"; do
    [[ $number =~ ^[1-9][0-9]*$ ]] || die "SOCKETS, USERS, PER_CLIENT, CONCURRENCY, HOLD_SECONDS and TIMEOUT are positive numbers"
done
(( PER_CLIENT <= 25000 )) || die "PER_CLIENT must stay under the ≈ 28,000 ephemeral ports of one source address"
! curl -s -o /dev/null --max-time 2 "$BASE_URL/" || die "something already listens on $BASE_URL (set PORT)"

ulimit -n "$(ulimit -Hn)"
files=$(ulimit -n)
(( PER_CLIENT + 100 <= files )) || die "PER_CLIENT must stay under the open-files limit ($files)"
requested=$SOCKETS
if (( SOCKETS > files - 1000 )); then
    SOCKETS=$((files - 1000))
    log "this box allows $files open files per process (hard limit; raising it needs CAP_SYS_RESOURCE): measuring $SOCKETS sockets, not $requested"
fi

service_pid=
client_pids=()
cleanup() {
    set +e # a failing kill or wait must not skip stopping PostgreSQL
    for pid in "${client_pids[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${client_pids[@]}"; do wait "$pid" 2>/dev/null; done
    bench_stop "$INSTANCE"
}
trap cleanup EXIT

log "private PostgreSQL, a fresh database, migrations"
bench_database "$INSTANCE" taskrunner_ws_idle

log "service on $BASE_URL"
bench_start_service RateLimiting__Enabled=false RealTime__MaxSocketsPerUser=1000000

# One registration (its password hash is the costly part), copied into the other accounts, each then logged in once.
bench_register bench-1@example.test
"$ROOT/scripts/pg.sh" -i "$INSTANCE" psql -qtAX -d taskrunner_ws_idle -c "
    INSERT INTO users (id, email, display_name, password_hash)
    SELECT gen_random_uuid(), 'bench-' || i || '@example.test', 'Bench ' || i, u.password_hash
    FROM users u, generate_series(2, $USERS) AS i WHERE u.email = 'bench-1@example.test'" >/dev/null
for i in $(seq "$USERS"); do
    curl -sf -H 'Content-Type: application/json' -d "{\"email\":\"bench-$i@example.test\",\"password\":\"$BENCH_PASSWORD\"}" \
        "$BASE_URL/api/v1/auth/login" | jq -r .access_token
done >"$WORK/tokens"
[[ $(grep -c . "$WORK/tokens") == "$USERS" ]] || die "not every account could log in"

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$service_pid/status"; }
open_sockets() { curl -sf "$BASE_URL/metrics" | awk '$1 ~ /^taskrunner_realtime_sockets({|$)/ { print $2 }'; }
sleep 2 # the service settles after the logins before its baseline
rss_before=$(rss_kb)
log "RSS before: $((rss_before / 1024)) MiB; opening $SOCKETS sockets, $PER_CLIENT per client and source address"

clients=$(( (SOCKETS + PER_CLIENT - 1) / PER_CLIENT ))
started=$(date +%s.%N)
for client in $(seq 0 $((clients - 1))); do
    count=$(( client == clients - 1 ? SOCKETS - client * PER_CLIENT : PER_CLIENT ))
    node "$ROOT/load/ws-idle.mjs" "ws://127.0.0.1:$PORT/api/v1/ws" "$WORK/tokens" "$count" "127.0.0.$((client + 2))" \
        "$CONCURRENCY" $((TIMEOUT + HOLD_SECONDS + 60)) >"$WORK/client-$client.out" 2>"$WORK/client-$client.err" &
    client_pids+=($!)
done

opened=0 failed=0
for client in $(seq 0 $((clients - 1))); do
    for _ in $(seq $((TIMEOUT * 10))); do
        [[ -s $WORK/client-$client.out ]] && break
        kill -0 "${client_pids[$client]}" 2>/dev/null || die "client $client stopped: $(cat "$WORK/client-$client.err")"
        sleep 0.1
    done
    [[ -s $WORK/client-$client.out ]] || die "client $client did not finish opening within $TIMEOUT s"
    line=$(head -1 "$WORK/client-$client.out")
    opened=$((opened + $(jq .opened <<<"$line")))
    failed=$((failed + $(jq .failed <<<"$line")))
    [[ $(jq -r .first_error <<<"$line") == null ]] || log "client $client: $(jq -r .first_error <<<"$line")"
done
open_seconds=$(echo "$(date +%s.%N) - $started" | bc)
# The server counts a socket once its upgrade has completed, a moment after the client saw it open.
for _ in $(seq 100); do [[ $(open_sockets) == "$opened" ]] && break; sleep 0.1; done
server_open=$(open_sockets)
rss_after=$(rss_kb)
log "holding them $HOLD_SECONDS s"
sleep "$HOLD_SECONDS"
server_open_held=$(open_sockets)
rss_held=$(rss_kb)

for pid in "${client_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
closed_by_server=0
for client in $(seq 0 $((clients - 1))); do
    wait "${client_pids[$client]}" 2>/dev/null || true
    closed_by_server=$((closed_by_server + $(sed -n 2p "$WORK/client-$client.out" | jq '.closed_by_server // 0')))
done
client_pids=()

per_socket_after=$(( (rss_after - rss_before) * 1024 / (opened > 0 ? opened : 1) ))
per_socket_held=$(( (rss_held - rss_before) * 1024 / (opened > 0 ? opened : 1) ))
printf 'idle sockets: %d of %d opened (%d failed) in %.1f s from %d source addresses; the server counted %s open, %s after %d s held; %d closed by the server while held\n' \
    "$opened" "$SOCKETS" "$failed" "$open_seconds" "$clients" "$server_open" "$server_open_held" "$HOLD_SECONDS" "$closed_by_server"
printf 'service RSS: %d MiB before, %d MiB after opening, %d MiB after holding: %d bytes per socket (%d after holding)\n' \
    $((rss_before / 1024)) $((rss_after / 1024)) $((rss_held / 1024)) "$per_socket_after" "$per_socket_held"
if (( requested != SOCKETS )); then
    printf 'extrapolated to %d sockets at the held figure: %d MiB above the baseline (%d MiB in all)\n' \
        "$requested" $((per_socket_held * requested / 1024 / 1024)) $((per_socket_held * requested / 1024 / 1024 + rss_before / 1024))
fi
printf 'load average %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
