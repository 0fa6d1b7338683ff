#!/bin/sh
# plots/make-plots.sh [--paper] IN_DIR OUT_DIR - figures from the CSVs of
# `tlbsim run` and `tlbsim sweep`, as PNG and SVG (with --paper: PDF and a
# 300 dpi PNG, 3.3 inches wide, for one column of a two-column paper),
# through gnuplot (awk and sort prepare the data; no other dependency).
#
# From IN_DIR/summary.csv, flushes.csv and timeline.csv (one comparison run),
# or from IN_DIR/sweep_summary.csv when the sweep has no CPU-count axis (one
# bar per combination of the grid values other than seed):
#   policies_ipis         IPIs sent and lazy CPUs skipped, per policy
#   policies_latency      shootdown latency p50 and p99, per policy
#   policies_cycles_lost  cycles lost per CPU (handlers + spinning), per policy
#   policies_total_cost   where the cycles go, summed over CPUs, and run time
#   policies_pcid         task-switch flushes, those avoided (PCID NOFLUSH), ASID
#                         recycling flushes, PTI's deferred user flushes (only
#                         when some policy kept an ASID or deferred a flush)
#   latency_cdf           CDF of shootdown latency, per policy (run only)
#   timeline_flushes      cumulative IPIs and full TLB flushes over time (run only)
# From IN_DIR/sweep_summary.csv (tlbsim sweep with a cpus axis):
#   sweep_ipis_vs_cpus    IPIs vs CPU count, one line per other grid point
#   sweep_latency_vs_cpus shootdown p50 and p99 vs CPU count
# Repeated runs (run --repeat, or a sweep's seed axis) are averaged, and bars
# and lines get error bars: the 95% confidence interval of the mean (Student
# t with the t95 value of summary_stats.csv / sweep_stats.csv).  Two series
# that coincide say so in the legend ("batched (= linux)").
#
# Without gnuplot (or with GNUPLOT=/nonexistent) it says so and exits 0.
# Exit status: 0 ok or skipped, 2 bad usage or no input, 1 a figure failed.
set -u

GNUPLOT=${GNUPLOT:-gnuplot}
here=$(cd "$(dirname "$0")" && pwd)

