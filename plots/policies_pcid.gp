# plots/policies_pcid.gp - what PCID changes at context switches, per policy:
# task-switch flushes, switches that kept their ASID (NOFLUSH: flushes
# avoided), flushes that took an ASID from another mm, and PTI's user-PCID
# flushes deferred to the return to user space.
# Input tmp/policies.dat (columns: make-plots.sh); runs > 1: means with 95% CI
# error bars.
load plotdir.'/common.gp'
load plotdir.'/bars.gp'
dat = tmp.'/policies.dat'
ymax = 0
do for [col in '28 30 32 34'] {
    stats dat using (column(int(col)) + column(int(col) + 1)) nooutput
    ymax = (STATS_max > ymax ? STATS_max : ymax)
}
set title ttl("Context switches with PCID: flushes, flushes avoided, ASID recycling, PTI")
set ylabel 'count over the whole run'
if (ymax >= 1e4) { set format y '%.0s%c' } else { set format y '%.0f' }
set yrange [0:(ymax > 0 ? ymax * (paper ? 1.2 : 1.3) : 1)]
set style data histograms
if (runs > 1) {
    set style histogram errorbars gap 1 lw 1
    u1 = '28:29'; u2 = '30:31'; u3 = '32:33'; u4 = '34:35'
} else {
    set style histogram clustered gap 1
    u1 = '28'; u2 = '30'; u3 = '32'; u4 = '34'
}
set style fill solid 0.85 border rgb '#333333'
set boxwidth 1
if (paper) { set key tmargin center horizontal maxrows 2 font ','.fss samplen 1.5 } else { set key top right font ','.fs }
bw = 1.0 / 5
plot dat using @u1:xtic(2) title 'task-switch flushes' lc rgb '#0072B2', \
     '' using @u2 title (paper ? 'kept ASID' : 'switches that kept their ASID (NOFLUSH)') lc rgb '#009E73', \
     '' using @u3 title (paper ? 'ASID recycled' : 'flushes taking an ASID from another mm') lc rgb '#E69F00', \
     '' using @u4 title (paper ? 'PTI user flushes' : 'PTI: user PCID flushed on return to user') lc rgb '#CC79A7', \
     '' using ($0 - 1.5 * bw):($28 + $29):(sprintf('%.0f', $28)) with labels offset 0,loff rotate by lrot @lalign font ','.fss notitle, \
     '' using ($0 - 0.5 * bw):($30 + $31):(sprintf('%.0f', $30)) with labels offset 0,loff rotate by lrot @lalign font ','.fss notitle, \
     '' using ($0 + 0.5 * bw):($32 + $33):($32 > 0 ? sprintf('%.0f', $32) : '') with labels offset 0,loff rotate by lrot @lalign font ','.fss notitle, \
     '' using ($0 + 1.5 * bw):($34 + $35):($34 > 0 ? sprintf('%.0f', $34) : '') with labels offset 0,loff rotate by lrot @lalign font ','.fss notitle
