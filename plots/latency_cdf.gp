# plots/latency_cdf.gp - CDF of shootdown latency per policy, over the flush
# requests that sent work to another CPU (flushes.csv rows with targets > 0;
# with --repeat, the first run of each policy).
# Input tmp/cdf_N.dat for N in ids: a title row, then latency fraction.
ph = 3.4
if (!exists('h')) { h = 640 }
load plotdir.'/common.gp'
set title ttl("Shootdown latency CDF (flush requests with remote targets; legend: policy (shootdowns))")
set xlabel (paper ? 'shootdown latency (cycles)' : 'shootdown latency (core cycles, log scale)') offset 0,(paper ? 0.3 : 0)
set ylabel 'fraction of shootdowns'
set logscale x
set format x '%.0s%c'
set yrange [0:1.02]
set ytics 0.2
set grid xtics ytics lt 0 lw 1 lc rgb '#cccccc'
# the key under the plot in columns: the plot keeps the full width
set key below horizontal maxcols (paper ? 2 : 3) Left reverse font ','.(paper ? fss : fs) \
    samplen 2 width -2 height 1
plot for [i = 1:words(ids)] sprintf('%s/cdf_%s.dat', tmp, word(ids, i)) \
     using 1:2 with steps lt (word(ids, i) + 1) title columnheader(1)
