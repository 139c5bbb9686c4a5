#!/usr/bin/env bash
# Fault figures (issue 13): runs the fault suites and prints what they measured. The suites assert correctness and run
# small in `make test`; here the chaos suite runs at full size and the figures are collected:
#   database restart under load  downtime, time until every kind of request succeeds again, last failure after the restart
#   SIGTERM under load           signal -> process exit, signal -> last long poll answered, requests in flight at the signal
#   two-node chaos               TASKS tasks through SIGKILL of a follower and of the leader: total time, tasks/s, takeover
# Everything runs on this machine against 127.0.0.1 only; each suite is bounded by TIMEOUT.
#
# Usage (its own PostgreSQL instance "test-fault-bench", stopped at the end; the restart suite starts one more of its own):
#   load/fault-bench.sh                                  the JIT build, as in-process tests run
#   make publish && BINARY=artifacts/aot/TaskRunner load/fault-bench.sh   the AOT binary, black-box
# Environment: TASKS (100000), SUITES (DatabaseRestartTests ShutdownUnderLoadTests TwoNodeChaosTests), BINARY, TIMEOUT (3600 s).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TASKS=${TASKS:-100000}
SUITES=${SUITES:-DatabaseRestartTests ShutdownUnderLoadTests TwoNodeChaosTests}
TIMEOUT=${TIMEOUT:-3600}
INSTANCE=test-fault-bench
WORK=$(mktemp -d)

log() { printf '[fault-bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

cleanup() {
    "$ROOT/scripts/pg.sh" stop "$INSTANCE" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

mode=(env -u TASKRUNNER_TEST_BINARY)
if [[ -n ${BINARY:-} ]]; then
    [[ -x $BINARY ]] || die "no AOT binary at $BINARY (run: make publish)"
    mode=(env TASKRUNNER_TEST_BINARY="$(cd "$(dirname "$BINARY")" && pwd)/$(basename "$BINARY")")
fi

log "private PostgreSQL for the suites' databases"
"$ROOT/scripts/pg.sh" start "$INSTANCE" >&2
server=$("$ROOT/scripts/pg.sh" connstr postgres "$INSTANCE")

log "build"
dotnet build "$ROOT/tests/TaskRunner.Tests.csproj" -c Release -nodeReuse:false -v quiet --nologo >&2

figures=$WORK/figures
for suite in $SUITES; do
    log "$suite${BINARY:+ (black-box)}"
    started=$(date +%s)
    if ! timeout "$TIMEOUT" "${mode[@]}" TASKRUNNER_TEST_PG="$server" TASKRUNNER_FAULT_FIGURES="$figures" TASKRUNNER_CHAOS_TASKS="$TASKS" \
        dotnet test "$ROOT/tests/TaskRunner.Tests.csproj" -c Release --no-build --nologo --filter "FullyQualifiedName~.$suite." \
        --logger "console;verbosity=minimal" >"$WORK/$suite.log" 2>&1; then
        grep -v '^{' "$WORK/$suite.log" | tail -n 40 >&2
        log "$suite FAILED (its figures below are still what it measured)"
    fi
    log "$suite took $(($(date +%s) - started)) s"
done

printf '\n%-40s %s\n' figure value
[[ -f $figures ]] && awk '{ printf "%-40s %s\n", $1, $2 }' "$figures"
printf '\nmachine: %s cores, %s, %s\n' "$(nproc)" "$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)" \
    "$(. /etc/os-release && echo "$PRETTY_NAME")"
