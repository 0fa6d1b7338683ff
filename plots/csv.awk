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
