-- wrk reporter for load/ops-bench.sh: prints one machine-readable line at the end of a run.
--   wrk -s load/wrk/report.lua ...
-- Latencies are in microseconds; status counts non-2xx/3xx answers.
done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d seconds=%.3f rps=%.1f p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d " ..
    "err_connect=%d err_read=%d err_write=%d err_timeout=%d err_status=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max,
    e.connect, e.read, e.write, e.timeout, e.status))
end
