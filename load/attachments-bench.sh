#!/usr/bin/env bash
# Attachments benchmark (issue 17), all on this machine, loopback only, file-system storage in a temporary folder:
#   1. one SIZE_MB upload and download (random bytes): MB/s, and the service's RSS sampled every 100 ms (growth must stay
#      under 20 MB: the body is streamed, never buffered); against `dd` writing the same file to the same disk with fsync.
#   2. CONCURRENT uploads of 100 KB at once (distinct contents): p50/p99 latency.
#   3. THUMBNAILS JPEGs of 12 MP, one after another: from the upload's answer to the thumbnail's 200 (polled every 10 ms),
#      p50/p99 — what a client waits, the render being most of it.
#
# Usage (starts its own PostgreSQL instance "attbench" and the AOT binary, stops both at the end):
#   make publish && load/attachments-bench.sh
# Environment: BINARY (artifacts/aot/TaskRunner), PORT (5195), SIZE_MB (1024), CONCURRENT (200), THUMBNAILS (20).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BINARY=${BINARY:-$ROOT/artifacts/aot/TaskRunner}
PORT=${PORT:-5195}
SIZE_MB=${SIZE_MB:-1024}
CONCURRENT=${CONCURRENT:-200}
THUMBNAILS=${THUMBNAILS:-20}
BASE_URL=http://127.0.0.1:$PORT
INSTANCE=attbench
WORK=$(mktemp -d "${TMPDIR:-/tmp}/attachments-bench.XXXXXX")

