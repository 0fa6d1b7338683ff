# plots/bars.gp - settings of the per-policy bar figures (after common.gp):
# bar figures: policy names under the bars, value labels over them (vertical
# in the paper size, where a bar is narrower than its label)
if (paper) {
    set xtics nomirror rotate by -50 left font ',6' offset -0.5,0
    set bmargin 8
    lrot = 90; lalign = 'left'; loff = 0.3
} else {
    set xtics nomirror rotate by -25 left
    set bmargin 6
    lrot = 0; lalign = 'center'; loff = 0.6
}
