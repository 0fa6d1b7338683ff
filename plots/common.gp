# plots/common.gp - terminal, output and style shared by every figure.
# Set by make-plots.sh: fmt ('png' or 'svg'), pngterm ('pngcairo' or 'png'),
# out (output path without extension), w and h (size in pixels).
if (!exists("w")) w = 900
if (!exists("h")) h = 520
if (fmt eq 'svg') {
    set terminal svg size w,h dynamic noenhanced font 'Helvetica,13' background rgb 'white'
} else {
    if (pngterm eq 'pngcairo') {
        set terminal pngcairo size w,h noenhanced font 'Helvetica,11' background rgb 'white'
    } else {
        set terminal png size w,h noenhanced
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
