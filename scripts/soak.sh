#!/usr/bin/env bash
# `make soak`: long, bounded load loops against real processes. Each loop is bounded in
# request count and wall time. Prints figures; fails if the server stops answering.
set -euo pipefail
bin=$1
requests=${SOAK_REQUESTS:-200000}
seconds=${SOAK_SECONDS:-300}
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
port=$((20000 + RANDOM % 20000)); fport=$((port + 1))
"$bin" generate-config --dev --data-dir "$dir" --client-port $port --federation-port $fport >/dev/null
"$bin" serve --config "$dir/config.yaml" > "$dir/log" 2>&1 & pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
rss_before=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
start=$(date +%s)
done_n=0
while (( done_n < requests && $(date +%s) - start < seconds )); do
  # 1000 requests per curl invocation over keep-alive connections
  urls=()
  for _ in $(seq 1000); do urls+=("http://127.0.0.1:$port/_matrix/client/versions"); done
  curl -sf "${urls[@]}" > /dev/null
  done_n=$((done_n + 1000))
done
elapsed=$(( $(date +%s) - start ))
rss_after=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
echo "soak: $done_n requests in ${elapsed}s; RSS ${rss_before} kB -> ${rss_after} kB"
curl -sf "http://127.0.0.1:$port/health" >/dev/null
