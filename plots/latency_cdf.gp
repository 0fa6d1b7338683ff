# plots/latency_cdf.gp - CDF of shootdown latency per policy, over the flush
# requests that sent work to another CPU (flushes.csv rows with targets > 0).
# Input tmp/cdf_N.dat for N in ids: a title row, then latency fraction.
load plotdir.'/common.gp'
set title "Shootdown latency CDF (flush requests with remote targets)\n".sub
set xlabel 'shootdown latency (core cycles, log scale)'
set ylabel 'fraction of shootdowns'
set logscale x
set format x '%.0s%c'
set yrange [0:1.02]
set ytics 0.2
set grid xtics ytics lt 0 lw 1 lc rgb '#cccccc'
set key outside right center title 'policy (shootdowns)' reverse Left
plot for [i = 1:words(ids)] sprintf('%s/cdf_%s.dat', tmp, word(ids, i)) \
     using 1:2 with steps lt (word(ids, i) + 1) title columnheader(1)
