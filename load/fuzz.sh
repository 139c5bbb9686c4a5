#!/usr/bin/env bash
# The OpenAPI-driven fuzz suite (src/Infrastructure/Http/ApiFuzzingTests.cs) with a larger count and a chosen seed.
# It starts a private PostgreSQL ("fuzz") and runs the test in-process, or, with TASKRUNNER_TEST_BINARY set to the
# published AOT binary (make publish: artifacts/aot/TaskRunner), against that binary as a separate process.
# Usage: FUZZ_REQUESTS=100000 FUZZ_SEED=42 load/fuzz.sh
#        FUZZ_SEED=42 FUZZ_CASE=8123 load/fuzz.sh          # replay the one case a failure printed
# Other settings: FUZZ_CONCURRENCY (8), FUZZ_TIMEOUT_SECONDS (60: a request without an answer by then is a hang).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export FUZZ_REQUESTS=${FUZZ_REQUESTS:-100000}
export FUZZ_SEED=${FUZZ_SEED:-$(date +%s)}
export FUZZ_CONCURRENCY=${FUZZ_CONCURRENCY:-8}
export FUZZ_TIMEOUT_SECONDS=${FUZZ_TIMEOUT_SECONDS:-60}
[[ -n ${FUZZ_CASE:-} ]] && export FUZZ_CASE
[[ -n ${TASKRUNNER_TEST_BINARY:-} ]] && export TASKRUNNER_TEST_BINARY
RESULTS="$ROOT/artifacts/fuzz"
mkdir -p "$RESULTS"

started_pg=0
if [[ -z ${TASKRUNNER_TEST_PG:-} ]]; then
    scripts/pg.sh start fuzz >/dev/null
    started_pg=1
    TASKRUNNER_TEST_PG="$(scripts/pg.sh connstr postgres fuzz)"
    export TASKRUNNER_TEST_PG
fi
trap '[[ $started_pg == 1 ]] && scripts/pg.sh stop fuzz >/dev/null 2>&1 || true' EXIT

echo "fuzz: ${FUZZ_CASE:+case $FUZZ_CASE of }$FUZZ_REQUESTS requests, seed $FUZZ_SEED, concurrency $FUZZ_CONCURRENCY, ${TASKRUNNER_TEST_BINARY:-in-process}"
dotnet build tests/TaskRunner.Tests.csproj -c Release -nodeReuse:false --nologo -v quiet
dotnet test tests/TaskRunner.Tests.csproj -c Release --no-build --nologo \
    --filter "FullyQualifiedName~ApiFuzzingTests" \
    --logger "console;verbosity=detailed" --logger "trx;LogFileName=fuzz-$FUZZ_SEED.trx" --results-directory "$RESULTS"
