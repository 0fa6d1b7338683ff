# plots/policies_cycles_lost.gp - cycles lost per CPU: time in flush IPI
# handlers plus initiators' spinning for acknowledgements, averaged over CPUs
# ((handler_cycles + spin_cycles) / cpus).  Policies whose initiators block in
# a flush hypercall or TLBSYNC instead get a hatched third part, estimated as
# shootdowns x mean latency / cpus (summary.csv has no counter for it); its
# legend entry appears only when a bar has that part.  runs > 1: error bars
# on the total (95% CI of the per-run totals).
# Input tmp/policies.dat (columns: make-plots.sh).
load plotdir.'/common.gp'
load plotdir.'/bars.gp'
dat = tmp.'/policies.dat'
stats dat using ($14 + $15) nooutput
ymax = STATS_max
stats dat using 13 nooutput
anyblk = STATS_max > 0
set title ttl("Cycles lost per CPU to TLB shootdowns (labels: total, share of run time)")
set ylabel 'cycles per CPU (millions)'
set format y '%.1f'
set yrange [0:(ymax > 0 ? ymax * (paper ? 1.25 : 1.3) * 1e-6 : 1)]
set style data histograms
set style histogram rowstacked
set style fill solid 0.85 border rgb '#333333'
set boxwidth 0.6
# the key clear of the bars and their labels: under the plot, or (paper,
# no title) above it
if (paper) {
    set key tmargin center horizontal font ','.fss samplen 1.5
} else {
    set key bmargin center horizontal font ','.fs samplen 2
    set bmargin 7.5
}
lbl(t, c) = t == 0 ? '0' : kfmt(t).(paper ? '' : sprintf("\n%.1f%%", c > 0 ? 100 * t / c : 0))
plot dat using ($11 / 1e6):xtic(2) title (paper ? 'handlers' : 'IPI handlers') lc rgb '#0072B2', \
     '' using ($12 / 1e6) title (paper ? 'waiting for acks' : 'initiator waiting for acks') lc rgb '#E69F00', \
     '' using ($13 / 1e6) title (anyblk ? (paper ? 'hypercall/TLBSYNC (est.)' : 'in hypercall / TLBSYNC (estimate)') : '') \
        lc rgb '#009E73' fs pattern 4 border rgb '#333333', \
     '' using 0:(runs > 1 ? ($14 + $15) / 1e6 - $15 / 1e6 : NaN):(0):(2 * $15 / 1e6) \
        with vectors heads size screen 0.008,90 lc rgb '#000000' lw 1.5 notitle, \
     '' using 0:(($14 + $15) / 1e6):(lbl($14, $17)) with labels offset 0,(paper ? 0.3 : 1.6) \
        rotate by lrot @lalign font ','.fss notitle
