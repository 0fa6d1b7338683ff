/* sim/cli/table.c - CSV files in memory (see table.h). */
#include "table.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void table_free(struct table *t)
{
    free(t->text);
    free(t->cell);
    memset(t, 0, sizeof(*t));
}

static int read_all(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 1 << 16, n = 0, k;
    char *buf = NULL, *nb;

    if (!f)
        return errno == ENOENT ? SIM_ENOENT : SIM_EIO;
    for (;;) {
        if (!(nb = realloc(buf, cap + 1)))
            break;
        buf = nb;
        k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (n < cap || cap >= TABLE_MAX_BYTES)
            break;
        cap *= 2;
    }
    fclose(f);
    if (!nb || n >= TABLE_MAX_BYTES) {
        free(buf);
        return nb ? SIM_ELIMIT : SIM_ENOMEM;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return SIM_OK;
}

/* Unquote one field starting at *pp in place; returns the terminator seen
 * (',', '\n' or 0) and advances *pp past it.  -1 on a malformed quote. */
static int next_field(char **pp, char **start)
{
    char *p = *pp, *w = p;

    *start = p;
    if (*p == '"') {
        for (p++;; p++) {
            if (!*p)
                return -1;
            if (*p == '"' && p[1] == '"')
                *w++ = *p++;
            else if (*p == '"')
                break;
            else
                *w++ = *p;
        }
        p++;
        if (*p == '\r')
            p++;
        if (*p && *p != ',' && *p != '\n')
            return -1;
    } else {
        while (*p && *p != ',' && *p != '\n')
            *w++ = *p++;
        if (w > *start && w[-1] == '\r')
            w--;
    }
    int term = *p;
    *w = 0;                             /* may overwrite the terminator: term keeps it */
    *pp = term ? p + 1 : p;
    return term;
}

static int grow_cells(struct table *t, size_t need, size_t *cap)
{
    char **nc;

    if (need <= *cap)
        return 0;
    *cap = *cap ? *cap * 2 : 256;
    if (*cap < need)
        *cap = need;
    if (!(nc = realloc(t->cell, *cap * sizeof(*nc))))
        return -1;
    t->cell = nc;
    return 0;
}

/* Load path.  SIM_ENOENT when absent; other errors print a one-line message. */
int table_load(const char *path, struct table *t)
{
    size_t len, cap = 0, n = 0;
    u32 line = 1, col = 0;
    char *p, *f;
    int rc, term;

    memset(t, 0, sizeof(*t));
    if ((rc = read_all(path, &t->text, &len)))
        goto fail;
    for (p = t->text; *p;) {
        if ((term = next_field(&p, &f)) < 0) {
            fprintf(stderr, "tlbsim: %s:%u: unbalanced quote\n", path, line);
            rc = SIM_EPARSE;
            goto fail;
        }
        if (grow_cells(t, n + 1, &cap)) {
            rc = SIM_ENOMEM;
            goto fail;
        }
        t->cell[n++] = f;
        col++;
        if (term == ',')
            continue;
        if (line == 1)
            t->ncols = col;
        else if (col != t->ncols) {
            fprintf(stderr, "tlbsim: %s:%u: %u fields, the header has %u\n", path,
                    line, col, t->ncols);
            rc = SIM_EPARSE;
            goto fail;
        }
        col = 0;
        line++;
    }
    if (!t->ncols || col) {
        fprintf(stderr, "tlbsim: %s: %s\n", path, t->ncols ? "truncated last line"
                                                                   : "empty file");
        rc = SIM_EPARSE;
        goto fail;
    }
    t->nrows = (u32)(n / t->ncols) - 1;
    return SIM_OK;
fail:
    if (rc == SIM_EIO || rc == SIM_ELIMIT || rc == SIM_ENOMEM)
        fprintf(stderr, "tlbsim: %s: cannot read%s\n", path,
                rc == SIM_ELIMIT ? " (too large)" : "");
    table_free(t);
    return rc;
}

int table_col(const struct table *t, const char *name)
{
    for (u32 c = 0; c < t->ncols; c++)
        if (!strcmp(t->cell[c], name))
            return (int)c;
    return -1;
}

const char *table_cell(const struct table *t, u32 row, int col)
{
    return col < 0 ? "" : t->cell[(size_t)(row + 1) * t->ncols + (u32)col];
}

/* The cell as a number; NAN when the column is absent or the cell is not one. */
double table_num(const struct table *t, u32 row, const char *name)
{
    return table_num_at(t, row, table_col(t, name));
}

double table_num_at(const struct table *t, u32 row, int col)
{
    const char *s = table_cell(t, row, col);
    char *end;
    double v;

    if (!*s)
        return NAN;
    v = strtod(s, &end);
    return *end ? NAN : v;
}
