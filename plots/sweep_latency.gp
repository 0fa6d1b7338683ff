# plots/sweep_latency.gp - shootdown latency p99 (solid) and p50 (dashed) vs
# CPU count ("(= X)": the same p50 and p99 as X at every point); runs > 1:
# means over the seeds with 95% CI error bars.
# Input tmp/sw_N.dat: a title row, then cpus ipis ± p50 ± p99 ±.
load plotdir.'/common.gp'
set title ttl("Shootdown latency vs CPU count (p99 solid, p50 dashed)")
set xlabel 'CPUs'
set ylabel 'latency (core cycles, log scale)'
set logscale x 2
set xtics 2
set logscale y
set format y '%.0s%c'
if (!paper) { set ytics add ('2k' 2e3, '5k' 5e3, '20k' 2e4, '50k' 5e4, '200k' 2e5, '500k' 5e5, '2M' 2e6, '5M' 5e6) }
set key inside top left Left reverse font ','.(paper ? fss : fs) samplen 2
sty = runs > 1 ? 'yerrorlines' : 'linespoints'
plot for [i = 1:words(ids)] sprintf('%s/sw_%s.dat', tmp, word(ids, i)) \
         using 1:($6 > 0 ? $6 : NaN):7 with @sty lt (word(ids, i) % 10 + 1) title columnheader(2), \
     for [i = 1:words(ids)] sprintf('%s/sw_%s.dat', tmp, word(ids, i)) \
         using 1:($4 > 0 ? $4 : NaN):5 with @sty lt (word(ids, i) % 10 + 1) dt 2 pt 6 notitle
