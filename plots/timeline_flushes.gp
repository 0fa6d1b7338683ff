# plots/timeline_flushes.gp - flush work over simulated time, per policy:
# cumulative TLB-flush IPIs sent (top) and cumulative full TLB flushes
# (bottom, flush_full: CR3 reloads by flush handling, whose refills are the
# cost a full flush adds), with the first policy's trace marks as dashed
# lines.  A line that ends early is a policy that finished the trace sooner.
# Input tmp/tl_N.dat (a title row, then time ipis full), tmp/marks.dat.
ph = 3.8
if (!exists('h')) { h = 760 }
load plotdir.'/common.gp'
mk = tmp.'/marks.dat'
nm = system('wc -l < '.mk) + 0
set multiplot title ttl("Flush work over time (cumulative)")
# top panel without x labels, with the key in its empty upper left corner
set size 1, 0.5
set origin 0, 0.5
set tmargin (paper ? 1 : 4)
set xlabel ''
set format x ''
set ylabel 'IPIs sent'
y1 = ymax1 > 0 ? ymax1 * 1.05 : 1
if (y1 >= 1e4) { set format y '%.0s%c' } else { set format y '%.0f' }
y2 = ymax2 > 0 ? ymax2 * 1.05 : 1
set yrange [0:y1]
set lmargin (paper ? 8 : 10)
set key inside top left Left reverse opaque font ','.(paper ? fss : fs) samplen 2 spacing (paper ? 0.9 : 1)
set bmargin 0.5
plot for [i = 1:words(ids)] sprintf('%s/tl_%s.dat', tmp, word(ids, i)) \
         using 1:2 with lines lt (word(ids, i) + 1) title columnheader(1), \
     (nm > 0 ? mk : NaN) using 1:(0):(0):(y1) with vectors nohead dt 2 lc rgb '#555555' notitle
set xlabel 'simulated time ('.unit.')'
set format x '%g'
set ylabel 'full TLB flushes'
set yrange [0:y2]
set size 1, 0.5
set origin 0, 0
set tmargin 0.5
unset bmargin
unset key
plot for [i = 1:words(ids)] sprintf('%s/tl_%s.dat', tmp, word(ids, i)) \
         using 1:3 with lines lt (word(ids, i) + 1) notitle, \
     (nm > 0 ? mk : NaN) using 1:(0):(0):(y2) with vectors nohead dt 2 lc rgb '#555555' notitle, \
     (nm > 0 ? mk : NaN) using 1:(0):2 with labels rotate by 90 left offset 0.3,0.3 font ','.fss \
         tc rgb '#333333' notitle
unset multiplot