usage="usage: plots/make-plots.sh [--paper] IN_DIR OUT_DIR   (IN_DIR: a tlbsim run --out or sweep --out)"
if [ $# -eq 1 ] && { [ "$1" = "-h" ] || [ "$1" = "--help" ]; }; then
    echo "$usage"
    exit 0
fi
paper=0
if [ $# -ge 1 ] && [ "$1" = "--paper" ]; then
    paper=1
    shift
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
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
status=0
made=""
lib=$(cat "$here/csv.awk") || exit 1   # prepended to each awk program

if "$GNUPLOT" -e "set terminal pngcairo" >/dev/null 2>&1; then pngterm=pngcairo; else pngterm=png; fi

# A gnuplot string: single quotes, a quote doubled.
gpq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"; }

if [ $paper = 1 ]; then fmts="pdf png"; else fmts="png svg"; fi

# plot SCRIPT NAME [gnuplot assignments]: NAME.png and NAME.svg (NAME.pdf and
# NAME.png with --paper) in OUT_DIR.
plot() {
    {
        echo "plotdir = $(gpq "$here"); tmp = $(gpq "$tmp"); pngterm = '$pngterm'"
        echo "out = $(gpq "$out/$2"); sub = $(gpq "$sub"); paper = $paper"
        [ $# -ge 3 ] && echo "$3"
    } > "$tmp/vars.gp"
    for fmt in $fmts; do
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

# == per-policy bars: one comparison run, or a sweep without a CPU-count axis ======
# policies.dat, one row per policy (or grid combination), means over repeats:
#  1 row  2 "label"  3 ipis 4 ±  5 lazy 6 ±  7 p50 8 ±  9 p99 10 ±
#  11 handler/cpu  12 spin/cpu  13 blocked/cpu  14 lost/cpu 15 ±
#  16 shootdowns  17 cycles 18 ±  19 "mechanism"  20 mechanism count  21 runs
#  22 handler (all CPUs)  23 spin  24 blocked  25 walk_cycles  26 lost+walks 27 ±
#  28 task_switch_flushes 29 ±  30 task_switch_noflush 31 ±
#  32 asid_recycle_flushes 33 ±  34 user_asid_deferred_flushes 35 ±
# ± is the half-width of the 95% confidence interval (0 for single runs).
src=""; stats=""; labels=""
if [ -f "$in/summary.csv" ]; then
    src="$in/summary.csv"; stats="$in/summary_stats.csv"; labels=policy
elif [ -f "$in/sweep_summary.csv" ] &&
     [ "$(awk "$lib"'NR == 1 { csv_header($0, c) } NR > 1 { csv_split($0, f); n[f[c["cpus"]]] = 1 } END { for (k in n) m++; print m + 0 }' "$in/sweep_summary.csv")" -lt 2 ]; then
    src="$in/sweep_summary.csv"; stats="$in/sweep_stats.csv"; labels=grid
fi
if [ -n "$src" ]; then
    [ -f "$stats" ] || stats=/dev/null
    awk -v tmp="$tmp" -v labels="$labels" "$lib"'
        # the t value for n runs, from the statistics file of the same runs
        FILENAME == ARGV[1] { if (FNR == 1) csv_header($0, sc); else { csv_split($0, g); t95[g[sc["runs"]]] = g[sc["t95"]] + 0 }; next }
        FNR == 1 {
            nc = csv_header($0, c); csv_split($0, h); ng = 0
            if (labels == "grid") nl = grid_cols(h, nc, lc, 0); else { nl = 1; lc[1] = c["policy"] }
            next
        }
        function acc(k, name, v) { s[k, name] += v; q[k, name] += v * v }
        function mean(k, name) { return s[k, name] / cnt[k] }
        function ci(k, name) { return ci95(cnt[k], s[k, name], q[k, name], t95[cnt[k]]) }
        {
            csv_split($0, f); key = group_label(f, lc, nl)
            if (!(key in id)) { id[key] = ng; name[ng++] = key }
            k = id[key]; cnt[k]++
            cpus = f[c["cpus"]] + 0; if (cpus < 1) cpus = 1
            # what carries the flushes when no IPI does
            if (f[c["hypercalls"]] > 0) how[k] = "hypercalls"
            if (f[c["broadcasts"]] > 0) how[k] = "broadcasts"
            if (f[c["deferred_invalidations"]] > 0) how[k] = "deferred"
            hown = f[c["hypercalls"]] + f[c["broadcasts"]] + f[c["deferred_invalidations"]]
            # initiators blocked in a synchronous hypercall or TLBSYNC are not in
            # spin_cycles: estimate them as shootdowns x mean latency
            blk = 0
            if (f[c["spin_cycles"]] == 0 && (f[c["hypercalls"]] > 0 || f[c["broadcasts"]] > 0))
                blk = f[c["shootdowns"]] * f[c["shootdown_cycles_mean"]]
            hd = f[c["handler_cycles"]]; sp = f[c["spin_cycles"]]; wk = f[c["walk_cycles"]]
            acc(k, "ipis", f[c["ipis_sent"]]); acc(k, "lazy", f[c["ipis_skipped_lazy"]])
            acc(k, "p50", f[c["shootdown_cycles_p50"]]); acc(k, "p99", f[c["shootdown_cycles_p99"]])
            acc(k, "hd", hd / cpus); acc(k, "sp", sp / cpus); acc(k, "blk", blk / cpus)
            acc(k, "lost", (hd + sp + blk) / cpus); acc(k, "sd", f[c["shootdowns"]])
            acc(k, "cyc", f[c["cycles"]]); acc(k, "hown", hown)
            acc(k, "HD", hd); acc(k, "SP", sp); acc(k, "BLK", blk); acc(k, "WK", wk)
            acc(k, "ALL", hd + sp + blk + wk)
            # PCID counters (absent in older summaries: 0)
            acc(k, "TSF", f[c["task_switch_flushes"]] + 0)
            acc(k, "NOF", ("task_switch_noflush" in c) ? f[c["task_switch_noflush"]] + 0 : 0)
            acc(k, "REC", ("asid_recycle_flushes" in c) ? f[c["asid_recycle_flushes"]] + 0 : 0)
            acc(k, "DEF", ("user_asid_deferred_flushes" in c) ? f[c["user_asid_deferred_flushes"]] + 0 : 0)
            if (ng == 1 && cnt[k] == 1)
                printf "%s on %s, %s CPUs", f[c["trace"]], f[c["machine"]], f[c["cpus"]] > (tmp "/sub")
            if (cnt[k] == 1) print key "\t" f[c["freq_mhz"]] > (tmp "/policies.idx")
        }
        END {
            for (k = 0; k < ng; k++) {
                printf "%d %s %.1f %.1f %.1f %.1f %.1f %.1f %.1f %.1f %.1f %.1f %.1f %.1f %.1f %.1f %.1f %.1f %s %.1f %d %.1f %.1f %.1f %.1f %.1f %.1f %.1f %.1f %.1f %.1f %.1f %.1f %.1f %.1f\n", k,
                    gp_str(name[k]), mean(k, "ipis"), ci(k, "ipis"), mean(k, "lazy"), ci(k, "lazy"),
                    mean(k, "p50"), ci(k, "p50"), mean(k, "p99"), ci(k, "p99"),
                    mean(k, "hd"), mean(k, "sp"), mean(k, "blk"), mean(k, "lost"), ci(k, "lost"),
                    mean(k, "sd"), mean(k, "cyc"), ci(k, "cyc"), gp_str(how[k]), mean(k, "hown"), cnt[k],
                    mean(k, "HD"), mean(k, "SP"), mean(k, "BLK"), mean(k, "WK"), mean(k, "ALL"), ci(k, "ALL"),
                    mean(k, "TSF"), ci(k, "TSF"), mean(k, "NOF"), ci(k, "NOF"),
                    mean(k, "REC"), ci(k, "REC"), mean(k, "DEF"), ci(k, "DEF") > (tmp "/policies.dat")
                if (cnt[k] > maxn) maxn = cnt[k]
                if (s[k, "NOF"] > 0 || s[k, "DEF"] > 0) pcid = 1
            }
            print maxn + 0 > (tmp "/runs")
            print pcid + 0 > (tmp "/pcid")
        }' "$stats" "$src"
    sub=$(cat "$tmp/sub" 2>/dev/null)
    runs=$(cat "$tmp/runs" 2>/dev/null || echo 1)
    if [ "${runs:-1}" -gt 1 ]; then sub="$sub; mean of $runs runs, bars: 95% CI"; fi
    if [ -s "$tmp/policies.dat" ]; then
        npol=$(wc -l < "$tmp/policies.dat")
        plot policies_ipis.gp policies_ipis "n = $npol; runs = $runs"
        plot policies_latency.gp policies_latency "n = $npol; runs = $runs"
        plot policies_cycles_lost.gp policies_cycles_lost "n = $npol; runs = $runs"
        plot policies_total_cost.gp policies_total_cost "n = $npol; runs = $runs; w = 1000; h = 560"
        if [ "$(cat "$tmp/pcid" 2>/dev/null)" = 1 ]; then
            plot policies_pcid.gp policies_pcid "n = $npol; runs = $runs"
        fi
    fi
fi

# == one comparison run: per-request and over-time figures ======================
if [ -f "$in/summary.csv" ]; then
    sub=$(cat "$tmp/sub" 2>/dev/null)
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
            plot latency_cdf.gp latency_cdf "ids = '$ids'; w = 900; h = 600"
        fi
    fi

    # tl_N.dat: time (ms) and the cumulative IPIs sent and full TLB flushes of
    # policy row N, at most ~2000 points per policy; marks.dat: the first
    # policy's marks.
    if [ -f "$in/timeline.csv" ] && [ -s "$tmp/policies.idx" ]; then
        step=$(awk -v npol="$npol" 'END { print int(NR / npol / 2000) + 1 }' "$in/timeline.csv")
        awk -v tmp="$tmp" -v step="$step" "$lib"'
            FNR == NR { split($0, p, "\t"); row[p[1]] = FNR - 1; mhz[p[1]] = p[2] + 0; next }
            FNR == 1 { csv_header($0, c); next }
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
                ipi[r] += f[c["ipis_sent"]]; full[r] += f[c["flush_full"]]
                if (ipi[r] > maxipi) maxipi = ipi[r]
                if (full[r] > maxfull) maxfull = full[r]
                h1[r] += ipi[r] * (cnt[r] % 997 + 1); h2[r] += full[r] * (cnt[r] % 991 + 1)
                if ((cnt[r]++) % step) { last[r] = sprintf("%.6f %.0f %.0f", f[c["t_end"]] / scale, ipi[r], full[r]); next }
                last[r] = ""
                printf "%.6f %.0f %.0f\n", f[c["t_end"]] / scale, ipi[r], full[r] > (tmp "/tl_" r ".raw")
            }
            END {
                print ids > (tmp "/tl.ids")
                printf "ymax1 = %.0f; ymax2 = %.0f\n", maxipi, maxfull > (tmp "/tl.max")
                for (q in mhz) if (row[q] == 0) print (mhz[q] > 0 ? "ms" : "Mcycles") > (tmp "/tl.unit")
                for (q in row) name[row[q]] = q
                for (r = 0; (r in name); r++) {
                    if (!(r in seen)) continue
                    if (last[r] != "") print last[r] > (tmp "/tl_" r ".raw")
                    same = ""
                    for (q = 0; q < r; q++)
                        if ((q in seen) && cnt[q] == cnt[r] && h1[q] == h1[r] && h2[q] == h2[r]) { same = " (= " name[q] ")"; break }
                    printf "\"%s%s\" 0 0\n", name[r], same > (tmp "/tl_" r ".dat")
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
            plot timeline_flushes.gp timeline_flushes "ids = '$ids'; unit = '${unit:-ms}'; w = 900; h = 780; $(cat "$tmp/tl.max")"
        fi
    fi
fi

# == a sweep over CPU counts ======================================================
if [ -f "$in/sweep_summary.csv" ]; then
    # sw_N.dat: cpus ipis ± p50 ± p99 ± for each combination of the other grid
    # values (seed excluded: its runs are averaged), title row with "= X" notes.
    stats="$in/sweep_stats.csv"
    [ -f "$stats" ] || stats=/dev/null
    awk -v tmp="$tmp" "$lib"'
        FILENAME == ARGV[1] { if (FNR == 1) csv_header($0, sc); else { csv_split($0, g); t95[g[sc["runs"]]] = g[sc["t95"]] + 0 }; next }
        FNR == 1 {
            n = csv_header($0, c); csv_split($0, h); nk = 0
            ng = grid_cols(h, n, g, 0)
            next
        }
        function ci(k, name) { return ci95(cnt[k], s[k, name], q[k, name], t95[cnt[k]]) }
        {
            csv_split($0, f); key = group_label(f, g, ng)
            if (!(key in id)) { id[key] = nk; label[nk++] = key }
            cp = f[c["cpus"]] + 0; k = id[key] SUBSEP cp
            if (!(k in cnt)) { pts[id[key]] = pts[id[key]] " " cp }
            cnt[k]++
            split("ipis_sent shootdown_cycles_p50 shootdown_cycles_p99", mc, " ")
            for (j = 1; j <= 3; j++) { v = f[c[mc[j]]]; s[k, j] += v; q[k, j] += v * v }
            cpus[cp] = 1; tr[f[c["trace"]]] = 1
            if (!(f[c["machine"]] in mach)) { mach[f[c["machine"]]] = 1; nmach++ }
        }
        END {
            for (x in cpus) ncpus++
            for (x in tr) ntr++
            for (i = 0; i < nk; i++) {
                np = split(pts[i], pl, " "); line = ""
                for (j = 1; j <= np; j++) {
                    k = i SUBSEP pl[j]; m = cnt[k]
                    line = line sprintf("%s %.1f %.1f %.1f %.1f %.1f %.1f\n", pl[j], s[k, 1] / m, ci(k, 1),
                                        s[k, 2] / m, ci(k, 2), s[k, 3] / m, ci(k, 3))
                    if (m > maxn) maxn = m
                }
                body[i] = line
                # a series equal to an earlier one at every point is drawn under it: say so
                ipis_same = ""; lat_same = ""
                for (o = 0; o < i; o++) {
                    if (ipis_same == "" && ipis_sig(o) == ipis_sig(i)) ipis_same = " (= " label[o] ")"
                    if (lat_same == "" && lat_sig(o) == lat_sig(i)) lat_same = " (= " label[o] ")"
                }
                file = tmp "/sw_" i ".dat"
                printf "\"%s%s\" \"%s%s\" 0 0 0 0 0\n", label[i], ipis_same, label[i], lat_same > file
                printf "%s", line > file
                close(file); ids = ids " " i
            }
            print ids > (tmp "/sw.ids")
            print ncpus + 0 > (tmp "/sw.ncpus")
            print maxn + 0 > (tmp "/sw.runs")
            # the subtitle: one trace, or one generated per CPU count
            for (x in tr) t1 = x
            for (x in mach) m1 = x
            if (ntr > 1 && t1 ~ /-cpus[0-9]+\.jsonl$/) { sub(/-cpus[0-9]+\.jsonl$/, "", t1); t1 = "a trace per CPU count generated from " t1 ".json" }
            else if (ntr > 1) t1 = ntr " different traces"
            printf "%s, on %s%s", t1, m1, (nmach > 1 ? " and other machines" : "") > (tmp "/sw.sub")
        }
        function ipis_sig(i,    np, pl, j, r) { np = split(pts[i], pl, " "); r = ""; for (j = 1; j <= np; j++) r = r " " pl[j] ":" s[i SUBSEP pl[j], 1] / cnt[i SUBSEP pl[j]]; return r }
        function lat_sig(i,    np, pl, j, r, k) { np = split(pts[i], pl, " "); r = ""; for (j = 1; j <= np; j++) { k = i SUBSEP pl[j]; r = r " " pl[j] ":" s[k, 2] / cnt[k] "/" s[k, 3] / cnt[k] }; return r }
    ' "$stats" "$in/sweep_summary.csv"
    if [ "$(cat "$tmp/sw.ncpus" 2>/dev/null || echo 0)" -ge 2 ]; then
        ids=$(cat "$tmp/sw.ids")
        sub=$(cat "$tmp/sw.sub")
        swruns=$(cat "$tmp/sw.runs" 2>/dev/null || echo 1)
        if [ "${swruns:-1}" -gt 1 ]; then sub="$sub; mean of $swruns runs, bars: 95% CI"; fi
        plot sweep_ipis.gp sweep_ipis_vs_cpus "ids = '$ids'; runs = $swruns"
        plot sweep_latency.gp sweep_latency_vs_cpus "ids = '$ids'; runs = $swruns"
    fi
fi

if [ -n "$made" ]; then
    echo "wrote$(echo "$made" | sed "s| | $out/|g") ($(echo $fmts | sed 's/ / and ./; s/^/./'))"
else
    echo "make-plots.sh: nothing to plot in $in" >&2
fi
exit $status
