# plots/policies_total_cost.gp - the whole cost per policy, summed over CPUs:
# where the cycles go (flush IPI handlers, initiators waiting for acks,
# initiators blocked in a flush hypercall or TLBSYNC (estimate, as in
# policies_cycles_lost), and page walks (walk_cycles: every TLB miss, the
# refills after flushes among them)), and next to it (under it in the paper
# size) the run time.  runs > 1: error bars are the 95% CI of the per-run
# totals and run times.
# Input tmp/policies.dat (columns: make-plots.sh).
ph = 4.2
load plotdir.'/common.gp'
dat = tmp.'/policies.dat'
stats dat using ($26 + $27) nooutput
ymax = STATS_max
stats dat using ($17 + $18) nooutput
cmax = STATS_max
stats dat using 24 nooutput
anyblk = STATS_max > 0
set multiplot title ttl("Where the cycles go (all CPUs) and run time, per policy")
set style data histograms
set style fill solid 0.85 border rgb '#333333'
set format y '%.0f'
# the stacked cost: left, or on top in the paper size (its policy names are
# those of the run-time panel under it)
if (paper) {
    set size 1, 0.5
    set origin 0, 0.5
    set bmargin 1
    set tmargin 1
    set lmargin 8
    unset xtics
} else {
    set size 0.62, 1
    set origin 0, 0
    set tmargin 4                       # room for the multiplot title
    set bmargin 9
    set xtics nomirror rotate by -35 left
}
set ylabel 'cycles, all CPUs (millions)'
set yrange [0:(ymax > 0 ? ymax * 1.45e-6 : 1)]
set style histogram rowstacked
set boxwidth 0.65
set key top left Left reverse font ','.(paper ? fss : fs) samplen 1.5
plot dat using ($22 / 1e6):xtic(2) title 'IPI handlers' lc rgb '#0072B2', \
     '' using ($23 / 1e6) title 'waiting for acks' lc rgb '#E69F00', \
     '' using ($24 / 1e6) title (anyblk ? 'hypercall / TLBSYNC (est.)' : '') \
        lc rgb '#009E73' fs pattern 4 border rgb '#333333', \
     '' using ($25 / 1e6) title 'page walks' lc rgb '#BBBBBB', \
     '' using 0:(runs > 1 ? $26 / 1e6 - $27 / 1e6 : NaN):(0):(2 * $27 / 1e6) \
        with vectors heads size screen 0.008,90 lc rgb '#000000' lw 1.5 notitle
# the run time
if (paper) {
    set size 1, 0.5
    set origin 0, 0
    set tmargin 0.5
    set bmargin 8
    set xtics nomirror rotate by -50 left font ',6' offset -0.5,0
} else {
    set size 0.38, 1
    set origin 0.62, 0
    set xtics nomirror rotate by -50 left font ','.fss
}
set ylabel 'run time (Mcycles)'
set yrange [0:(cmax > 0 ? cmax * 1.15e-6 : 1)]
set style histogram clustered gap 1
set boxwidth 0.8
unset key
plot dat using ($17 / 1e6):xtic(2) lc rgb '#666666', \
     '' using 0:(runs > 1 ? $17 / 1e6 - $18 / 1e6 : NaN):(0):(2 * $18 / 1e6) \
        with vectors heads size screen 0.008,90 lc rgb '#000000' lw 1.5 notitle
unset multiplot
