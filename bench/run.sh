#!/bin/sh
# bench/run.sh - tlbsim's benchmark suite (issues 7 and 16; docs/performance.md).
#
#   bench/run.sh BUILD [--smoke] [--plain PLAIN_BUILD]
#
# BUILD is a build directory holding tlbsim and libtlbsim.a: `make bench`
# passes build-rel (-O3 -march=x86-64-v2) and --plain build (what a plain
# `make` builds), `make bench-smoke` the normal build.  The script
#   1. uses its helpers (bench/gen.c, runstat.c, ceiling.c), which the
#      Makefile builds into BUILD/bench/ (`make bench` and `make bench-smoke`
#      do; by hand: make BUILD=BUILD bench-tools);
#   2. generates the input traces into BUILD/bench-inputs/ (deterministic;
#      reused while BUILD/bench-inputs/STAMP matches the generator and sizes);
#   3. runs every scenario single-threaded (`tlbsim run -j 1`, one policy
#      unless the scenario says otherwise, full timing model) under runstat,
#      which reports wall and CPU time and peak RSS (getrusage of the child),
#      and with --plain runs PLAIN_BUILD's tlbsim on the PLAIN_RUNS scenarios
#      too, each run of one build followed by a run of the other;
#   4. prints a table, writes it to BUILD/bench.csv, checks the targets of
#      issues 7 and 16 and writes the verdicts to BUILD/bench-targets.csv.
# Rates are references (or flushes) per second of the simulator's CPU time
# (user + sys): on a shared machine wall time measures the neighbours too.
# Wall-time rates are in the CSV as well.  Ratios between runs (plain build
# against release, one policy against nine, key orders) are taken in the
# same run of this script.
#
# --smoke: tiny inputs (BUILD/bench-inputs-smoke/), one run each, seconds in
# all.  It checks that the benchmark runs and that every run simulated what
# it should, not the speed: no target verdicts, exit status 0 unless
# something failed.  Never part of `make test`.
set -eu

BUILD=${1:?usage: bench/run.sh BUILD [--smoke] [--plain PLAIN_BUILD]}
shift
MODE=full
PLAIN=
while [ $# -gt 0 ]; do
    case $1 in
    --smoke) MODE=smoke ;;
    --plain) PLAIN=${2:?--plain needs a build directory}; shift ;;
    *) echo "usage: bench/run.sh BUILD [--smoke] [--plain PLAIN_BUILD]" >&2; exit 2 ;;
    esac
    shift
done
cd "$(dirname "$0")/.."

TLBSIM=$BUILD/tlbsim
TOOLS=$BUILD/bench
OUT=$BUILD/bench-out
if [ $MODE = smoke ]; then
    IN=$BUILD/bench-inputs-smoke
    CSV=$BUILD/bench-smoke.csv
    TARGETS=/dev/null
else
    IN=$BUILD/bench-inputs
    CSV=$BUILD/bench.csv
    TARGETS=$BUILD/bench-targets.csv
fi
if [ ! -x "$TLBSIM" ] || [ ! -f "$BUILD/libtlbsim.a" ]; then
    echo "bench: $TLBSIM or $BUILD/libtlbsim.a missing (build first)" >&2
    exit 1
fi
if [ -n "$PLAIN" ] && [ ! -x "$PLAIN/tlbsim" ]; then
    echo "bench: $PLAIN/tlbsim missing (build first)" >&2
    exit 1
fi

# ---- helpers: built by the Makefile (`make bench-tools BUILD=...`) ------------
for t in gen runstat ceiling; do
    if [ ! -x "$TOOLS/$t" ]; then
        echo "bench: $TOOLS/$t missing (make BUILD=$BUILD bench-tools)" >&2
        exit 1
    fi
done
mkdir -p "$OUT"

# ---- inputs --------------------------------------------------------------------
# name scenario format refs cpus [policy [file]].  shoot: one flush per 1000
# references; mms: refs counts address spaces (4 references each); format
# jsonr: JSON Lines with the access keys in another order and spaced
# (`{"kind": "r", "va": [...], "cpu": 0, "op": "access"}`); file: read the
# trace of that other input instead of generating one.
if [ $MODE = smoke ]; then
    INPUTS="hot-s hot bin 200000 1
