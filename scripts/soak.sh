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

# Chat load: one user sends messages and follows them with incremental /sync, as a client
# does; bounded by SOAK_MESSAGES and SOAK_SECONDS. Every message must come back exactly once.
messages=${SOAK_MESSAGES:-20000}
api="http://127.0.0.1:$port/_matrix/client/v3"
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
token=$(curl -sf -XPOST "$api/register" -d '{"username":"soak","password":"soak-pw","auth":{"type":"m.login.dummy"}}' | field access_token)
auth=(-H "Authorization: Bearer $token")
room=$(curl -sf "${auth[@]}" -XPOST "$api/createRoom" -d '{"preset":"private_chat"}' | field room_id)
room_enc=${room//!/%21}; room_enc=${room_enc//:/%3A}
since=$(curl -sf "${auth[@]}" "$api/sync?timeout=0" | field next_batch)
rss_before=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
start=$(date +%s)
sent=0 seen=0
while (( sent < messages && $(date +%s) - start < seconds )); do
  # 100 sends on one keep-alive connection, then one sync that must return all 100
  # (--next: each request has its own method and body; the connection is reused)
  reqs=()
  for i in $(seq 100); do
    (( i > 1 )) && reqs+=(--next)
    reqs+=(-sf "${auth[@]}" -XPUT -d "{\"msgtype\":\"m.text\",\"body\":\"soak $((sent + i))\"}"
           "$api/rooms/$room_enc/send/m.room.message/t$((sent + i))")
  done
  curl "${reqs[@]}" > /dev/null
  sent=$((sent + 100))
  reply=$(curl -sf "${auth[@]}" "$api/sync?timeout=0&since=$since&filter=%7B%22room%22%3A%7B%22timeline%22%3A%7B%22limit%22%3A200%7D%7D%7D")
  got=$(grep -o '"body":"soak [0-9]*"' <<< "$reply" | wc -l)
  seen=$((seen + got))
  since=$(field next_batch <<< "$reply")
done
elapsed=$(( $(date +%s) - start ))
rss_after=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
echo "soak: $sent messages sent and $seen seen through /sync in ${elapsed}s; RSS ${rss_before} kB -> ${rss_after} kB"
if (( seen != sent )); then echo "soak: /sync returned $seen of $sent messages" >&2; exit 1; fi
curl -sf "http://127.0.0.1:$port/health" >/dev/null
