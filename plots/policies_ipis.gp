# plots/policies_ipis.gp - TLB-flush IPIs sent, lazy CPUs skipped, and the
# flushes that went another way (hypercalls, broadcasts, deferred
# invalidations), per policy.
# Input tmp/policies.dat (columns: make-plots.sh); runs > 1: means with 95% CI
# error bars.
load plotdir.'/common.gp'
load plotdir.'/bars.gp'
dat = tmp.'/policies.dat'
stats dat using ($3 + $4) nooutput
ymax = STATS_max
stats dat using ($5 + $6) nooutput
ymax = (STATS_max > ymax ? STATS_max : ymax)
stats dat using 20 nooutput
ymax = (STATS_max > ymax ? STATS_max : ymax)
set title ttl("TLB-flush IPIs per policy, and flushes sent another way instead")
set ylabel 'IPIs over the whole run (count)'
if (ymax >= 1e4) { set format y '%.0s%c' } else { set format y '%.0f' }
set yrange [0:(ymax > 0 ? ymax * (paper ? 1.2 : 1.3) : 1)]
set style data histograms
if (runs > 1) {
    set style histogram errorbars gap 1 lw 1
    u1 = '3:4'; u2 = '5:6'; u3 = '20:(0)'
} else {
    set style histogram clustered gap 1
    u1 = '3'; u2 = '5'; u3 = '20'
}
set style fill solid 0.85 border rgb '#333333'
set boxwidth 1
if (paper) { set key tmargin center horizontal maxrows 2 font ','.fss samplen 1.5 } else { set key top right font ','.fs }
bw = 1.0 / 4
plot dat using @u1:xtic(2) title 'IPIs sent' lc rgb '#0072B2', \
     '' using @u2 title (paper ? 'lazy CPUs skipped' : 'lazy CPUs skipped (no IPI sent)') lc rgb '#E69F00', \
     '' using @u3 title (paper ? 'other way' : 'sent another way (hypercalls, broadcasts, deferred)') \
        lc rgb '#009E73', \
     '' using ($0 - bw):($3 + $4):(sprintf('%.0f', $3)) with labels offset 0,loff rotate by lrot @lalign font ','.fss notitle, \
     '' using ($0):($5 + $6):(sprintf('%.0f', $5)) with labels offset 0,loff rotate by lrot @lalign font ','.fss notitle, \
     '' using ($0 + bw):($20):($20 > 0 ? sprintf('%.0f', $20) : '') \
        with labels offset 0,loff rotate by lrot @lalign font ','.fss tc rgb '#009E73' notitle
