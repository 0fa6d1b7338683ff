/* tests/test_columns.c - the column tables of summary.csv and cpus.csv:
 * docs/output.md documents every column, the header is the table's, and a
 * row has one cell per column. */
#include "../sim/io/columns.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char doc[1 << 17];

static void load_doc(void)
{
    FILE *f = fopen("../docs/output.md", "rb");

    cr_assert(f, "../docs/output.md missing");
    size_t n = fread(doc, 1, sizeof(doc) - 1, f);
    fclose(f);
    doc[n] = '\0';
}

/* The text of the section whose heading starts with `head`, up to the next
 * "## " heading (NUL-terminated in place; doc is reloaded per test). */
static const char *section(const char *head)
{
    char *s = strstr(doc, head);

    cr_assert(s, "docs/output.md has no section '%s'", head);
    char *end = strstr(s + strlen(head), "\n## ");
    if (end)
        *end = '\0';
    return s;
}

static bool is_word(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* name appears in text as a whole word. */
static bool has_word(const char *text, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = text; (p = strstr(p, name)); p++)
        if ((p == text || !is_word(p[-1])) && !is_word(p[n]))
            return true;
    return false;
}

static void documents_all(const char *head, const struct col *cols, size_t n)
{
    load_doc();
    const char *s = section(head);
    for (size_t i = 0; i < n; i++)
        cr_expect(has_word(s, cols[i].name), "docs/output.md (%s) does not document column %s",
                  head, cols[i].name);
}

Test(columns, docs_list_every_summary_column)
{
    documents_all("## summary.csv", summary_cols, summary_nr_cols);
}

Test(columns, docs_list_every_cpus_column)
{
    documents_all("## cpus.csv", cpus_cols, cpus_nr_cols);
}

/* The whole-word match must not accept a prefix of a longer name. */
Test(columns, word_match_is_strict)
{
    cr_expect(!has_word("| shootdown_cycles_mean |", "shootdown_cycles"));
    cr_expect(has_word("| walks, walk_cycles |", "walks"));
    cr_expect(!has_word("nr_tlb_local_flush_all", "flush_all"));
}

/* Header cells are the table's names, in order; a row has as many cells. */
Test(columns, header_and_row_agree)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct cpu_row row = { .policy = "a,b", .cpu = 3 };

    cr_assert(f);
    row.st.accesses = 7;
    col_csv_header(f, cpus_cols, cpus_nr_cols);
    col_csv_row(f, cpus_cols, cpus_nr_cols, &row);
    fclose(f);
    cr_assert(!strncmp(buf, "policy,cpu,accesses,", 20), "%s", buf);
    char *nl = strchr(buf, '\n');
    cr_assert(nl);
    cr_expect(!strncmp(nl + 1, "\"a,b\",3,7,0,", 12), "row: %s", nl + 1);
    size_t commas_h = 0, commas_r = 0;
    for (char *p = buf; p < nl; p++)
        commas_h += *p == ',';
    for (char *p = nl + 1; *p; p++)
        commas_r += *p == ',';
    cr_expect_eq(commas_h + 1, cpus_nr_cols);
    cr_expect_eq(commas_r, commas_h + 1, "one more comma: the quoted policy");   /* "a,b" */
    free(buf);
}

/* One row written by col_csv_row against the same cells written one by one
 * with printf and csv_str's quoting rules. */
static void check_row(const struct col *cols, size_t n, const void *row, const char *what)
{
    char *got = NULL, *want = NULL;
    size_t glen = 0, wlen = 0;
    FILE *g = open_memstream(&got, &glen), *w = open_memstream(&want, &wlen);

    cr_assert(g && w);
    col_csv_row(g, cols, n, row);
    for (size_t i = 0; i < n; i++) {
        const struct col *c = &cols[i];
        if (i)
            fputc(',', w);
        if (c->type == COL_TEXT) {
            const char *t = col_text(c, row);
            bool quote = strpbrk(t, ",\"\r\n") != NULL;
            if (quote)
                fputc('"', w);
            for (; *t; t++)
                fprintf(w, *t == '"' && quote ? "\"\"" : "%c", *t);
            if (quote)
                fputc('"', w);
        } else if (c->type == COL_F1) {
            fprintf(w, "%.1f", col_f64(c, row));
        } else {
            fprintf(w, "%llu", (unsigned long long)col_u64(c, row));
        }
    }
    fputc('\n', w);
    fclose(g);
    fclose(w);
    cr_assert_str_eq(got, want, "%s", what);
    free(got);
    free(want);
}

/* Every cell of a row set through the column table: text, u32, u64 and
 * doubles (huge ones too: "%.1f" of 1e300 is 302 characters). */
static void fill_row(const struct col *cols, size_t n, void *row, u64 *seed, unsigned round)
{
    static const u64 edge[] = { 0, 1, 9, 10, 99, 100, 999999999, 1000000000, 4294967295u,
                                4294967296ull, 9999999999999999999ull, 10000000000000000000ull,
                                UINT64_MAX };
    static const double dbl[] = { 0, 0.05, 0.25, 1.5, 123456.789, 1e15, 1.8e19, 1e300 };
    static const char *const text[] = { "plain", "a,b", "say \"hi\"", "", "line\nbreak" };

    for (size_t i = 0; i < n; i++) {
        char *p = (char *)row + cols[i].off;
        u64 v;

        *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
        v = round < 13 ? edge[(round + i) % 13] : *seed >> (*seed % 64);
        if (round == 13)
            v = UINT64_MAX;             /* the longest row: past the writer's buffer */
        switch (cols[i].type) {
        case COL_TEXT: *(const char **)(void *)p = text[(round + i) % 5]; break;
        case COL_U32:  *(u32 *)(void *)p = (u32)v; break;
        case COL_U64:  *(u64 *)(void *)p = v; break;
        case COL_F1:   *(double *)(void *)p = dbl[(round + i) % 8] * (double)(v % 7); break;
        }
    }
}

Test(columns, rows_match_printf)
{
    u64 seed = 7;

    for (unsigned round = 0; round < 200; round++) {
        struct cpu_row c;
        struct summary_row s;

        memset(&c, 0, sizeof(c));
        memset(&s, 0, sizeof(s));
        fill_row(cpus_cols, cpus_nr_cols, &c, &seed, round);
        fill_row(summary_cols, summary_nr_cols, &s, &seed, round);
        check_row(cpus_cols, cpus_nr_cols, &c, "cpus.csv row");
        check_row(summary_cols, summary_nr_cols, &s, "summary.csv row");
    }
}