log() { printf '[attachments-bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }
# shellcheck source=lib/bench-service.sh
source "$ROOT/load/lib/bench-service.sh"

[[ -x $BINARY ]] || die "no AOT binary at $BINARY (run: make publish)"
for tool in jq curl node dd; do command -v "$tool" >/dev/null || die "$tool is required"; done

service_pid= sampler_pid=
cleanup() {
    [[ -n $sampler_pid ]] && kill "$sampler_pid" 2>/dev/null
    [[ -n $service_pid ]] && kill "$service_pid" 2>/dev/null && wait "$service_pid" 2>/dev/null
    "$ROOT/scripts/pg.sh" stop "$INSTANCE" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

log "private PostgreSQL, a fresh database, migrations"
"$ROOT/scripts/pg.sh" start "$INSTANCE" >&2
"$ROOT/scripts/pg.sh" -i "$INSTANCE" psql -qtAX -c 'DROP DATABASE IF EXISTS taskrunner_attbench WITH (FORCE)' \
    -c 'CREATE DATABASE taskrunner_attbench' >/dev/null
DB=$("$ROOT/scripts/pg.sh" connstr taskrunner_attbench "$INSTANCE")
dotnet run --project "$ROOT/migrations/TaskRunner.Migrations.csproj" -c Release -- up --Database:ConnectionString="$DB" >/dev/null

log "a 12 MP JPEG (load/lib/photo.cs)"
dotnet run --file "$ROOT/load/lib/photo.cs" -- "$WORK/photo.jpg" 4000 3000 >/dev/null

log "service (AOT) with attachments in $WORK/store"
bench_start_service Attachments__FileSystemPath="$WORK/store" Attachments__MaxSizeBytes=$((SIZE_MB * 1024 * 1024 + 1)) \
    Attachments__ProjectQuotaBytes=$((64 * 1024 * 1024 * 1024)) RateLimiting__Api__PermitLimit=1000000 RateLimiting__Search__PermitLimit=1000000 RateLimiting__Bulk__PermitLimit=1000000 RateLimiting__Worker__PermitLimit=1000000 RateLimiting__Auth__PermitLimit=1000000 \
    Attachments__AllowedTypes=application/octet-stream,image/jpeg,text/plain
bench_register bench@attachments.test
KEY=$(bench_api_key bench@attachments.test)
PROJECT=$(bench_project "$KEY" attachments-bench)
TASK=$(curl -sf -H "X-API-Key: $KEY" -H 'Content-Type: application/json' -d "{\"project_id\":\"$PROJECT\",\"title\":\"bench\"}" \
    "$BASE_URL/api/v1/tasks" | jq -r .id)

rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$service_pid/status"; }
# sample_rss FILE: appends the service's RSS (KB) every 100 ms until killed.
sample_rss() { while :; do rss_kb >>"$1"; sleep 0.1; done; }
peak() { sort -n "$1" | tail -n 1; }
seconds_since() { echo "scale=3; ($(date +%s%N) - $1) / 1000000000" | bc; }

log "1. $SIZE_MB MiB of random bytes; dd to the same disk first"
head -c $((SIZE_MB * 1024 * 1024)) /dev/urandom >"$WORK/big.bin"
sync
start=$(date +%s%N)
dd if="$WORK/big.bin" of="$WORK/dd.out" bs=1M conv=fsync status=none
dd_seconds=$(seconds_since "$start")
rm -f "$WORK/dd.out"
idle_rss=$(rss_kb)
sample_rss "$WORK/upload.rss" & sampler_pid=$!
start=$(date +%s%N)
attachment=$(curl -sf -H "X-API-Key: $KEY" -F "file=@$WORK/big.bin;type=application/octet-stream" \
    "$BASE_URL/api/v1/tasks/$TASK/attachments" | jq -r .id)
upload_seconds=$(seconds_since "$start")
kill "$sampler_pid"; wait "$sampler_pid" 2>/dev/null || true
sample_rss "$WORK/download.rss" & sampler_pid=$!
start=$(date +%s%N)
curl -sf -H "X-API-Key: $KEY" -o /dev/null "$BASE_URL/api/v1/attachments/$attachment/download"
download_seconds=$(seconds_since "$start")
kill "$sampler_pid"; wait "$sampler_pid" 2>/dev/null || true
sampler_pid=
rm -f "$WORK/big.bin"
printf 'transfer %s MiB: dd (fsync) %.0f MB/s | upload %.0f MB/s | download %.0f MB/s\n' "$SIZE_MB" \
    "$(echo "$SIZE_MB * 1.048576 / $dd_seconds" | bc -l)" "$(echo "$SIZE_MB * 1.048576 / $upload_seconds" | bc -l)" \
    "$(echo "$SIZE_MB * 1.048576 / $download_seconds" | bc -l)"
printf 'rss: idle %d MB | peak during upload %d MB (+%d) | peak during download %d MB (+%d)\n' \
    $((idle_rss / 1024)) $(($(peak "$WORK/upload.rss") / 1024)) $((($(peak "$WORK/upload.rss") - idle_rss) / 1024)) \
    $(($(peak "$WORK/download.rss") / 1024)) $((($(peak "$WORK/download.rss") - idle_rss) / 1024))

log "2. $CONCURRENT concurrent uploads of 100 KB; 3. $THUMBNAILS thumbnails of a 12 MP JPEG"
cat >"$WORK/bench.mjs" <<'JS'
// Node 20: fetch, FormData and Blob are global.
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
const [base, key, task, concurrent, thumbnails, photo] = process.argv.slice(2);
const headers = { "X-API-Key": key };
const pct = (values, p) => { const s = [...values].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(p / 100 * s.length) - 1)]; };
async function upload(bytes, name, type) {
  const form = new FormData();
  form.append("file", new Blob([bytes], { type }), name);
  const response = await fetch(`${base}/api/v1/tasks/${task}/attachments`, { method: "POST", headers, body: form });
  if (response.status !== 201) throw new Error(`upload ${response.status}: ${await response.text()}`);
  return (await response.json()).id;
}
const small = Array.from({ length: Number(concurrent) }, () => Buffer.from(randomBytes(75 * 1024).toString("base64").slice(0, 100 * 1024)));
const latencies = await Promise.all(small.map(async (bytes, i) => {
  const started = performance.now();
  await upload(bytes, `small-${i}.txt`, "text/plain");
  return performance.now() - started;
}));
console.log(`concurrent ${concurrent} x 100 KB uploads: p50 ${pct(latencies, 50).toFixed(0)} ms, p99 ${pct(latencies, 99).toFixed(0)} ms, max ${Math.max(...latencies).toFixed(0)} ms`);
const jpeg = readFileSync(photo);
const waits = [];
for (let i = 0; i < Number(thumbnails); i++) {
  const id = await upload(jpeg, `photo-${i}.jpg`, "image/jpeg");
  const started = performance.now();
  for (;;) {
    const response = await fetch(`${base}/api/v1/attachments/${id}/thumbnail`, { headers });
    const body = await response.arrayBuffer();
    if (response.status === 200) break;
    if (!new TextDecoder().decode(body).includes("still being made")) throw new Error(`thumbnail ${response.status}`);
    await new Promise(resolve => setTimeout(resolve, 10));
  }
  waits.push(performance.now() - started);
}
console.log(`thumbnail of a 12 MP JPEG (${(jpeg.length / 1048576).toFixed(1)} MiB), upload answered → thumbnail served: p50 ${pct(waits, 50).toFixed(0)} ms, p99 ${pct(waits, 99).toFixed(0)} ms (n=${waits.length})`);
JS
node "$WORK/bench.mjs" "$BASE_URL" "$KEY" "$TASK" "$CONCURRENT" "$THUMBNAILS" "$WORK/photo.jpg"
printf 'rss after all: %d MB\n' $(($(rss_kb) / 1024))
