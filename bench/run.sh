#!/bin/sh
# bench/run.sh - tlbsim's benchmark suite (issue 7; docs/performance.md).
#
#   bench/run.sh BUILD [--smoke]
#
# BUILD is a build directory holding tlbsim and libtlbsim.a: `make bench`
# passes build-rel (-O3 -march=x86-64-v2), `make bench-smoke` the normal
# build.  The script
#   1. uses its helpers (bench/gen.c, runstat.c, ceiling.c), which the
#      Makefile builds into BUILD/bench/ (`make bench` and `make bench-smoke`
#      do; by hand: make BUILD=BUILD bench-tools);
#   2. generates the input traces into BUILD/bench-inputs/ (deterministic;
#      reused while BUILD/bench-inputs/STAMP matches the generator and sizes);
#   3. runs every scenario single-threaded (`tlbsim run -j 1`, one policy,
#      full timing model) under runstat, which reports wall and CPU time and
#      peak RSS (getrusage of the child);
#   4. prints a table, writes it to BUILD/bench.csv, checks the targets of
#      issue 7 and writes the verdicts to BUILD/bench-targets.csv.
# Rates are references (or flushes) per second of the simulator's CPU time
# (user + sys): on a shared machine wall time measures the neighbours too.
# Wall-time rates are in the CSV as well.
#
# --smoke: tiny inputs (BUILD/bench-inputs-smoke/), one run each, seconds in
# all.  It checks that the benchmark runs and that every run simulated what
# it should, not the speed: no target verdicts, exit status 0 unless
# something failed.  Never part of `make test`.
set -eu

BUILD=${1:?usage: bench/run.sh BUILD [--smoke]}
MODE=full
[ "${2:-}" = --smoke ] && MODE=smoke
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

# ---- helpers: built by the Makefile (`make bench-tools BUILD=...`) ------------
for t in gen runstat ceiling; do
    if [ ! -x "$TOOLS/$t" ]; then
        echo "bench: $TOOLS/$t missing (make BUILD=$BUILD bench-tools)" >&2
        exit 1
    fi
done
mkdir -p "$OUT"

# ---- inputs --------------------------------------------------------------------
# name scenario format refs cpus.  shoot: one flush per 1000 references.
if [ $MODE = smoke ]; then
    INPUTS="hot-s hot bin 200000 1
hot-l hot bin 2000000 1
rnd-s random bin 100000 1
rnd-l random bin 300000 1
json-s hot jsonl 100000 1
json-l hot jsonl 300000 1
shoot64-s shoot bin 200000 64
shoot64-l shoot bin 600000 64
shoot16 shoot bin 600000 16"
    REPS=1
else
    INPUTS="hot-16M hot bin 16000000 1
hot-50M hot bin 50000000 1
hot-160M hot bin 160000000 1
rnd-3M random bin 3000000 1
rnd-10M random bin 10000000 1
rnd-30M random bin 30000000 1
json-2M hot jsonl 2000000 1
json-6M hot jsonl 6000000 1
json-20M hot jsonl 20000000 1
shoot64-5k shoot bin 5000000 64
shoot64-15k shoot bin 15000000 64
shoot64-50k shoot bin 50000000 64
shoot16-15k shoot bin 15000000 16
shoot32-15k shoot bin 15000000 32"
    REPS=3
fi

stamp="bench-inputs v1 gen=$(cksum < bench/gen.c | cut -d' ' -f1) $(echo "$INPUTS" | tr '\n' ';')"
if [ "$(cat "$IN/STAMP" 2>/dev/null)" != "$stamp" ]; then
    echo "bench: generating inputs in $IN (once; reused while the generator is unchanged)"
    rm -rf "$IN"
    mkdir -p "$IN"
    echo "$INPUTS" | while read -r name scen fmt refs cpus; do
        ext=tlbt; [ "$fmt" = jsonl ] && ext=jsonl
        "$TOOLS/gen" "$scen" "$fmt" "$IN/$name.$ext" "$refs" "$cpus"
    done
    echo "$stamp" > "$IN/STAMP"
fi

# ---- measuring -------------------------------------------------------------------
# col FILE NAME: value of column NAME in the data row of a summary.csv ("" if absent).
col() {
    awk -F, -v k="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == k) c = i }
                       NR == 2 && c { print $c }' "$1"
}

# measure NAME: run the input NAME REPS times (best CPU time, largest RSS) and
# append "name cpus refs flushes events wall cpu rss_kb" to $RESULTS.
RESULTS=$OUT/results.txt
: > "$RESULTS"
FAILED=0
measure() {
    name=$1
    spec=$(echo "$INPUTS" | awk -v n="$name" '$1 == n { print $2, $3, $4, $5 }')
    read -r _ fmt refs cpus <<SPEC
$spec
SPEC
    ext=tlbt; [ "$fmt" = jsonl ] && ext=jsonl
    trace=$IN/$name.$ext best="" rss=0 wall=0
    i=0
    while [ $i -lt $REPS ]; do
        i=$((i + 1))
        if ! "$TOOLS/runstat" "$TLBSIM" run "$trace" -q -j 1 --policy linux \
                --out "$OUT/$name" < /dev/null 2> "$OUT/$name.err"; then
            echo "bench: $name: tlbsim failed:" >&2
            cat "$OUT/$name.err" >&2
            FAILED=1
            return 0
        fi
        line=$(grep '^runstat:' "$OUT/$name.err")
        w=$(echo "$line" | sed 's/.*wall=\([^ ]*\).*/\1/')
        c=$(echo "$line" | awk '{ split($3, u, "="); split($4, s, "="); print u[2] + s[2] }')
        r=$(echo "$line" | sed 's/.*maxrss_kb=\([^ ]*\).*/\1/')
        if [ -z "$best" ] || awk -v a="$c" -v b="$best" 'BEGIN { exit !(a < b) }'; then
            best=$c wall=$w
        fi
        if [ "$r" -gt "$rss" ]; then
            rss=$r
        fi
    done
    sum=$OUT/$name/summary.csv
    acc=$(col "$sum" accesses)
    if [ "$acc" != "$refs" ]; then
        echo "bench: $name: simulated $acc references, expected $refs" >&2
        FAILED=1
    fi
    fl=$(col "$sum" flush_requests)
    ev=$(col "$sum" events)
    [ -n "$ev" ] || ev=$(( $(col "$sum" ops) + $(col "$sum" ipis_received) ))
    echo "$name $cpus $refs $fl $ev $wall $best $rss" >> "$RESULTS"
}

echo "bench: $MODE run of $TLBSIM on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$INPUTS" > "$OUT/inputs.txt"
while read -r name _; do
    measure "$name"
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
"$TOOLS/ceiling" > "$OUT/ceiling.txt"
ceil_hot=$(awk '$1 == "ceiling_hot" { print $2 }' "$OUT/ceiling.txt")
ceil_rnd=$(awk '$1 == "ceiling_random" { print $2 }' "$OUT/ceiling.txt")

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
    printf "ceiling on this machine (bench/ceiling.c: bare 4-way LRU lookup loop, wall time):\n"
    printf "  hot %.1f Mrefs/s (tlbsim: %.0f%% of it), random with STLB %.1f Mrefs/s (tlbsim: %.0f%%)\n",
           h / 1e6, 100 * th / h, r / 1e6, 100 * tr / r }'
echo "targets: $TARGETS"
exit $FAILED
