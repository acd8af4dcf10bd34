#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# run-fuzz.sh FUZZER CORPUS SECONDS ARTIFACTS: runs a libFuzzer target for a bounded time,
# starting from the corpus kept in the tree (tests/fuzz/corpus-*), in a scratch store
# that is removed afterwards.
#
# KZ_FUZZ_SECONDS overrides SECONDS. With KZ_FUZZ_GROW=1 (make fuzz) the corpus in the
# tree grows: inputs that reached new coverage are merged into it, and crashing inputs
# are copied into it, so that every later run, CI's included, replays them.
set -euo pipefail
fuzzer=$1 corpus=$2 seconds=${KZ_FUZZ_SECONDS:-$3} artifacts=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/root" "$artifacts"
export KZ_FUZZ_ROOT="$work/root"
opts=(-max_len=16384 -timeout=10 -rss_limit_mb=2048)
set +e
"$fuzzer" "${opts[@]}" -max_total_time="$seconds" -artifact_prefix="$artifacts/" -print_final_stats=1 \
    "$work/corpus" "$corpus" >"$work/log" 2>&1
rc=$?
set -e
grep -E '^(#[0-9]+.*(DONE|pulse)|stat::number_of_executed_units|stat::new_units_added)' "$work/log" | tail -n 4
if [ "${KZ_FUZZ_GROW:-0}" = 1 ]; then
    before=$(ls "$corpus" | wc -l)
    "$fuzzer" "${opts[@]}" -merge=1 "$corpus" "$work/corpus" >"$work/merge.log" 2>&1 ||
        { tail -n 20 "$work/merge.log"; echo "merging new coverage into $corpus failed" >&2; }
    for crash in "$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-* "$artifacts"/oom-*; do
        [ -e "$crash" ] && cp -n "$crash" "$corpus/"
    done
    echo "$corpus: $before inputs before, $(ls "$corpus" | wc -l) after (commit the new ones)"
fi
if [ $rc -ne 0 ]; then
    tail -n 60 "$work/log"
    echo "fuzzer failed (exit $rc); crashing inputs are in $artifacts" >&2
    # libFuzzer reports a crash with 77, which meson would count as a skip
    exit 1
fi
exit 0
