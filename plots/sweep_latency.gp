# plots/sweep_latency.gp - shootdown latency p99 (solid) and p50 (dashed) vs
# CPU count.  Input tmp/sw_N.dat: a title row, then cpus ipis p50 p99.
load plotdir.'/common.gp'
set title "Shootdown latency vs CPU count (p99 solid, p50 dashed)\n".sub
set xlabel 'CPUs'
set ylabel 'latency (core cycles, log scale)'
set logscale x 2
set xtics 2
set logscale y
set format y '%.0s%c'
set ytics add ('2k' 2e3, '5k' 5e3, '20k' 2e4, '50k' 5e4, '200k' 2e5, '500k' 5e5, '2M' 2e6, '5M' 5e6)
set key outside right center Left reverse
plot for [i = 1:words(ids)] sprintf('%s/sw_%s.dat', tmp, word(ids, i)) \
         using 1:($4 > 0 ? $4 : NaN) with linespoints lt (word(ids, i) % 10 + 1) title columnheader(1), \
     for [i = 1:words(ids)] sprintf('%s/sw_%s.dat', tmp, word(ids, i)) \
         using 1:($3 > 0 ? $3 : NaN) with linespoints lt (word(ids, i) % 10 + 1) dt 2 pt 6 notitle
