# Shared by the load scripts that run the AOT binary themselves: start it with benchmark settings, and make a caller.
# Source it after defining BINARY, BASE_URL, DB, WORK and die(); bench_start_service sets service_pid (stop it in the
# script's cleanup trap).

# bench_start_service [Setting__Name=value ...]: starts $BINARY on $BASE_URL against $DB with fresh signing keys, no
# drain delay and warnings-only logs (webhook secrets sealed as in production), plus the given settings (a later one wins); returns once /health/ready is 200.
# BENCH_SEALED_SECRETS=0 leaves webhook secrets unsealed, to measure what sealing costs.
bench_start_service() {
    local key sealing=()
    key=$(head -c 32 /dev/urandom | base64)
    [[ ${BENCH_SEALED_SECRETS:-1} == 0 ]] || sealing=(Webhooks__SecretEncryptionKeys__bench="$key" Webhooks__SecretEncryptionKeyId=bench)
    env Database__ConnectionString="$DB" Urls="$BASE_URL" Auth__JwtSigningKeys__bench="$key" Auth__JwtActiveKeyId=bench \
        Cursors__SigningKey="$key" "${sealing[@]}" Shutdown__DrainDelaySeconds=0 Logging__LogLevel__Default=Warning "$@" \
        "$BINARY" >"$WORK/service.log" 2>&1 &
    service_pid=$!
    for _ in $(seq 100); do
        curl -sf "$BASE_URL/health/ready" >/dev/null && return 0
        sleep 0.1
    done
    cat "$WORK/service.log" >&2
    die "service did not become ready"
}

readonly BENCH_PASSWORD="benchmark password 123"

# bench_register EMAIL: an account (registered users are members; an existing one is left as it is).
bench_register() {
    curl -s -o /dev/null -H 'Content-Type: application/json' \
        -d "{\"email\":\"$1\",\"password\":\"$BENCH_PASSWORD\",\"display_name\":\"Bench\"}" "$BASE_URL/api/v1/auth/register"
}

# bench_api_key EMAIL: logs the registered account in and prints a new API key of it.
bench_api_key() {
    local token
    token=$(curl -sf -H 'Content-Type: application/json' -d "{\"email\":\"$1\",\"password\":\"$BENCH_PASSWORD\"}" \
        "$BASE_URL/api/v1/auth/login" | jq -r .access_token)
    curl -sf -H 'Content-Type: application/json' -H "Authorization: Bearer $token" -d '{"name":"bench"}' \
        "$BASE_URL/api/v1/auth/api-keys" | jq -r .key
}

# bench_project API_KEY NAME: creates a project and prints its id.
bench_project() {
    local id
    id=$(curl -sf -H "X-API-Key: $1" -H 'Content-Type: application/json' -d "{\"name\":\"$2\"}" "$BASE_URL/api/v1/projects" | jq -r .id)
    [[ $id =~ ^[0-9a-f-]{36}$ ]] || die "could not create the benchmark project"
    printf '%s\n' "$id"
}

# bench_database INSTANCE DATABASE: starts the private PostgreSQL INSTANCE (scripts/pg.sh), creates DATABASE afresh,
# migrates it and sets DB to its connection string.
bench_database() {
    "$ROOT/scripts/pg.sh" start "$1" >&2
    "$ROOT/scripts/pg.sh" -i "$1" psql -qtAX -c "DROP DATABASE IF EXISTS $2 WITH (FORCE)" -c "CREATE DATABASE $2" >/dev/null
    DB="$("$ROOT/scripts/pg.sh" connstr "$2" "$1");Max Auto Prepare=50"
    timeout 300 dotnet run --project "$ROOT/migrations/TaskRunner.Migrations.csproj" -c Release -- up --Database:ConnectionString="$DB" >/dev/null
}

# bench_stop INSTANCE: the cleanup of a script that started the service and PostgreSQL INSTANCE; every step runs even when
# the one before it failed (the wait of a service that already exited does).
bench_stop() {
    set +e
    if [[ -n ${service_pid:-} ]]; then kill "$service_pid" 2>/dev/null; wait "$service_pid" 2>/dev/null; fi
    "$ROOT/scripts/pg.sh" stop "$1" >/dev/null 2>&1
    rm -rf "$WORK"
}

# bench_seeded_database: for the scripts that measure the 1M-task seed (make seed-1m) in INSTANCE/DATABASE: starts the
# instance if it is down, defines psql_db (psql on DATABASE), refuses a database that holds no tasks, sets DB, and stops
# the service (and removes WORK) when the script exits.
bench_seeded_database() {
    "$ROOT/scripts/pg.sh" status "$INSTANCE" >/dev/null 2>&1 || "$ROOT/scripts/pg.sh" start "$INSTANCE" >&2
    psql_db() { "$ROOT/scripts/pg.sh" -i "$INSTANCE" psql -d "$DATABASE" -qtAX "$@"; }
    [[ $(psql_db -c "SELECT EXISTS (SELECT FROM tasks)" 2>/dev/null) == t ]] \
        || die "no seeded database $DATABASE on $INSTANCE (run: make seed-1m)"
    DB=$("$ROOT/scripts/pg.sh" connstr "$DATABASE" "$INSTANCE")
    service_pid=
    trap 'bench_stop_service' EXIT
}

# bench_stop_service: stops the service this script started and removes WORK (PostgreSQL stays up).
bench_stop_service() {
    if [[ -n ${service_pid:-} ]]; then kill "$service_pid" 2>/dev/null; wait "$service_pid" 2>/dev/null; fi
    rm -rf "$WORK"
}
