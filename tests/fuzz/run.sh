#!/usr/bin/env bash
# tests/fuzz/run.sh - build and run the libFuzzer harnesses (`make fuzz`).
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]      (default: 60 s, every target)
#
# Targets (tests/fuzz/fuzz_TARGET.c): trace_jsonl, trace_bin, import_ftrace,
# import_lackey, import_lackey_sys, import_champsim, model, set, wlspec, sim,
# stream (the gzip/xz/zstd readers), meas (measurement files).  For each one
# this script
#   1. builds the library and the harnesses with clang
#      -fsanitize=fuzzer,address,undefined into build-fuzz/ through the
#      Makefile (`make fuzz-bins`: the project's one WARN list, -MMD
#      dependencies);
#   2. replays the regression corpus tests/fuzz/regress/TARGET/ (every input
#      that ever crashed, hung or broke an oracle) and the seeds, once each;
#   3. fuzzes for SECONDS, starting from tests/fuzz/seed/TARGET/ and the
#      corpus kept in build-fuzz/corpus/TARGET/ from earlier runs, with the
#      dictionary tests/fuzz/dict/TARGET.dict when there is one.
# A finding is saved as build-fuzz/artifacts/TARGET/crash-* (or timeout-,
# leak-, oom-); copy it into tests/fuzz/regress/TARGET/ once fixed.  The
# last line per target gives executions and exec/s; logs are in
# build-fuzz/logs/.  Exit status: 0 when no target found anything.
#
# Environment: FUZZ_RUNS (a fixed number of executions per target instead
# of SECONDS: CI's bounded run, `make fuzz-ci`), FUZZ_JOBS (targets fuzzed at once, default 1), CLANG (the
# compiler, default clang), FUZZ_BUILD (default build-fuzz), FUZZ_FLAGS
# (extra libFuzzer flags, e.g. -jobs=2 or -seed=1).
set -u
cd "$(dirname "$0")/../.."

SECONDS_EACH=${1:-60}
shift $(( $# > 0 ? 1 : 0 ))
ALL_TARGETS="trace_jsonl trace_bin import_ftrace import_lackey import_lackey_sys import_champsim model set wlspec sim stream meas"
TARGETS=${*:-$ALL_TARGETS}
CLANG=${CLANG:-clang}
B=${FUZZ_BUILD:-build-fuzz}
JOBS=${FUZZ_JOBS:-1}

if ! command -v "$CLANG" >/dev/null 2>&1; then
    echo "fuzz: $CLANG not found; install it with: apt-get install -y clang libclang-rt-14-dev" >&2
    exit 1
fi

# ---- build: through the Makefile (one set of flags for the whole project) ----
echo "fuzz: building into $B/ with $CLANG (make fuzz-bins)"
mkdir -p "$B/logs"
make --no-print-directory FUZZ_BUILD="$B" CLANG="$CLANG" fuzz-bins >"$B/logs/build.log" 2>&1 ||
    { tail -30 "$B/logs/build.log" >&2; echo "fuzz: build failed (log: $B/logs/build.log)" >&2; exit 1; }
for t in $TARGETS; do
    [ -x "$B/fuzz/fuzz_$t" ] || { echo "fuzz: unknown target '$t' (targets: $ALL_TARGETS)" >&2; exit 2; }
done

# ---- run --------------------------------------------------------------------
# Per-target input size bound: the shipped recordings are up to 66 KB.
max_len() {
    case $1 in
        import_*) echo 131072 ;;
        set|wlspec|model) echo 16384 ;;
        *) echo 65536 ;;
    esac
}

# The harnesses write their inputs to /dev/shm/tlbsim-fz-PID-* (fz_path).
scratch_rm() { rm -f "/dev/shm/tlbsim-fz-$1-"* "${TMPDIR:-/tmp}/tlbsim-fz-$1-"*; }

run_target() {                  # run_target TARGET -> writes $B/logs/TARGET.{log,result}
    local t=$1 bin="$B/fuzz/fuzz_$1" log="$B/logs/$1.log" res="$B/logs/$1.result"
    local seed=tests/fuzz/seed/$t reg=tests/fuzz/regress/$t corpus="$B/corpus/$t"
    local art="$B/artifacts/$t/" dict=tests/fuzz/dict/$t.dict dictflag="" files
    mkdir -p "$corpus" "$art"
    [ -f "$dict" ] && dictflag="-dict=$dict"
    # 1. replay: every regression input and seed once
    files=$(find "$reg" "$seed" -type f 2>/dev/null | sort)
    if [ -n "$files" ]; then
        "$bin" -rss_limit_mb=2048 -timeout=20 $files >"$log.replay" 2>&1 &
        local pid=$! ok=0
        wait $pid && ok=1
        scratch_rm $pid
        if [ $ok = 0 ]; then
            echo "$t REPLAY-FAILED 0 0 0 see $log.replay" >"$res"
            return
        fi
    fi
    # 2. fuzz
    local limit="-max_total_time=$SECONDS_EACH"
    [ -n "${FUZZ_RUNS:-}" ] && limit="-runs=$FUZZ_RUNS"
    "$bin" $limit -timeout=10 -rss_limit_mb=2048 \
        -malloc_limit_mb=512 -max_len="$(max_len "$t")" -print_final_stats=1 \
        -artifact_prefix="$art" $dictflag ${FUZZ_FLAGS:-} "$corpus" "$seed" >"$log" 2>&1 &
    local fpid=$! rc=0 execs secs cov
    wait $fpid || rc=$?
    scratch_rm $fpid
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    if [ $rc -eq 0 ]; then
        echo "$t ok ${execs:-?} ${secs:-$SECONDS_EACH} ${cov:-?}" >"$res"
    else
        echo "$t FOUND ${execs:-?} ${secs:-?} ${cov:-?} $(ls -t "$art" | head -1)" >"$res"
    fi
}

if [ -n "${FUZZ_RUNS:-}" ]; then
    echo "fuzz: $FUZZ_RUNS executions per target, $JOBS at a time: $TARGETS"
else
    echo "fuzz: $SECONDS_EACH s per target, $JOBS at a time: $TARGETS"
fi
running=0
for t in $TARGETS; do
    run_target "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

status=0
printf '%-14s %-8s %12s %8s %10s %6s\n' target result executions seconds exec/s cov
for t in $TARGETS; do
    read -r name result execs secs cov extra <"$B/logs/$t.result" || { status=1; continue; }
    rate="-"
    case "$execs" in ''|*[!0-9]*) ;; *) [ "${secs:-0}" -gt 0 ] 2>/dev/null && rate=$((execs / secs)) ;; esac
    printf '%-14s %-8s %12s %8s %10s %6s %s\n' "$name" "$result" "$execs" "$secs" "$rate" "$cov" "${extra:-}"
    [ "$result" = ok ] || status=1
done
exit $status
