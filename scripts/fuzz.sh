#!/usr/bin/env bash
# Runs every cargo-fuzz target of the mappings (mappings/fuzz) for a fixed time each, starting
# from the corpus kept in the repository (mappings/fuzz/corpus/<target>). A crash fails the run
# and leaves its input in mappings/fuzz/artifacts/<target>/ (docs/fuzzing.md says what next).
#
#   scripts/fuzz.sh [seconds per target, default 20] [target ...]
#
# New inputs libFuzzer finds go to a scratch copy of the corpus, not into the repository;
# `scripts/fuzz.sh --keep 300 duo_ro` merges what a longer run found (cargo fuzz cmin) into the
# kept corpus, to commit deliberately.
#
# The toolchain is the project's stable one: RUSTC_BOOTSTRAP=1 lets it take the -Z flags
# cargo-fuzz passes (sanitizer coverage); no nightly is needed. No sanitizer (`-s none`): the
# targets are safe Rust, and what they look for is panics.
set -euo pipefail
cd "$(dirname "$0")/../mappings/fuzz"

keep=0
if [ "${1:-}" = "--keep" ]; then keep=1; shift; fi
seconds="${1:-20}"
shift || true
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked --quiet cargo-fuzz --version 0.13.1
export RUSTC_BOOTSTRAP=1
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi

cargo fuzz build -s none
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
total_runs=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "$scratch/$t"
  cp -r "corpus/$t/." "$scratch/$t/"
  log="$scratch/$t.log"
  if ! cargo fuzz run -s none "$t" "$scratch/$t" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
      >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz: $t FOUND A CRASH (input in mappings/fuzz/artifacts/$t/)" >&2
    exit 1
  fi
  runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)"
  cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)"
  total_runs=$((total_runs + runs))
  printf 'fuzz: %-18s %9s executions in %ss, coverage %s, corpus %s -> %s inputs, 0 crashes\n' \
    "$t" "$runs" "$seconds" "$cov" "$(ls "corpus/$t" | wc -l)" "$(ls "$scratch/$t" | wc -l)"
  if [ "$keep" -eq 1 ]; then
    cargo fuzz cmin -s none "$t" "$scratch/$t" >/dev/null 2>&1
    rm -rf "corpus/$t" && mkdir -p "corpus/$t" && cp -r "$scratch/$t/." "corpus/$t/"
  fi
done
echo "fuzz: ${#targets[@]} targets, $total_runs executions, 0 crashes"
