#!/usr/bin/env bash
# tests/golden/update.sh - regenerate the golden CSVs of tests/test_cli.c.
#
# The golden files pin the simulator's output byte for byte: any change to
# the model, a machine file, a policy or a CSV column changes them, and
# `make test` fails (regress: cli::golden_csv) until they are regenerated.
# After an INTENTIONAL change:
#
#     make && tests/golden/update.sh && git diff --stat tests/golden
#
# then review the diff (it is the change in every figure) and commit it with
# the change that caused it.  The runs are listed in tests/golden/cases.txt;
# TLBSIM=path overrides the binary (default build/tlbsim).
set -eu
cd "$(dirname "$0")/../.."
T=${TLBSIM:-build/tlbsim}
G=tests/golden
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

grep -v '^#' "$G/cases.txt" | while read -r name input format policies machine; do
    [ -n "$name" ] || continue
    if [ "$format" = - ]; then
        trace=$input
    else
        trace=$tmp/$name.jsonl
        "$T" import "$format" "$input" -o "$trace" 2>/dev/null
    fi
    # Run into a scratch directory (run makes --out a symbolic link to a
    # generation directory) and keep only the CSV files: summary.json holds
    # the build's version, so it is not pinned (test_cli.c compares CSVs).
    "$T" run "$trace" --policy "$policies" ${machine:+--machine "$machine"} --out "$tmp/out-$name" -q
    rm -rf "${G:?}/$name"
    mkdir -p "$G/$name"
    cp "$tmp/out-$name"/*.csv "$G/$name/"
    echo "$G/$name: $(wc -l <"$G/$name/summary.csv") summary lines, $(cat "$G/$name"/*.csv | wc -c) bytes"
done
