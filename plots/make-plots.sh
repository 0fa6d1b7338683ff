#!/bin/sh
# plots/make-plots.sh IN_DIR OUT_DIR - figures from the CSVs of `tlbsim run`
# and `tlbsim sweep`, as PNG and SVG, through gnuplot (awk and sort prepare
# the data; no other dependency).
#
# From IN_DIR/summary.csv, flushes.csv and timeline.csv (one comparison run):
#   policies_ipis         IPIs sent and lazy CPUs skipped, per policy
#   policies_latency      shootdown latency p50 and p99, per policy
#   policies_cycles_lost  cycles lost per CPU (handlers + spinning), per policy
#   latency_cdf           CDF of shootdown latency, per policy
#   timeline_miss_rate    L1 TLB miss rate over time, with the trace's marks
# From IN_DIR/sweep_summary.csv (tlbsim sweep with a cpus axis):
#   sweep_ipis_vs_cpus    IPIs vs CPU count, one line per other grid point
#   sweep_latency_vs_cpus shootdown p50 and p99 vs CPU count
#
# Without gnuplot (or with GNUPLOT=/nonexistent) it says so and exits 0.
# Exit status: 0 ok or skipped, 2 bad usage or no input, 1 a figure failed.
set -u

GNUPLOT=${GNUPLOT:-gnuplot}
here=$(cd "$(dirname "$0")" && pwd)

usage="usage: plots/make-plots.sh IN_DIR OUT_DIR   (IN_DIR: a tlbsim run --out or sweep --out)"
if [ $# -eq 1 ] && { [ "$1" = "-h" ] || [ "$1" = "--help" ]; }; then
    echo "$usage"
    exit 0
fi
if [ $# -ne 2 ]; then
    echo "$usage" >&2
    exit 2
fi
in=$1
out=$2

if ! command -v "$GNUPLOT" >/dev/null 2>&1; then
    echo "gnuplot not found: skipping plots"
    exit 0
fi
ver=$("$GNUPLOT" --version 2>/dev/null | awk '{ print $2 }')
case $ver in
    [5-9].[2-9]*|[6-9].*|[1-9][0-9]*) ;;
    *) echo "gnuplot ${ver:-of unknown version} is older than 5.2: skipping plots"; exit 0 ;;
esac
if [ ! -d "$in" ]; then
    echo "make-plots.sh: $in: no such directory (run tlbsim run ... --out $in first)" >&2
    exit 2
fi
if [ ! -f "$in/summary.csv" ] && [ ! -f "$in/sweep_summary.csv" ]; then
    echo "make-plots.sh: $in: no summary.csv or sweep_summary.csv" >&2
    exit 2
fi
mkdir -p "$out" || exit 2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tlbsim-plots.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
status=0
made=""
lib=$(cat "$here/csv.awk") || exit 1   # prepended to each awk program

if "$GNUPLOT" -e "set terminal pngcairo" >/dev/null 2>&1; then pngterm=pngcairo; else pngterm=png; fi

# A gnuplot string: single quotes, a quote doubled.
gpq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"; }

