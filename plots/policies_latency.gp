# plots/policies_latency.gp - shootdown latency p50 and p99 per policy (log y).
# Input tmp/policies.dat (columns: make-plots.sh); runs > 1: means of the
# runs' percentiles with 95% CI error bars.
load plotdir.'/common.gp'
load plotdir.'/bars.gp'
dat = tmp.'/policies.dat'
stats dat using ($7 > 0 ? $7 : NaN) nooutput
ymin = STATS_min
stats dat using ($9 + $10) nooutput
ymax = STATS_max
set title ttl("Shootdown latency per policy (request until every target acknowledged)")
set ylabel (paper ? 'latency (cycles)' : 'latency (core cycles, log scale)')
set logscale y
set format y '%.0s%c'
if (!paper) { set ytics add ('2k' 2e3, '5k' 5e3, '20k' 2e4, '50k' 5e4, '200k' 2e5, '500k' 5e5, '2M' 2e6, '5M' 5e6) }
lo = (ymin > 0 ? ymin / 3 : 100)
set yrange [lo:(ymax > 0 ? ymax * (paper ? 6 : 8) : 1000)]
set style data histograms
if (runs > 1) {
    set style histogram errorbars gap 1 lw 1
    u1 = '($7 > 0 ? $7 : NaN):8'; u2 = '($9 > 0 ? $9 : NaN):10'
} else {
    set style histogram clustered gap 1
    u1 = '($7 > 0 ? $7 : NaN)'; u2 = '($9 > 0 ? $9 : NaN)'
}
set style fill solid 0.85 border rgb '#333333'
set boxwidth 1
if (paper) { set key tmargin center horizontal font ','.fss samplen 1.5 } else { set key top left horizontal font ','.fs }
bw = 1.0 / 3
plot dat using @u1:xtic(2) title 'p50' lc rgb '#56B4E9', \
     '' using @u2 title 'p99' lc rgb '#D55E00', \
     '' using ($0 - bw / 2):($7 > 0 ? $7 + $8 : NaN):(kfmt($7)) with labels offset 0,loff font ','.fss rotate by lrot @lalign notitle, \
     '' using ($0 + bw / 2):($9 > 0 ? $9 + $10 : NaN):(kfmt($9)) with labels offset 0,loff font ','.fss rotate by lrot @lalign notitle, \
     '' using 0:(lo * 1.6):($16 == 0 ? 'no shootdowns' : '') with labels font ','.fss rotate by (paper ? 90 : 0) notitle