hot-l hot bin 2000000 1
hot1-s hot1 bin 100000 1
rnd-s random bin 100000 1
rnd-l random bin 300000 1
json-s hot jsonl 100000 1
json-l hot jsonl 300000 1
jsonr-l hot jsonr 300000 1
all-json-l hot jsonl 300000 1 all json-l
mms-s mms bin 2000 1
shoot64-s shoot bin 200000 64
shoot64-l shoot bin 600000 64
shoot16 shoot bin 600000 16
shoot256-s shoot bin 30000 256"
    PLAIN_RUNS="hot-l rnd-l"
    REPS=1 PAIR_REPS=1
else
    INPUTS="hot-16M hot bin 16000000 1
hot-50M hot bin 50000000 1
hot-160M hot bin 160000000 1
hot1-8M hot1 bin 8000000 1
rnd-3M random bin 3000000 1
rnd-10M random bin 10000000 1
rnd-30M random bin 30000000 1
json-2M hot jsonl 2000000 1
json-6M hot jsonl 6000000 1
json-20M hot jsonl 20000000 1
jsonr-6M hot jsonr 6000000 1
all-json-6M hot jsonl 6000000 1 all json-6M
mms-100k mms bin 100000 1
shoot64-5k shoot bin 5000000 64
shoot64-15k shoot bin 15000000 64
shoot64-50k shoot bin 50000000 64
shoot16-15k shoot bin 15000000 16
shoot32-15k shoot bin 15000000 32
shoot4-1k shoot bin 1000000 4
shoot16-1k shoot bin 1000000 16
shoot64-1k shoot bin 1000000 64
shoot256-1k shoot bin 1000000 256
shoot1024-1k shoot bin 1000000 1024"
    # Run with the plain build too (--plain): one size of every kind.
    PLAIN_RUNS="hot-50M hot1-8M rnd-10M json-6M jsonr-6M shoot64-15k"
    # runs per scenario; PAIR_REPS for those compared with the plain build
    REPS=3 PAIR_REPS=5
fi

# ext FORMAT: the file extension of a format.
ext() { case $1 in bin) echo tlbt ;; *) echo jsonl ;; esac; }

stamp="bench-inputs v2 gen=$(cksum < bench/gen.c | cut -d' ' -f1) $(echo "$INPUTS" | tr '\n' ';')"
if [ "$(cat "$IN/STAMP" 2>/dev/null)" != "$stamp" ]; then
    echo "bench: generating inputs in $IN (once; reused while the generator is unchanged)"
    rm -rf "$IN"
    mkdir -p "$IN"
    echo "$INPUTS" | while read -r name scen fmt refs cpus _ file; do
        [ -z "$file" ] || continue
        out=$IN/$name.$(ext "$fmt")
        if [ "$fmt" = jsonr ]; then
            "$TOOLS/gen" "$scen" jsonl "$out.tmp" "$refs" "$cpus"
            sed -E 's/^\{"op":"access","cpu":([0-9]+),"va":(.*),"kind":"(.)"\}$/{"kind": "\3", "va": \2, "cpu": \1, "op": "access"}/' \
                "$out.tmp" > "$out"
            rm -f "$out.tmp"
        else
            "$TOOLS/gen" "$scen" "$fmt" "$out" "$refs" "$cpus"
        fi
    done
    echo "$stamp" > "$IN/STAMP"
fi

# ---- measuring -------------------------------------------------------------------
# col FILE NAME: value of column NAME in the data row of a summary.csv ("" if absent).
col() {
    awk -F, -v k="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == k) c = i }
                       NR == 2 && c { print $c }' "$1"
}

