#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# run-fuzz.sh FUZZER SEEDS SECONDS ARTIFACTS: runs a libFuzzer target for a bounded time
# on a scratch corpus seeded from SEEDS, in a scratch store that is removed afterwards.
set -euo pipefail
fuzzer=$1 seeds=$2 seconds=$3 artifacts=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/root" "$artifacts"
export KZ_FUZZ_ROOT="$work/root"
set +e
"$fuzzer" -max_total_time="$seconds" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 "$work/corpus" "$seeds" >"$work/log" 2>&1
rc=$?
set -e
grep -E '^(#[0-9]+.*(DONE|pulse)|stat::number_of_executed_units|stat::new_units_added)' "$work/log" | tail -n 4
if [ $rc -ne 0 ]; then
    tail -n 60 "$work/log"
    echo "fuzzer failed (exit $rc); crashing inputs are in $artifacts" >&2
fi
exit $rc
