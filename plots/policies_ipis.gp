# plots/policies_ipis.gp - TLB-flush IPIs sent, and lazy CPUs skipped, per policy.
# Input tmp/policies.dat (make-plots.sh): row "policy" ipis lazy p50 p99 handler
# spin shootdowns cycles "mechanism" blocked mechanism_count
load plotdir.'/common.gp'
dat = tmp.'/policies.dat'
stats dat using 3 nooutput
ymax = STATS_max
stats dat using 4 nooutput
ymax = (STATS_max > ymax ? STATS_max : ymax)
set title "TLB-flush IPIs per policy (green: work sent another way instead)\n".sub
set ylabel 'IPIs over the whole run (count)'
set xlabel 'flush policy'
set yrange [0:(ymax > 0 ? ymax * 1.2 : 1)]
set xtics rotate by -25 left
set bmargin 6
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border rgb '#333333'
set boxwidth 1
set key top right
bw = 1.0 / 3
plot dat using 3:xtic(2) title 'IPIs sent' lc rgb '#0072B2', \
     '' using 4 title 'lazy CPUs skipped (no IPI sent)' lc rgb '#E69F00', \
     '' using ($0 - bw / 2):3:(sprintf('%d', $3)) with labels offset 0,0.6 font ',9' notitle, \
     '' using ($0 + bw / 2):4:(sprintf('%d', $4)) with labels offset 0,0.6 font ',9' notitle, \
     '' using 0:(($3 > $4 ? $3 : $4) + ymax * 0.05):($13 > 0 ? sprintf("%d\n%s", $13, \
        stringcolumn(11)) : '') with labels offset 0,1.5 font ',9' tc rgb '#009E73' notitle
