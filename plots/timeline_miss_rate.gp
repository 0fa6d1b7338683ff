# plots/timeline_miss_rate.gp - L1 TLB miss rate over time per policy, with
# the first policy's trace marks as dashed vertical lines.
# Input tmp/tl_N.dat (a title row, then time rate%), tmp/marks.dat (time "label").
load plotdir.'/common.gp'
set title sprintf("L1 TLB miss rate over time (moving average of %d intervals)\n", win).sub
set xlabel 'simulated time ('.unit.')'
set ylabel 'L1 TLB misses per reference (%)'
set yrange [0:110]
set ytics 0,20,100
set key inside bottom center horizontal maxrows 3 Left reverse width 2 opaque box lc rgb '#cccccc'
mk = tmp.'/marks.dat'
nm = system('wc -l < '.mk) + 0
plot for [i = 1:words(ids)] sprintf('%s/tl_%s.dat', tmp, word(ids, i)) \
         using 1:2 with lines lt (word(ids, i) + 1) lw 1.2 title columnheader(1), \
     (nm > 0 ? mk : NaN) using 1:(100):(0):(-100) with vectors nohead dt 2 lc rgb '#555555' notitle, \
     (nm > 0 ? mk : NaN) using 1:(104):2 with labels font ',9' tc rgb '#333333' notitle
