# plots/sweep_ipis.gp - IPIs sent vs CPU count, one line per combination of
# the sweep's other grid values.  Input tmp/sw_N.dat: a title row, then
# cpus ipis p50 p99.
load plotdir.'/common.gp'
set title "TLB-flush IPIs vs CPU count\n".sub
set xlabel 'CPUs'
set ylabel 'IPIs over the whole run (count)'
set logscale x 2
set xtics 2
set yrange [0:*]
set key outside right center Left reverse
plot for [i = 1:words(ids)] sprintf('%s/sw_%s.dat', tmp, word(ids, i)) \
     using 1:2 with linespoints lt (word(ids, i) % 10 + 1) title columnheader(1)
