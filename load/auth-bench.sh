#!/usr/bin/env bash
# Authentication overhead, measured in one run against a running service (127.0.0.1 only):
#   anonymous GET /health/live, GET /api/v1/users/me with an API key, the same with a JWT, and the login latency.
# It creates a throwaway account through the API (registration must be open), so point it at a development database.
# Usage: BASE_URL=http://127.0.0.1:8080 DURATION=10s load/auth-bench.sh
set -euo pipefail

BASE_URL=${BASE_URL:-http://127.0.0.1:8080}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
case $BASE_URL in
    http://127.0.0.1:* | http://localhost:*) ;;
    *) echo "auth-bench: BASE_URL must be a loopback http URL, got $BASE_URL" >&2; exit 2 ;;
esac
command -v wrk >/dev/null || { echo "auth-bench: wrk is required (apt-get install wrk)" >&2; exit 2; }
command -v jq >/dev/null || { echo "auth-bench: jq is required (apt-get install jq)" >&2; exit 2; }

email="bench-$(date +%s%N)@example.test"
password="benchmark password 123"
curl -sf -o /dev/null -H 'Content-Type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"$password\",\"display_name\":\"Bench\"}" "$BASE_URL/api/v1/auth/register"

login() { curl -sf -H 'Content-Type: application/json' -d "{\"email\":\"$email\",\"password\":\"$password\"}" "$BASE_URL/api/v1/auth/login"; }

# Login latency: sequential, so each figure is one full PBKDF2 verification plus the session writes.
login_ms=()
for _ in 1 2 3 4 5 6 7 8 9 10; do
    start=$(date +%s%N)
    login >/dev/null
    login_ms+=($(( ($(date +%s%N) - start) / 1000000 )))
done
token=$(login | jq -r .access_token)
key=$(curl -sf -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
    -d '{"name":"bench"}' "$BASE_URL/api/v1/auth/api-keys" | jq -r .key)

run() { # <label> <path> [header]
    local label=$1 path=$2 header=${3:-}
    local args=(-t1 -c"$CONNECTIONS" -d"$DURATION" --latency)
    [[ -n $header ]] && args+=(-H "$header")
    wrk "${args[@]}" "$BASE_URL$path" >/dev/null # warm-up, discarded
    local out rps p50 p99
    out=$(wrk "${args[@]}" "$BASE_URL$path")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    printf '| %s | %s | %s | %s |\n' "$label" "$rps" "$p50" "$p99"
}

printf '| request | req/s | p50 | p99 |\n|---|---|---|---|\n'
run "GET /health/live (anonymous, no database)" /health/live
run "GET /health/ready (anonymous, one database read)" /health/ready
run "GET /api/v1/users/me (API key)" /api/v1/users/me "X-API-Key: $key"
run "GET /api/v1/users/me (JWT)" /api/v1/users/me "Authorization: Bearer $token"
sorted=$(printf '%s\n' "${login_ms[@]}" | sort -n | tr '\n' ' ')
printf '\nlogin latency over 10 sequential logins (ms, sorted): %s\n' "$sorted"
