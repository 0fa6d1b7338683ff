# plots/common.gp - terminal, output and style shared by every figure.
# Set by make-plots.sh: fmt ('png', 'svg' or 'pdf'), pngterm ('pngcairo' or
# 'png'), out (output path without extension), paper (1: one column of a
# two-column paper, 3.3 inches wide), w and h (screen size in pixels), pw
# and ph (paper size in inches; default 3.3 x 2.9).
# Sets fs (font size for titles, axes and keys) and fss (value labels): use
# font ','.fss so that the paper set scales with them.
if (!exists("w")) w = 900
if (!exists("h")) h = 520
if (!exists("pw")) pw = 3.3
if (!exists("ph")) ph = 2.9
if (!exists("paper")) paper = 0
if (paper) {
    # 7 pt text, 6 pt labels at print size; the PNG is 300 dpi (cairo's png
    # works at 72 dpi: fontscale and linewidth scale by 300/72)
    fs = 7; fss = 6
    if (fmt eq 'pdf') {
        set terminal pdfcairo size pw,ph noenhanced font 'Helvetica,7' linewidth 0.5
    } else {
        set terminal pngcairo size pw * 300, ph * 300 noenhanced font 'Helvetica,7' \
            fontscale 300.0 / 72 linewidth 2 background rgb 'white'
    }
} else {
    fs = 11; fss = 9
    if (fmt eq 'svg') {
        set terminal svg size w,h dynamic noenhanced font 'Helvetica,13' background rgb 'white'
    } else {
        if (pngterm eq 'pngcairo') {
            set terminal pngcairo size w,h noenhanced font 'Helvetica,11' background rgb 'white'
        } else {
            set terminal png size w,h noenhanced
        }
    }
}
set output out.'.'.fmt

# Policy colours, by row of summary.csv (Okabe-Ito, then two more): the same
# policy has the same colour in every figure of one comparison.
array pc[10] = ['#000000', '#E69F00', '#56B4E9', '#009E73', '#D55E00', \
                '#0072B2', '#CC79A7', '#999999', '#882255', '#44AA99']
do for [i=1:10] {
    dti = (i <= 5 ? 1 : i - 4)
    set linetype i lc rgb pc[i] lw 2 pt 7 ps 0.8 dt dti
}
set linetype 11 lc rgb '#0072B2' lw 1.5
set linetype 12 lc rgb '#E69F00' lw 1.5

set border 3 lw 1
set tics nomirror out
set grid ytics lt 0 lw 1 lc rgb '#cccccc'
set key noautotitle
set datafile missing '?'
# a title line: the figure's subject, then the run it describes (screen only;
# a paper figure gets its caption from the paper)
ttl(what) = paper ? '' : what."\n".sub
# value labels: 1234567 -> 1.23M, 12345 -> 12k, 1234 -> 1.2k
kfmt(v) = v >= 1e6 ? sprintf('%.2fM', v / 1e6) : v >= 1e4 ? sprintf('%.0fk', v / 1e3) : v >= 1e3 ? sprintf('%.1fk', v / 1e3) : sprintf('%.0f', v)