# measure NAME TAG...: run the input NAME REPS times with each TAG's build
# (TAG NAME: BUILD's tlbsim; TAG plain:NAME: PLAIN_BUILD's), the tags
# interleaved run by run, so that a build compared with another meets the
# same neighbours: on a shared VM the CPU time of one run can be 1.5 to 2
# times another's for seconds at a time, whatever the build.  Appends
# "tag cpus refs flushes events wall cpu rss_kb" per TAG (best CPU time,
# largest RSS) to $RESULTS.
RESULTS=$OUT/results.txt
RUNS=$OUT/runs.txt
: > "$RESULTS"
FAILED=0
bin_of() { case $1 in plain:*) echo "$PLAIN/tlbsim" ;; *) echo "$TLBSIM" ;; esac; }
measure() {
    name=$1
    shift
    spec=$(echo "$INPUTS" | awk -v n="$name" '$1 == n { print $2, $3, $4, $5, ($6 == "" ? "linux" : $6), ($7 == "" ? $1 : $7) }')
    read -r scen fmt refs cpus policy file <<SPEC
$spec
SPEC
    trace=$IN/$file.$(ext "$fmt")
    : > "$RUNS"
    reps=$REPS
    [ $# -gt 1 ] && reps=$PAIR_REPS
    i=0
    while [ $i -lt $reps ]; do
        i=$((i + 1))
        for tag in "$@"; do
            if ! "$TOOLS/runstat" "$(bin_of "$tag")" run "$trace" -q -j 1 --policy "$policy" \
                    --out "$OUT/$tag" < /dev/null 2> "$OUT/$tag.err"; then
                echo "bench: $tag: tlbsim failed:" >&2
                cat "$OUT/$tag.err" >&2
                FAILED=1
                echo "$tag failed" >> "$RUNS"
                continue
            fi
            echo "$tag $(grep '^runstat:' "$OUT/$tag.err")" >> "$RUNS"
        done
    done
    want=$refs
    [ "$scen" = mms ] && want=$((refs * 4))
    for tag in "$@"; do
        grep -q "^$tag failed" "$RUNS" && continue
        # best CPU time (user + sys) and its wall time, largest RSS
        read -r wall best rss <<BEST
$(awk -v t="$tag" '$1 == t {
        for (k = 2; k <= NF; k++) { split($k, kv, "="); f[kv[1]] = kv[2] }
        c = f["user"] + f["sys"]
        if (best == "" || c < best) { best = c; wall = f["wall"] }
        if (f["maxrss_kb"] + 0 > rss) rss = f["maxrss_kb"] + 0
    } END { print wall, best, rss + 0 }' "$RUNS")
BEST
        sum=$OUT/$tag/summary.csv
        acc=$(col "$sum" accesses)
        if [ "$acc" != "$want" ]; then
            echo "bench: $tag: simulated $acc references, expected $want" >&2
            FAILED=1
        fi
        fl=$(col "$sum" flush_requests)
        ev=$(col "$sum" events)
        [ -n "$ev" ] || ev=$(( $(col "$sum" ops) + $(col "$sum" ipis_received) ))
        echo "$tag $cpus $want $fl $ev $wall $best $rss" >> "$RESULTS"
    done
}

echo "bench: $MODE run of $TLBSIM on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$INPUTS" > "$OUT/inputs.txt"
while read -r name _; do
    case " $PLAIN_RUNS " in
    *" $name "*) [ -n "$PLAIN" ] && { measure "$name" "$name" "plain:$name"; continue; } ;;
    esac
    measure "$name" "$name"
done < "$OUT/inputs.txt"

# ---- the table ---------------------------------------------------------------------
echo "scenario,cpus,refs,flushes,events,wall_s,cpu_s,refs_per_s,refs_per_s_wall,events_per_s,flushes_per_s,flushes_per_min,peak_rss_mb" > "$CSV"
awk '{
    n = $1; cpus = $2; refs = $3; fl = $4; ev = $5; wall = $6; cpu = $7; rss = $8
    printf "%s,%d,%d,%d,%d,%.3f,%.3f,%.0f,%.0f,%.0f,%.0f,%.0f,%.1f\n", n, cpus, refs, fl, ev,
           wall, cpu, refs / cpu, refs / wall, ev / cpu, fl / cpu, 60 * fl / cpu, rss / 1024
}' "$RESULTS" >> "$CSV"

echo
awk -F, 'NR == 1 { printf "%-12s %5s %11s %7s %8s %8s %9s %9s %9s %10s %8s\n",
                          "scenario", "cpus", "refs", "flushes", "wall s", "cpu s",
                          "Mrefs/s", "Mev/s", "flush/s", "flush/min", "RSS MB"; next }
         { printf "%-12s %5d %11d %7d %8.2f %8.2f %9.2f %9.2f %9.0f %10.0f %8.1f\n",
                  $1, $2, $3, $4, $6, $7, $8 / 1e6, $10 / 1e6, $11, $12, $13 }' "$CSV"
