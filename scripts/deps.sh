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

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "deps: installing ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
