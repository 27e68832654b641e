#!/usr/bin/env bash
# `make run`: serve ./data, creating a development config, signing key, self-signed TLS
# certificate (and, on first serve, the database) when ./data/config.yaml is missing.
set -euo pipefail
bin=$1
data=${PINEGATE_DATA:-./data}
if [[ ! -f "$data/config.yaml" ]]; then
  "$bin" generate-config --dev --data-dir "$data"
fi
exec "$bin" serve --config "$data/config.yaml"
