#!/usr/bin/env bash
# The whole suite, as `make test` and CI run it:
#   1. a private PostgreSQL, Redis and S3-compatible server (instance "test"), 2. the dashboard and the build, 3. unit + integration tests in-process,
#   4. AOT publish (a trim/AOT warning fails it), 5. the HTTP tests again, black-box, against the AOT binary,
#   6. stop what we started, 7. one closing line "N passed, N failed[, N skipped]"; non-zero exit on any failure.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
RESULTS="$ROOT/artifacts/test-results"
AOT_DIR="$ROOT/artifacts/aot"
CONFIGURATION=Release
# The dashboard's browser tests: a project of their own (Playwright needs reflection-based JSON, see its csproj).
DASHBOARD_TESTS=web/e2e/TaskRunner.Dashboard.Tests.csproj
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

passed=0
failed=0
skipped=0
step_failures=()
failed_tests=()

log() { printf '\n==> %s\n' "$*"; }

# A step that is not a test (build, publish) counts as one failed test when it fails, so CI's line shows it.
fail_step() {
    failed=$((failed + 1))
    step_failures+=("$1")
    printf 'FAILED STEP: %s\n' "$1"
}

# Each failed test's name and the first lines of its message: CI keeps only the tail of the output, so a flaky failure is
# diagnosable from there alone.
failed_with_reasons() { # <trx file>
    python3 - "$1" <<'PY'
import sys
import xml.etree.ElementTree as tree
namespace = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
for result in tree.parse(sys.argv[1]).getroot().iterfind(".//t:UnitTestResult[@outcome='Failed']", namespace):
    message = result.findtext("t:Output/t:ErrorInfo/t:Message", "", namespace).strip().splitlines()
    print(result.get("testName") + "".join("\n      " + line[:300] for line in message[:4]), end="\0")
PY
}

count_results() { # <trx file> <label>
    local trx=$1 label=$2 counters total run_passed run_failed
    if [[ ! -f $trx ]]; then
        fail_step "$label: no test results (the test host crashed or never ran)"
        return
    fi
    counters=$(grep -o '<Counters [^>]*' "$trx" | head -n1)
    total=$(sed -E 's/.* total="([0-9]+)".*/\1/' <<<"$counters")
    run_passed=$(sed -E 's/.* passed="([0-9]+)".*/\1/' <<<"$counters")
    run_failed=$(sed -E 's/.* failed="([0-9]+)".*/\1/' <<<"$counters")
    passed=$((passed + run_passed))
    failed=$((failed + run_failed))
    skipped=$((skipped + total - run_passed - run_failed))
    printf '%s: %s passed, %s failed of %s\n' "$label" "$run_passed" "$run_failed" "$total"
    local name
    while IFS= read -r -d '' name; do
        [[ -n $name ]] && failed_tests+=("$label: $name")
    done < <(failed_with_reasons "$trx")
}

cleanup() {
    "$ROOT/scripts/pg.sh" stop test >/dev/null 2>&1 || true
    "$ROOT/scripts/redis.sh" stop test >/dev/null 2>&1 || true
    "$ROOT/scripts/s3.sh" stop test >/dev/null 2>&1 || true
    dotnet build-server shutdown >/dev/null 2>&1 || true
}