echo
echo "table: $CSV"

# ---- ceiling, scaling, targets ------------------------------------------------------------
if [ $MODE = smoke ]; then
    "$TOOLS/ceiling" 100000 > /dev/null
    if [ $FAILED = 0 ]; then
        echo "bench-smoke: ok (speed not checked)"
    else
        echo "bench-smoke: FAILED (see the messages above)" >&2
    fi
    exit $FAILED
fi
# The ceiling, best of REPS runs like tlbsim's scenarios (CPU time).
: > "$OUT/ceiling.txt"
i=0
while [ $i -lt $REPS ]; do
    i=$((i + 1))
    "$TOOLS/ceiling" >> "$OUT/ceiling.txt"
done
ceil_hot=$(awk '$1 == "ceiling_hot" && $2 > m { m = $2 } END { print m }' "$OUT/ceiling.txt")
ceil_rnd=$(awk '$1 == "ceiling_random" && $2 > m { m = $2 } END { print m }' "$OUT/ceiling.txt")

# v NAME FIELD: a field of a run (refs_per_s, flushes_per_min, peak_rss_mb, cpu_s, ...).
v() {
    awk -F, -v n="$1" -v k="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == k) c = i; next }
                                 $1 == n { print $c }' "$CSV"
}
# slope X1 Y1 X2 Y2 ...: least-squares slope of log(y) over log(x).
slope() {
    echo "$@" | awk '{ n = NF / 2
        for (i = 0; i < n; i++) { x = log($(2*i+1)); y = log($(2*i+2)); sx += x; sy += y; sxx += x*x; sxy += x*y }
        printf "%.3f\n", (n * sxy - sx * sy) / (n * sxx - sx * sx) }'
}
e_hot=$(slope 16 "$(v hot-16M cpu_s)" 50 "$(v hot-50M cpu_s)" 160 "$(v hot-160M cpu_s)")
e_rnd=$(slope 3 "$(v rnd-3M cpu_s)" 10 "$(v rnd-10M cpu_s)" 30 "$(v rnd-30M cpu_s)")
e_json=$(slope 2 "$(v json-2M cpu_s)" 6 "$(v json-6M cpu_s)" 20 "$(v json-20M cpu_s)")
e_fl=$(slope 5 "$(v shoot64-5k cpu_s)" 15 "$(v shoot64-15k cpu_s)" 50 "$(v shoot64-50k cpu_s)")
e_cpus=$(slope 16 "$(v shoot16-15k cpu_s)" 32 "$(v shoot32-15k cpu_s)" 64 "$(v shoot64-15k cpu_s)")
rss_small=$(v hot-16M peak_rss_mb)
rss_big=$(v hot-160M peak_rss_mb)

# target NAME MEASURED OP LIMIT UNIT
echo "target,measured,limit,unit,result" > "$TARGETS"
target() {
    ok=$(awk -v m="$2" -v l="$4" -v op="$3" 'BEGIN { print ((op == ">=" ? m >= l : m <= l) ? "met" : "NOT MET") }')
    printf "  %-46s %12s %s %-10s %s\n" "$1" "$2" "$3" "$4 $5" "$ok"
    echo "\"$1\",$2,$3 $4,$5,$ok" >> "$TARGETS"
}
mrefs() { awk -v x="$(v "$1" refs_per_s)" 'BEGIN { printf "%.1f", x / 1e6 }'; }
echo
echo "targets (issue 7; rates per CPU second, single thread):"
target "binary, hot working set (Mrefs/s)" "$(mrefs hot-160M)" ">=" 40 M/s
target "binary, random pages over 1 GiB (Mrefs/s)" "$(mrefs rnd-30M)" ">=" 10 M/s
target "JSON Lines with access arrays (Mrefs/s)" "$(mrefs json-20M)" ">=" 5 M/s
target "shootdowns, 64 CPUs, 1 per 1000 refs (flushes/min)" "$(v shoot64-50k flushes_per_min)" ">=" 1000000 /min
target "peak RSS, 160M-ref hot trace (MB)" "$rss_big" "<=" 64 MB
target "peak RSS, 10x longer trace minus shorter (MB)" \
       "$(awk -v a="$rss_big" -v b="$rss_small" 'BEGIN { printf "%.1f", a - b }')" "<=" 4 MB
