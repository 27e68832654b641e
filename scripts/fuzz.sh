#!/usr/bin/env bash
# Runs each libFuzzer binary for SECONDS on its corpus (tests/fuzz/corpus/<name>, seeded
# from the committed seeds; new inputs go to build/ so the tree stays clean). FUZZ_SEED
# fixes libFuzzer's random seed (make test does, so CI explores the same inputs each run;
# make fuzz leaves it random to explore new ones).
set -euo pipefail
secs=$1; shift
for bin in "$@"; do
  name=$(basename "$bin")
  work="build/fuzz/corpus/$name"
  mkdir -p "$work"
  seeds="tests/fuzz/corpus/$name"
  [[ -d "$seeds" ]] && cp -n "$seeds"/* "$work"/ 2>/dev/null || true
  echo "fuzz: $name for ${secs}s"
  seed_arg=()
  [[ -n "${FUZZ_SEED:-}" ]] && seed_arg=(-seed="$FUZZ_SEED")
  "$bin" "${seed_arg[@]}" -max_total_time="$secs" -print_final_stats=0 -max_len=70000 \
         -artifact_prefix="build/fuzz/$name-" "$work" 2>&1 | tail -n 3
done