finish() {
    cleanup
    if ((${#step_failures[@]} > 0)); then
        printf '\nfailed steps:\n'
        printf '  - %s\n' "${step_failures[@]}"
    fi
    # CI shows only the tail of this output, so the names of failed tests are repeated here, next to the closing line.
    if ((${#failed_tests[@]} > 0)); then
        printf '\nfailed tests:\n'
        printf '  - %s\n' "${failed_tests[@]}"
    fi
    local line="$passed passed, $failed failed"
    ((skipped > 0)) && line+=", $skipped skipped"
    printf '\n%s\n' "$line"
    ((failed == 0)) && exit 0 || exit 1
}
trap finish EXIT
trap 'exit 130' INT TERM

started=$(date +%s)
rm -rf "$RESULTS"
mkdir -p "$RESULTS"

log "private PostgreSQL"
if ! "$ROOT/scripts/pg.sh" start test; then
    fail_step "start PostgreSQL"
    exit 1
fi
TASKRUNNER_TEST_PG="$("$ROOT/scripts/pg.sh" connstr postgres test)"
export TASKRUNNER_TEST_PG

log "private Redis (distributed rate limits)"
if ! "$ROOT/scripts/redis.sh" start test; then
    fail_step "start Redis"
    exit 1
fi
TASKRUNNER_TEST_REDIS="$("$ROOT/scripts/redis.sh" url test)"
export TASKRUNNER_TEST_REDIS

log "private S3-compatible server (attachment storage)"
if ! "$ROOT/scripts/s3.sh" start test; then
    fail_step "start s3rver"
    exit 1
fi
TASKRUNNER_TEST_S3="$("$ROOT/scripts/s3.sh" url test)"
export TASKRUNNER_TEST_S3

log "dashboard (web/)"
if ! "$ROOT/scripts/web.sh"; then
    fail_step "build the dashboard"
    exit 1
fi

log "Chromium for the dashboard's end-to-end tests"
if ! TASKRUNNER_TEST_CHROMIUM="$("$ROOT/scripts/chromium.sh")"; then
    fail_step "install Chromium"
    exit 1
fi
export TASKRUNNER_TEST_CHROMIUM

log "build"
if ! dotnet build tests/TaskRunner.Tests.csproj -c "$CONFIGURATION" -nodeReuse:false --nologo -v quiet \
    || ! dotnet build "$DASHBOARD_TESTS" -c "$CONFIGURATION" -nodeReuse:false --nologo -v quiet; then
    fail_step "build"
    exit 1
fi

log "tests, in-process"
dotnet test tests/TaskRunner.Tests.csproj -c "$CONFIGURATION" --no-build --nologo --filter "Mode!=BlackBox" \
    --logger "trx;LogFileName=in-process.trx" --logger "console;verbosity=minimal" --results-directory "$RESULTS"
count_results "$RESULTS/in-process.trx" "in-process"
dotnet test "$DASHBOARD_TESTS" -c "$CONFIGURATION" --no-build --nologo \
    --logger "trx;LogFileName=dashboard-in-process.trx" --logger "console;verbosity=minimal" --results-directory "$RESULTS"
count_results "$RESULTS/dashboard-in-process.trx" "dashboard, in-process"

log "AOT publish"
publish_started=$(date +%s)
rm -rf "$AOT_DIR"
if dotnet publish TaskRunner.csproj -c "$CONFIGURATION" -r linux-x64 -o "$AOT_DIR" -nodeReuse:false --nologo \
    >"$RESULTS/publish.log" 2>&1; then
    # Trim and AOT analysis warnings are errors in the build, but ILC can still print some: none may pass.
    if grep -E 'warning (IL|AOT|CS)[0-9]+' "$RESULTS/publish.log"; then
        fail_step "AOT publish printed trim/AOT warnings (see $RESULTS/publish.log)"
    fi
else
    tail -n 40 "$RESULTS/publish.log"
    fail_step "AOT publish"
    exit 1
fi
rm -f "$AOT_DIR"/*.dbg
printf 'published in %ss: %s (%s bytes)\n' "$(($(date +%s) - publish_started))" "$AOT_DIR/TaskRunner" "$(stat -c %s "$AOT_DIR/TaskRunner")"

log "tests, black-box against the AOT binary"
TASKRUNNER_TEST_BINARY="$AOT_DIR/TaskRunner" dotnet test tests/TaskRunner.Tests.csproj -c "$CONFIGURATION" --no-build --nologo \
    --filter "Mode!=InProcess" \
    --logger "trx;LogFileName=black-box.trx" --logger "console;verbosity=minimal" --results-directory "$RESULTS"
count_results "$RESULTS/black-box.trx" "black-box"
TASKRUNNER_TEST_BINARY="$AOT_DIR/TaskRunner" dotnet test "$DASHBOARD_TESTS" -c "$CONFIGURATION" --no-build --nologo \
    --logger "trx;LogFileName=dashboard-black-box.trx" --logger "console;verbosity=minimal" --results-directory "$RESULTS"
count_results "$RESULTS/dashboard-black-box.trx" "dashboard, black-box"

printf '\nmake test took %ss\n' "$(($(date +%s) - started))"
