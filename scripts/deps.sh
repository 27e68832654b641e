#!/usr/bin/env bash
# Installs the Debian packages pinegate builds and tests with. Idempotent: when every
# package is present it only runs dpkg-query (well under a second) and touches nothing.
set -euo pipefail

pkgs=(
  build-essential pkg-config clang libclang-rt-14-dev
  libmicrohttpd-dev libcurl4-openssl-dev libssl-dev openssl
  libgnutls28-dev libngtcp2-dev libngtcp2-crypto-gnutls-dev
  libsodium-dev libsqlite3-dev sqlite3 libjansson-dev libyaml-dev
  libwslay-dev libhttp-parser-dev libcriterion-dev
  curl ca-certificates iproute2
)

missing=()
for p in "${pkgs[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

# The client scenarios run matrix-js-sdk under Node.js; the machine's Node.js (>= 20,
# which matrix-js-sdk 37.5 needs) is used when present, otherwise the distribution's.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi

if ((${#missing[@]} > 0)); then
  echo "deps: installing ${missing[*]}"
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm packages go into tests/js/node_modules, exactly as package-lock.json pins them;
# reinstalled only when the lock file changed (the stamp holds its checksum).
js=$(dirname "$0")/../tests/js
stamp="$js/node_modules/.pinegate-lock-sum"
sum=$(sha256sum "$js/package-lock.json" | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$sum" ]]; then
  node_major=$(node -p 'process.versions.node.split(".")[0]')
  if ((node_major < 20)); then
    echo "deps: Node.js $(node --version) is too old for matrix-js-sdk; need >= 20" >&2
    exit 1
  fi
  echo "deps: installing npm packages into tests/js/node_modules"
  (cd "$js" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$sum" > "$stamp"
fi
