#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (seconds per target, default 120) and prints the
# executions of each. Seeds and kept crashes come from tests/fuzz_regressions/<target>/; a new
# crashing input is copied there (replayed by `cargo test --test fuzz_regressions` from then
# on) and the script fails. Needs cargo-fuzz (`cargo install cargo-fuzz`); on the stable
# toolchain RUSTC_BOOTSTRAP=1 lets it pass its -Z flags.
set -uo pipefail
cd "$(dirname "$0")"
SECS="${1:-120}"
TARGETS="${TARGETS:-payload_codec export_reader auth_template json_bodies}"
export RUSTC_BOOTSTRAP=1
cargo fuzz build -s none --release || exit 2
status=0
total=0
for target in $TARGETS; do
  mkdir -p "corpus/$target" "artifacts/$target"
  mkdir -p logs
  log="logs/$target.log"
  cargo fuzz run -s none --release "$target" "corpus/$target" "../tests/fuzz_regressions/$target" -- \
    -max_total_time="$SECS" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 \
    > "$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  echo "$target: ${runs:-?} executions in ${SECS} s (exit $rc)"
  total=$((total + ${runs:-0}))
  if [ "$rc" -ne 0 ]; then
    status=1
    for crash in artifacts/"$target"/crash-* artifacts/"$target"/timeout-* artifacts/"$target"/oom-*; do
      [ -e "$crash" ] || continue
      cp "$crash" "../tests/fuzz_regressions/$target/"
      echo "  kept $(basename "$crash") in tests/fuzz_regressions/$target/"
    done
    tail -n 30 "$log"
  fi
done
echo "total: $total executions"
exit "$status"