target "peak RSS, 64 CPUs (MB)" "$(v shoot64-50k peak_rss_mb)" "<=" 64 MB
echo
echo "cost exponents (slope of log CPU time over log size; 1 = linear):"
printf "  references: hot %s, random %s, JSON %s;  flushes (64 CPUs) %s;  CPUs (15k flushes) %s\n" \
       "$e_hot" "$e_rnd" "$e_json" "$e_fl" "$e_cpus"
for e in "references hot,$e_hot" "references random,$e_rnd" "references JSON,$e_json" \
         "flushes at 64 CPUs,$e_fl" "CPUs at 15k flushes,$e_cpus"; do
    echo "exponent: $e" | awk -F'[:,]' '{ printf "\"cost exponent in%s\",%s,<= 1.1,,%s\n", $2, $3, ($3 <= 1.1 ? "met" : "NOT MET") }' >> "$TARGETS"
done
echo
awk -v h="$ceil_hot" -v r="$ceil_rnd" -v th="$(v hot-160M refs_per_s)" -v tr="$(v rnd-30M refs_per_s)" 'BEGIN {
    printf "ceiling on this machine (bench/ceiling.c: bare 4-way LRU lookup loop, CPU time):\n"
    printf "  hot %.1f Mrefs/s (tlbsim: %.0f%% of it), random with STLB %.1f Mrefs/s (tlbsim: %.0f%%)\n",
           h / 1e6, 100 * th / h, r / 1e6, 100 * tr / r }'

# ---- issue 16: scale and speed -----------------------------------------------------------------
# ratio A B FIELD: A's FIELD over B's.
ratio() {
    awk -v a="$(v "$1" "$3")" -v b="$(v "$2" "$3")" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'
}
e_cpus16=$(slope 4 "$(v shoot4-1k cpu_s)" 16 "$(v shoot16-1k cpu_s)" 64 "$(v shoot64-1k cpu_s)" \
                 256 "$(v shoot256-1k cpu_s)" 1024 "$(v shoot1024-1k cpu_s)")
echo
echo "targets (issue 16; CPU seconds, ratios from this run):"
if [ -n "$PLAIN" ]; then
    for name in $PLAIN_RUNS; do
        target "plain make / release, CPU time, $name" "$(ratio "plain:$name" "$name" cpu_s)" "<=" 1.05 x
    done
else
    echo "  (plain build not compared: run with --plain BUILD, as make bench does)"
fi
target "one address per op, binary (Mrefs/s)" "$(mrefs hot1-8M)" ">=" 35 M/s
target "hot binary / ceiling.c, same flags" \
       "$(awk -v t="$(v hot-160M refs_per_s)" -v c="$ceil_hot" 'BEGIN { printf "%.2f", t / c }')" ">=" 0.8 x
target "JSON, other key order / canonical, CPU time" "$(ratio jsonr-6M json-6M cpu_s)" "<=" 1.15 x
# `all` ran 9 policies when the target was set; it runs every policy now
# (12 and counting), so the label says how many this run had.
npol=$(($(wc -l < "$OUT/all-json-6M/summary.csv" 2> /dev/null || echo 1) - 1))
target "--policy all ($npol) / one policy, JSON, CPU time" "$(ratio all-json-6M json-6M cpu_s)" "<=" 5 x
target "100,000 small address spaces: peak RSS (MB)" "$(v mms-100k peak_rss_mb)" "<=" 2048 MB
target "100,000 small address spaces: CPU s" "$(v mms-100k cpu_s)" "<=" 10 s
target "shootdowns, 256 CPUs (flushes/min)" "$(v shoot256-1k flushes_per_min)" ">=" 1000000 /min
target "shootdowns, 1024 CPUs (flushes/min)" "$(v shoot1024-1k flushes_per_min)" ">=" 250000 /min
target "cost exponent in CPUs x flushes, 4..1024 CPUs" "$e_cpus16" "<=" 1.05 ""
echo "targets: $TARGETS"
exit $FAILED
