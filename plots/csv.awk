# plots/csv.awk - RFC 4180 field splitting shared by the plot scripts' awk
# programs (POSIX awk; fields hold no newlines, which tlbsim never writes).
#
#   csv_header(line, col)   col[NAME] = field number; returns the field count
#   csv_split(line, f)      f[1..n] = the fields, unquoted; returns n

function csv_split(line, f,    n, i, c, q, cur) {
    sub(/\r$/, "", line)
    if (index(line, "\"") == 0)
        return split(line, f, ",")
    n = 0; cur = ""; q = 0
    for (i = 1; i <= length(line); i++) {
        c = substr(line, i, 1)
        if (q) {
            if (c == "\"") {
                if (substr(line, i + 1, 1) == "\"") { cur = cur "\""; i++ }
                else q = 0
            } else
                cur = cur c
        } else if (c == "\"")
            q = 1
        else if (c == ",") { f[++n] = cur; cur = "" }
        else
            cur = cur c
    }
    f[++n] = cur
    return n
}

function csv_header(line, col,    f, n, i) {
    n = csv_split(line, f)
    for (i = 1; i <= n; i++)
        col[f[i]] = i
    return n
}

# gnuplot string literal: double quotes, with \ and " escaped.
function gp_str(s) {
    gsub(/\\/, "\\\\", s)
    gsub(/"/, "\\\"", s)
    return "\"" s "\""
}

# Half-width of the 95% confidence interval of a mean over n samples with
# sum s and sum of squares q; t is Student's t for n - 1 degrees of freedom
# (the t95 column of summary_stats.csv / sweep_stats.csv; "" or n < 2: 0).
function ci95(n, s, q, t,    v) {
    if (n < 2 || t == "") return 0
    v = (q - s * s / n) / (n - 1)
    return v > 0 ? t * sqrt(v / n) : 0
}

# The grid columns of a sweep_summary.csv header h[1..n] other than cpus and
# seed (cpus too when keep_cpus), into g[1..]; returns their number.
function grid_cols(h, n, g, keep_cpus,    i, k) {
    k = 0
    for (i = 1; i <= n; i++)
        if (substr(h[i], 1, 5) == "grid." && h[i] != "grid.seed" && (keep_cpus || h[i] != "grid.cpus"))
            g[++k] = i
    return k
}

# A row's group label: its values in columns g[1..n], comma-separated.
function group_label(f, g, n,    i, key) {
    key = ""
    for (i = 1; i <= n; i++) key = key (i > 1 ? ", " : "") f[g[i]]
    return key == "" ? "all points" : key
}
