# plots/sweep_ipis.gp - IPIs sent vs CPU count, one line per combination of
# the sweep's other grid values ("(= X)": the same as X at every point);
# runs > 1: means over the seeds with 95% CI error bars.
# Input tmp/sw_N.dat: a title row, then cpus ipis ± p50 ± p99 ±.
load plotdir.'/common.gp'
set title ttl("TLB-flush IPIs vs CPU count")
set xlabel 'CPUs'
set ylabel 'IPIs over the whole run (count)'
set format y '%.0s%c'
set ytics format '%.0s%c'
set logscale x 2
set xtics 2
set yrange [0:*]
set key inside top left Left reverse font ','.(paper ? fss : fs) samplen 2
sty = runs > 1 ? 'yerrorlines' : 'linespoints'
plot for [i = 1:words(ids)] sprintf('%s/sw_%s.dat', tmp, word(ids, i)) \
     using 1:2:3 with @sty lt (word(ids, i) % 10 + 1) title columnheader(1)
