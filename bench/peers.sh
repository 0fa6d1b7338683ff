#!/bin/sh
# bench/peers.sh - tlbsim next to other simulators on the same address stream
# (the peers table of docs/performance.md).
#
#   bench/peers.sh BUILD            (make bench-peers)
#
# BUILD holds tlbsim and the bench helpers (make BUILD=BUILD bench-tools).  Two streams from bench/gen.c, the
# same addresses and read/write kinds as the benchmark's traces: `hot`
# (random 8-byte-aligned addresses in 32 hot 4K pages) and `random` (random
# 4K pages over 1 GiB).  Each peer that is installed runs them and the table
# gives its rate, tlbsim's rate on the same stream and the ratio.  A peer
# that cannot be found is skipped with a message saying how to point the
# script at it; nothing is downloaded.
#
#   Dinero IV   DINERO=/path/to/dineroIV, else `dineroIV` in PATH.  Run as a
#               64-entry 4-way LRU "cache" of 4 KiB blocks, the L1 DTLB's
#               geometry:  dineroIV -l1-dsize 256k -l1-dbsize 4k
#               -l1-dassoc 4 -l1-drepl l -informat d < STREAM.din
#   ChampSim    CHAMPSIM=/path/to/bin/champsim (a binary built with the
#               user's configuration; ChampSim compiles its configuration
#               in).  Run on an uncompressed trace of one load or store
#               per instruction: champsim --warmup-instructions 0
#               --simulation-instructions N STREAM.champsim
#               (CHAMPSIM_ARGS replaces the two instruction options).
#
# Rates are references per second of CPU time (user + sys), best of REPS
# (default 3) runs.  tlbsim runs its full model (`run -q -j 1 --policy
# linux`, binary trace); the peers do what they do (Dinero: one cache level,
# no page walks; ChampSim: a whole out-of-order core), so the ratio is a
# price, not a like-for-like speed.  Output: a Markdown table on stdout and
# BUILD/peers.csv; the date and load average at start and end on stderr
# (for the table's caption).
set -eu

BUILD=${1:?usage: bench/peers.sh BUILD}
cd "$(dirname "$0")/.."
REPS=${REPS:-3}
TOOLS=$BUILD/bench
WORK=$BUILD/peers
CSV=$BUILD/peers.csv
HOT_REFS=${HOT_REFS:-16000000}
RND_REFS=${RND_REFS:-3000000}
if [ ! -x "$BUILD/tlbsim" ] || [ ! -f "$BUILD/libtlbsim.a" ]; then
    echo "peers: $BUILD/tlbsim or $BUILD/libtlbsim.a missing (build first)" >&2
    exit 1
fi
for t in gen runstat; do
    if [ ! -x "$TOOLS/$t" ]; then
        echo "peers: $TOOLS/$t missing (make BUILD=$BUILD bench-tools)" >&2
        exit 1
    fi
done
mkdir -p "$WORK"

# best_cpu CMD...: best user+sys seconds of REPS runs (stdin from $STDIN).
best_cpu() {
    best=""
    i=0
    while [ $i -lt "$REPS" ]; do
        i=$((i + 1))
        if ! "$TOOLS/runstat" "$@" < "$STDIN" > "$WORK/out.txt" 2> "$WORK/err.txt"; then
            echo "peers: failed: $*" >&2
            tail -5 "$WORK/err.txt" >&2
            return 1
        fi
        c=$(awk '/^runstat:/ { split($3, u, "="); split($4, s, "="); print u[2] + s[2] }' "$WORK/err.txt")
        if [ -z "$best" ] || awk -v a="$c" -v b="$best" 'BEGIN { exit !(a < b) }'; then
            best=$c
        fi
    done
    echo "$best"
}

DINERO=${DINERO:-$(command -v dineroIV || true)}
CHAMPSIM=${CHAMPSIM:-}
peers=""
if [ -n "$DINERO" ] && [ -x "$DINERO" ]; then
    peers="$peers dinero"
else
    echo "peers: Dinero IV not found: skipped (install it and put dineroIV in PATH, or set DINERO=/path/to/dineroIV)" >&2
fi
if [ -n "$CHAMPSIM" ] && [ -x "$CHAMPSIM" ]; then
    peers="$peers champsim"
else
    echo "peers: ChampSim not found: skipped (build it and set CHAMPSIM=/path/to/bin/champsim)" >&2
fi

echo "peer,stream,refs,peer_cpu_s,peer_refs_per_s,tlbsim_cpu_s,tlbsim_refs_per_s,tlbsim_over_peer" > "$CSV"
if [ -z "$peers" ]; then
    echo "peers: no peer installed; nothing measured ($CSV has the header only)" >&2
    exit 0
fi
echo "peers: start $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)" >&2
echo "| peer | stream | references | peer Mrefs/s | tlbsim Mrefs/s | tlbsim / peer |"
echo "|---|---|---:|---:|---:|---:|"
for stream in hot random; do
    refs=$HOT_REFS
    [ $stream = random ] && refs=$RND_REFS
    "$TOOLS/gen" $stream bin "$WORK/$stream.tlbt" "$refs"
    STDIN=/dev/null
    t_cpu=$(best_cpu "$BUILD/tlbsim" run "$WORK/$stream.tlbt" -q -j 1 --policy linux --out "$WORK/out-$stream")
    for peer in $peers; do
        case $peer in
        dinero)
            "$TOOLS/gen" $stream din "$WORK/$stream.din" "$refs"
            STDIN=$WORK/$stream.din
            p_cpu=$(best_cpu "$DINERO" -l1-dsize 256k -l1-dbsize 4k -l1-dassoc 4 -l1-drepl l -informat d)
            ;;
        champsim)
            "$TOOLS/gen" $stream champsim "$WORK/$stream.champsim" "$refs"
            STDIN=/dev/null
            # shellcheck disable=SC2086
            p_cpu=$(best_cpu "$CHAMPSIM" ${CHAMPSIM_ARGS:---warmup-instructions 0 --simulation-instructions $refs} \
                    "$WORK/$stream.champsim")
            ;;
        esac
        awk -v p="$peer" -v s="$stream" -v n="$refs" -v pc="$p_cpu" -v tc="$t_cpu" -v csv="$CSV" 'BEGIN {
            pr = n / pc; tr = n / tc
            printf "%s,%s,%d,%.3f,%.0f,%.3f,%.0f,%.2f\n", p, s, n, pc, pr, tc, tr, tr / pr >> csv
            printf "| %s | %s | %d | %.2f | %.2f | %.2fx |\n", p, s, n, pr / 1e6, tr / 1e6, tr / pr }'
    done
done
echo "peers: end $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)" >&2
echo "peers: $CSV" >&2