# plot SCRIPT NAME [gnuplot assignments]: NAME.png and NAME.svg in OUT_DIR.
plot() {
    {
        echo "plotdir = $(gpq "$here"); tmp = $(gpq "$tmp"); pngterm = '$pngterm'"
        echo "out = $(gpq "$out/$2"); sub = $(gpq "$sub")"
        [ $# -ge 3 ] && echo "$3"
    } > "$tmp/vars.gp"
    for fmt in png svg; do
        if ! "$GNUPLOT" -e "fmt = '$fmt'; load '$tmp/vars.gp'" "$here/$1" 2>"$tmp/err"; then
            echo "make-plots.sh: $2.$fmt: gnuplot failed:" >&2
            rm -f "$out/$2.$fmt"
            sed 's/^/  /' "$tmp/err" >&2
            status=1
            return
        fi
    done
    made="$made $2"
}

# == one comparison run =========================================================
if [ -f "$in/summary.csv" ]; then
    # policies.dat: row "policy" ipis lazy p50 p99 handler/cpu spin/cpu shootdowns
    # run_cycles "what carries flushes instead of IPIs" blocked/cpu how_many
    awk -v tmp="$tmp" "$lib"'
        NR == 1 { csv_header($0, c); next }
        {
            csv_split($0, f); n = NR - 2; cpus = f[c["cpus"]] + 0
            if (cpus < 1) cpus = 1
            # what carries the flushes when no IPI does
            how = ""; hown = 0
            if (f[c["hypercalls"]] > 0) { how = "hypercalls"; hown = f[c["hypercalls"]] }
            if (f[c["broadcasts"]] > 0) { how = "broadcasts"; hown = f[c["broadcasts"]] }
            if (f[c["deferred_invalidations"]] > 0) { how = "deferred"; hown = f[c["deferred_invalidations"]] }
            # initiators blocked in a synchronous hypercall or TLBSYNC are not in
            # spin_cycles: estimate them as shootdowns x mean latency
            blk = 0
            if (f[c["spin_cycles"]] == 0 && (f[c["hypercalls"]] > 0 || f[c["broadcasts"]] > 0))
                blk = f[c["shootdowns"]] * f[c["shootdown_cycles_mean"]] / cpus
            printf "%d %s %s %s %s %s %.1f %.1f %s %s %s %.1f %s\n", n, gp_str(f[c["policy"]]),
                f[c["ipis_sent"]] + 0, f[c["ipis_skipped_lazy"]] + 0,
                f[c["shootdown_cycles_p50"]] + 0, f[c["shootdown_cycles_p99"]] + 0,
                f[c["handler_cycles"]] / cpus, f[c["spin_cycles"]] / cpus,
                f[c["shootdowns"]] + 0, f[c["cycles"]] + 0, gp_str(how), blk, hown + 0 > (tmp "/policies.dat")
            print f[c["policy"]] "\t" f[c["freq_mhz"]] > (tmp "/policies.idx")
            if (n == 0)
                printf "%s on %s, %s CPUs", f[c["trace"]], f[c["machine"]], f[c["cpus"]] > (tmp "/sub")
        }' "$in/summary.csv"
    sub=$(cat "$tmp/sub" 2>/dev/null)
    if [ -s "$tmp/policies.dat" ]; then
        npol=$(wc -l < "$tmp/policies.dat")
        plot policies_ipis.gp policies_ipis "n = $npol"
        plot policies_latency.gp policies_latency "n = $npol"
        plot policies_cycles_lost.gp policies_cycles_lost "n = $npol"
    fi

    # cdf_N.dat: latency and cumulative fraction of policy row N's remote flushes,
    # at most ~2000 points per policy.
    if [ -f "$in/flushes.csv" ] && [ -s "$tmp/policies.idx" ]; then
        awk -v tmp="$tmp" "$lib"'
            FNR == NR { split($0, p, "\t"); row[p[1]] = FNR - 1; next }
            FNR == 1 { csv_header($0, c); next }
            { csv_split($0, f)
              if (f[c["targets"]] > 0 && (f[c["policy"]] in row))
                  print row[f[c["policy"]]], f[c["latency"]] }' \
            "$tmp/policies.idx" "$in/flushes.csv" | sort -k1,1n -k2,2n > "$tmp/lat"
        awk -v tmp="$tmp" '
            FNR == NR { split($0, p, "\t"); name[FNR - 1] = p[1]; next }
            { cnt[$1]++; lat[$1, cnt[$1]] = $2 }
            END {
                ids = ""
                for (r = 0; (r in name); r++) {
                    if (!(r in cnt)) continue
                    file = tmp "/cdf_" r ".dat"; n = cnt[r]
                    step = int(n / 2000) + 1
                    # a policy whose latencies equal an earlier one hides under it: say so
                    s1 = 0; s2 = 0
                    for (i = 1; i <= n; i++) { s1 += lat[r, i]; s2 += lat[r, i] * (i % 997) }
                    sig = n " " s1 " " s2; same = ""
                    for (q = 0; q < r; q++) if (sigof[q] == sig) { same = ", = " name[q]; break }
                    sigof[r] = sig
                    printf "\"%s (%d%s)\" 0\n", name[r], n, same > file
                    for (i = 1; i <= n; i++)
                        if (i % step == 0 || i == n || i == 1)
                            printf "%s %.6f\n", lat[r, i], i / n > file
                    close(file); ids = ids " " r
                }
                print ids > (tmp "/cdf.ids")
            }' "$tmp/policies.idx" "$tmp/lat"
        ids=$(cat "$tmp/cdf.ids")
        if [ -n "$ids" ]; then
            plot latency_cdf.gp latency_cdf "ids = '$ids'; w = 1100; h = 520"
        fi
    fi

    # tl_N.dat: time (ms) and L1 TLB miss rate (%), a moving average over `win`
    # intervals, every `win`-th interval past 2000 points; marks.dat: the
    # first policy's marks.
    if [ -f "$in/timeline.csv" ] && [ -s "$tmp/policies.idx" ]; then
        win=$(awk -v npol="$npol" 'END { s = int(NR / npol / 2000) + 1; print (s > 5 ? s : 5) }' "$in/timeline.csv")
        awk -v tmp="$tmp" -v win="$win" "$lib"'
            FNR == NR { split($0, p, "\t"); row[p[1]] = FNR - 1; mhz[p[1]] = p[2] + 0; next }
            FNR == 1 { csv_header($0, c); step = win > 5 ? win : 1; next }
            {
                csv_split($0, f); pol = f[c["policy"]]
                if (!(pol in row)) next
                r = row[pol]; scale = mhz[pol] > 0 ? mhz[pol] * 1000 : 1e6
                t = f[c["t_start"]] / scale
                if (f[c["kind"]] == "mark") {
                    if (r == 0) printf "%.6f %s\n", t, gp_str(f[c["label"]]) > (tmp "/marks.dat")
                    next
                }
                if (!(r in seen)) { seen[r] = 1; ids = ids " " r }
                k = (cnt[r]++) % win; acc[r, k] = f[c["accesses"]]; mis[r, k] = f[c["l1_misses"]]
                if (cnt[r] % step) next
                a = 0; m = 0
                for (j = 0; j < win; j++) { a += acc[r, j]; m += mis[r, j] }
                if (a == 0) next
                v = 100 * m / a
                printf "%.6f %.3f\n", (f[c["t_start"]] + f[c["t_end"]]) / 2 / scale, v > (tmp "/tl_" r ".raw")
                sig[r] = sig[r] + v * (cnt[r] % 997 + 1); n[r]++
            }
            END {
                print ids > (tmp "/tl.ids")
                for (q in mhz) if (row[q] == 0) print (mhz[q] > 0 ? "ms" : "Mcycles") > (tmp "/tl.unit")
                for (q in row) name[row[q]] = q
                for (r = 0; (r in name); r++) {
                    if (!(r in seen)) continue
                    same = ""
                    for (q = 0; q < r; q++)
                        if ((q in seen) && n[q] == n[r] && sig[q] == sig[r]) { same = " (= " name[q] ")"; break }
                    printf "\"%s%s\" 0\n", name[r], same > (tmp "/tl_" r ".dat")
                }
            }' \
            "$tmp/policies.idx" "$in/timeline.csv"
        # shellcheck disable=SC2013  # ids are words
        for id in $(cat "$tmp/tl.ids" 2>/dev/null); do
            [ -f "$tmp/tl_$id.raw" ] && cat "$tmp/tl_$id.raw" >> "$tmp/tl_$id.dat"
        done
        ids=$(cat "$tmp/tl.ids" 2>/dev/null)
        unit=$(cat "$tmp/tl.unit" 2>/dev/null)
        [ -f "$tmp/marks.dat" ] || : > "$tmp/marks.dat"
        if [ -n "$ids" ]; then
            plot timeline_miss_rate.gp timeline_miss_rate "ids = '$ids'; unit = '${unit:-ms}'; win = $win; w = 1000; h = 560"
        fi
    fi
fi

# == a sweep ====================================================================
if [ -f "$in/sweep_summary.csv" ]; then
    # sw_N.dat: cpus ipis p50 p99 for each combination of the other grid values.
    awk -v tmp="$tmp" "$lib"'
        NR == 1 {
            n = csv_header($0, c); csv_split($0, h); ng = 0; nk = 0
            for (i = 1; i <= n; i++)
                if (substr(h[i], 1, 5) == "grid." && h[i] != "grid.cpus") g[++ng] = i
            next
        }
        {
            csv_split($0, f); key = ""
            for (i = 1; i <= ng; i++) key = key (i > 1 ? ", " : "") f[g[i]]
            if (key == "") key = "all points"
            if (!(key in id)) { id[key] = nk; label[nk++] = key }
            print id[key], f[c["cpus"]], f[c["ipis_sent"]], f[c["shootdown_cycles_p50"]], f[c["shootdown_cycles_p99"]]
            cpus[f[c["cpus"]]] = 1
        }
        END {
            for (k in cpus) ncpus++
            for (k = 0; k < nk; k++) print k "\t" label[k] > (tmp "/sw.labels")
            print ncpus + 0 > (tmp "/sw.ncpus")
        }' "$in/sweep_summary.csv" | sort -k1,1n -k2,2n > "$tmp/sw"
    if [ "$(cat "$tmp/sw.ncpus" 2>/dev/null || echo 0)" -lt 2 ]; then
        echo "make-plots.sh: $in/sweep_summary.csv has fewer than 2 CPU counts: no vs-CPU plots"
    else
        awk -v tmp="$tmp" '
            FNR == NR { split($0, p, "\t"); label[p[1]] = p[2]; next }
            { file = tmp "/sw_" $1 ".dat"
              if (!($1 in seen)) { seen[$1] = 1; printf "\"%s\" 0 0 0\n", label[$1] > file; ids = ids " " $1 }
              print $2, $3, $4, $5 > file }
            END { print ids > (tmp "/sw.ids") }' "$tmp/sw.labels" "$tmp/sw"
        ids=$(cat "$tmp/sw.ids")
        sub=$(awk "$lib"'NR == 1 { csv_header($0, c) } NR == 2 { csv_split($0, f); t = f[c["trace"]]; sub(/-cpus[0-9]+/, "", t); printf "%s on %s", t, f[c["machine"]]; exit }' "$in/sweep_summary.csv")
        plot sweep_ipis.gp sweep_ipis_vs_cpus "ids = '$ids'"
        plot sweep_latency.gp sweep_latency_vs_cpus "ids = '$ids'"
    fi
fi

if [ -n "$made" ]; then
    echo "wrote$(echo "$made" | sed "s| | $out/|g") (.png and .svg)"
else
    echo "make-plots.sh: nothing to plot in $in" >&2
fi
exit $status
