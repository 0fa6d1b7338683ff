# plots/policies_cycles_lost.gp - cycles lost per CPU: time in flush IPI
# handlers plus initiators' spinning for acknowledgements, averaged over CPUs
# ((handler_cycles + spin_cycles) / cpus).  Policies whose initiators block in
# a flush hypercall or TLBSYNC instead get a hatched third part, estimated as
# shootdowns x mean latency / cpus (summary.csv has no counter for it).
# Input tmp/policies.dat (make-plots.sh): row "policy" ipis lazy p50 p99 handler
# spin shootdowns cycles "mechanism" blocked mechanism_count
load plotdir.'/common.gp'
dat = tmp.'/policies.dat'
stats dat using ($7 + $8 + $12) nooutput
ymax = STATS_max
set title "Cycles lost per CPU to TLB shootdowns (labels: total, share of run time)\n".sub
set ylabel 'cycles per CPU over the run (millions)'
set xlabel 'flush policy'
set format y '%.1f'
set yrange [0:(ymax > 0 ? ymax * 1.25e-6 : 1)]
set xtics rotate by -25 left
set bmargin 6
set style data histograms
set style histogram rowstacked
set style fill solid 0.85 border rgb '#333333'
set boxwidth 0.6
set key top right
lbl(t, c) = t == 0 ? '0' : (t >= 1e6 ? sprintf('%.2fM', t / 1e6) : sprintf('%.0fk', t / 1e3)).sprintf("\n%.1f%%", c > 0 ? 100 * t / c : 0)
plot dat using ($7 / 1e6):xtic(2) title 'in flush IPI handlers' lc rgb '#0072B2', \
     '' using ($8 / 1e6) title 'initiator waiting for acks' lc rgb '#E69F00', \
     '' using ($12 / 1e6) title 'initiator in hypercall / TLBSYNC (estimate)' \
        lc rgb '#009E73' fs pattern 4 border rgb '#333333', \
     '' using 0:(($7 + $8 + $12) / 1e6):(lbl($7 + $8 + $12, $10)) with labels offset 0,1.6 font ',9' notitle
