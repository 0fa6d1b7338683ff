# plots/policies_latency.gp - shootdown latency p50 and p99 per policy (log y).
# Input tmp/policies.dat (make-plots.sh): row "policy" ipis lazy p50 p99 handler
# spin shootdowns cycles "mechanism" blocked mechanism_count
load plotdir.'/common.gp'
dat = tmp.'/policies.dat'
stats dat using 5 nooutput
ymin = STATS_min
stats dat using 6 nooutput
ymax = STATS_max
set title "Shootdown latency per policy (request until every target acknowledged)\n".sub
set ylabel 'latency (core cycles, log scale)'
set xlabel 'flush policy'
set logscale y
set format y '%.0s%c'
lo = (ymin > 0 ? ymin / 3 : 100)
set yrange [lo:(ymax > 0 ? ymax * 8 : 1000)]
set xtics rotate by -25 left
set bmargin 6
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border rgb '#333333'
set boxwidth 1
set key top left
bw = 1.0 / 3
fmt(v) = v >= 1e6 ? sprintf('%.2fM', v / 1e6) : v >= 1e4 ? sprintf('%.0fk', v / 1e3) : v >= 1e3 ? sprintf('%.1fk', v / 1e3) : sprintf('%.0f', v)
plot dat using ($5 > 0 ? $5 : NaN):xtic(2) title 'p50' lc rgb '#56B4E9', \
     '' using ($6 > 0 ? $6 : NaN) title 'p99' lc rgb '#D55E00', \
     '' using ($0 - bw / 2):($5 > 0 ? $5 : NaN):(fmt($5)) with labels offset 0,0.6 font ',9' notitle, \
     '' using ($0 + bw / 2):($6 > 0 ? $6 : NaN):(fmt($6)) with labels offset 0,0.6 font ',9' notitle, \
     '' using 0:(lo * 1.6):($9 == 0 ? 'no shootdowns' : '') with labels font ',9' notitle
