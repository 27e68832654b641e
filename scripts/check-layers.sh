#!/usr/bin/env bash
# Enforces the include arrows of docs/architecture.md: each folder may include only
# the pinegate folders and external libraries listed for it. Prints every violation.
set -uo pipefail
cd "$(dirname "$0")/.."

declare -A allowed_mods=(
  [pinecone]="pinecone"
  [server-core]="server-core"
  [federation-side]="federation-side server-core"
  [p2p-side]="p2p-side server-core pinecone"
  [identity-map]="identity-map server-core"
)
# External headers a folder must not use (its neighbours own those concerns).
declare -A banned_libs=(
  [pinecone]="sqlite3.h microhttpd.h curl/ openssl/ yaml.h"
  [server-core]="curl/ openssl/ ngtcp2/ wslay/ gnutls/gnutls.h gnutls/x509.h gnutls/abstract.h"
  [federation-side]="ngtcp2/ wslay/"
  [p2p-side]="curl/ openssl/"
  [identity-map]="curl/ openssl/ ngtcp2/ wslay/ microhttpd.h sqlite3.h"
)

fail=0
for mod in "${!allowed_mods[@]}"; do
  dir="gateway/$mod"
  [[ -d "$dir" ]] || continue
  while IFS= read -r line; do
    file=${line%%:*}
    inc=$(sed -E 's/.*#[[:space:]]*include[[:space:]]*[<"]([^>"]+)[>"].*/\1/' <<<"${line#*:*:}")
    case "$inc" in
      */*)
        top=${inc%%/*}
        if [[ -d "gateway/$top" ]] && [[ " ${allowed_mods[$mod]} " != *" $top "* ]]; then
          echo "layer violation: $file includes $inc ($mod may include: ${allowed_mods[$mod]})"
          fail=1
        fi ;;
    esac
    for b in ${banned_libs[$mod]}; do
      if [[ "$inc" == "$b"* ]]; then
        echo "layer violation: $file includes $inc ($mod must not use $b)"
        fail=1
      fi
    done
  done < <(grep -Hn -E '^[[:space:]]*#[[:space:]]*include' -r "$dir" --include='*.c' --include='*.h')
done
exit $fail
