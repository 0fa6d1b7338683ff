/* sim/io/import_lackey.c - valgrind lackey --trace-mem=yes -> one CPU, one mm.
 *
 * Lackey prints one line per memory reference of the guest program:
 *
 *     I  04016a0e,3        instruction fetch (address, size)   -> access x
 *      L 1ffefffe18,8      load                                -> access r
 *      S 1ffefffe10,8      store                               -> access w
 *      M 0421f3a8,4        modify (load + store, same address) -> access w
 *
 * plus valgrind's own "==PID== ..." messages.  Two passes: the first
 * collects the 4K pages the program touched (and whether they were executed
 * or written), so the trace can map them before the first access; the
 * second writes the references in order, consecutive ones of the same kind
 * batched into one access op (at most IMP_LK_BATCH addresses).
 *
 * Mappings: each run of consecutive touched pages of one class becomes one
 * map op: rx (rwx if also written) for executed pages, rw for the others,
 * populate:false so that first touches fault as they did in the real run
 * (lackey traces start at the first instruction, in ld.so).  The real
 * program's mappings were larger; pages it never touched are left out.
 * A reference that straddles a page boundary touches both pages.
 */
#include "import_lackey.h"

#include <stdlib.h>
#include <string.h>


/* ===== Touched pages: page number -> LK_* flags (a u64map) ================ */

int ps_add(struct u64map *s, u64 page, u8 flags)
{
    u64 *v = u64map_slot(s, page);

    if (!v)
        return SIM_ENOMEM;
    *v |= flags;
    return SIM_OK;
}

/* ===== Lines ============================================================= */

#define LK_NOT_LACKEY "not a lackey line (expected I, L, S or M)"

static int lk_parse_ref(const char *p, struct lk_ref *r, const char **why)
{
    u64 size;

    switch (*p) {
    case 'I': r->kind = 'x'; break;
    case 'L': r->kind = 'r'; break;
    case 'S': r->kind = 'w'; break;
    case 'M': r->kind = 'w'; break;
    default:
        *why = LK_NOT_LACKEY;
        return LK_BAD;
    }
    if (p[1] != ' ' && p[1] != '\t') {
        *why = LK_NOT_LACKEY;
        return LK_BAD;
    }
    p = imp_skip_ws(p + 1);
    if (!(p = imp_parse_hex(p, &r->va)) || *p != ',') {
        *why = "bad address (expected HEX,SIZE)";
        return LK_BAD;
    }
    if (!(p = imp_parse_dec(p + 1, &size)) || *imp_skip_ws(p)) {
        *why = "bad size (expected HEX,SIZE)";
        return LK_BAD;
    }
    if (size > 4096) {
        *why = "size above 4096 bytes";
        return LK_BAD;
    }
    r->size = size ? size : 1;
    if (r->va >= LK_USER_TOP || r->va + r->size > LK_USER_TOP) {
        *why = "not a user-space address";
        return LK_BAD;
    }
    return LK_REF;
}

/* "[pre-success] Success(0xRET)", "Failure(0xERR)" after the arrow. */
static int lk_parse_result(const char *p, struct lk_sys *y, const char **why)
{
    p = imp_skip_ws(p);
    if (*p == '[' && (p = strchr(p, ']')))
        p = imp_skip_ws(p + 1);
    if (p && !strncmp(p, "Success(", 8))
        y->ok = true;
    else if (!p || strncmp(p, "Failure(", 8)) {
        *why = "SYSCALL: cannot read the result (Success(...) or Failure(...))";
        return LK_BAD;
    }
    if (!(p = imp_parse_hex(p + 8, &y->ret)) || *p != ')') {
        *why = "SYSCALL: cannot read the result value";
        return LK_BAD;
    }
    return LK_SYS;
}

/* "( a, b, ... )": numbers in hex (0x...) or decimal; clone prints its
 * flags in hex without 0x.  Other tokens (strings) are stepped over. */
static void lk_parse_args(const char *p, struct lk_sys *y)
{
    bool clone = !strcmp(y->name, "clone");

    for (p = imp_skip_ws(p + 1); *p && *p != ')' && y->nargs < ARRAY_SIZE(y->args);) {
        const char *e = (p[0] == '0' && p[1] == 'x') || (clone && !y->nargs)
                        ? imp_parse_hex(p, &y->args[y->nargs]) : imp_parse_dec(p, &y->args[y->nargs]);
        int depth = 0;
        if (!e)
            break;
        y->nargs++;
        for (p = e; *p && (depth || (*p != ',' && *p != ')')); p++)
            depth += *p == '(' ? 1 : *p == ')' ? -1 : 0;
        if (*p == ',')
            p = imp_skip_ws(p + 1);
    }
}

static int lk_parse_sys(const char *p, struct lk_sys *y, const char **why)
{
    const char *arrow;
    size_t n;

    memset(y, 0, sizeof(*y));
    if (!strncmp(p, "-->", 3)) {
        y->state = LS_CONT_DONE;
        return lk_parse_result(p + 3, y, why);
    }
    p += 8;                                     /* "SYSCALL[" */
    if (!(p = imp_parse_dec(p, &y->pid)) || *p != ',' || !(p = imp_parse_dec(p + 1, &y->tid)) ||
        p[0] != ']' || p[1] != '(' || !(p = imp_parse_dec(p + 2, &y->nr)) || *p != ')') {
        *why = "SYSCALL: cannot read [PID,TID](NR)";
        return LK_BAD;
    }
    if (!y->tid || y->tid > LK_MAX_TID) {
        *why = "SYSCALL: thread id out of range";
        return LK_BAD;
    }
    p = imp_skip_ws(p + 1);
    arrow = strstr(p, "-->");
    if (!strncmp(p, "...", 3)) {
        if (!arrow) {
            *why = "SYSCALL: async completion without a result";
            return LK_BAD;
        }
        y->state = LS_ASYNC_DONE;
        return lk_parse_result(arrow + 3, y, why);
    }
    if (!strncmp(p, "sys_", 4))
        p += 4;
    n = strcspn(p, " (");
    memcpy(y->name, p, n < sizeof(y->name) ? n : sizeof(y->name) - 1);
    if (*(p = imp_skip_ws(p + n)) == '(')
        lk_parse_args(p, y);
    if (!arrow) {
        y->state = LS_CONT;
        return LK_SYS;
    }
    if (!strncmp(imp_skip_ws(arrow + 3), "[async]", 7)) {
        y->state = LS_ASYNC;
        return LK_SYS;
    }
    y->state = LS_DONE;
    return lk_parse_result(arrow + 3, y, why);
}

/* "--PID--   SCHED[TID]:  acquired lock (...)"; other messages are ignored. */
static int lk_parse_msg(const char *p, struct lk_line *l)
{
    const char *q = imp_parse_dec(p + 2, &l->pid);

    if (!q || strncmp(q, "--", 2) || !(q = strstr(q, "SCHED[")) ||
        !(q = imp_parse_dec(q + 6, &l->tid)) || strncmp(q, "]:", 2) ||
        !strstr(q, "acquired lock") || !l->tid || l->tid > LK_MAX_TID)
        return LK_IGNORE;
    return LK_SCHED;
}

char *lk_split(char *line)
{
    for (char *p = strstr(line + 1, "--"); p; p = strstr(p + 1, "--")) {
        char *q = p + 2;
        if (p[-1] != ' ' || *q < '0' || *q > '9')
            continue;
        while (*q >= '0' && *q <= '9')
            q++;
        if (!strncmp(q, "--", 2)) {
            p[-1] = '\0';
            return p;
        }
    }
    return NULL;
}

int lk_parse(const char *s, struct lk_line *l, const char **why)
{
    const char *p = imp_skip_ws(s);

    if (!strncmp(p, "SYSCALL[", 8) || !strncmp(p, "-->", 3))
        return lk_parse_sys(p, &l->sys, why);
    if (!strncmp(p, "--", 2) && p[2] >= '0' && p[2] <= '9')
        return lk_parse_msg(p, l);
    if (!*p || !strncmp(p, "==", 2) || !strncmp(p, "--", 2) || !strncmp(p, "**", 2) ||
        !strncmp(p, "SB ", 3) || *p == '#')
        return LK_IGNORE;
    return lk_parse_ref(p, &l->ref, why);
}

/* ===== Pass 1: pages ===================================================== */

static int lk_scan_part(struct imp *im, struct u64map *ps, const char *s, struct lk_scan *sc)
{
    struct lk_line l;
    const char *why = "";
    u8 fl;

    int kind = lk_parse(s, &l, &why);

    switch (kind) {
    case LK_IGNORE:
        im->st->ignored++;
        return SIM_OK;
    case LK_BAD:
        return imp_skip(im, "%s", why);
    case LK_SYS:
    case LK_SCHED: {
        u64 tid = kind == LK_SCHED ? l.tid : l.sys.tid;
        sc->max_tid = tid > sc->max_tid ? (u32)tid : sc->max_tid;
        sc->threaded++;
        im->st->events++;
        if (kind == LK_SYS && lk_scan_sys(sc, &l.sys))
            return sim_err_set(im->err, SIM_ENOMEM, "%s: out of memory", im->in);
        return SIM_OK;
    }
    default:
        fl = l.ref.kind == 'x' ? LK_X : l.ref.kind == 'w' ? LK_W : 0;
        sc->refs++;
        im->st->events++;
        for (u64 pg = l.ref.va >> 12; pg <= (l.ref.va + l.ref.size - 1) >> 12; pg++)
            if (ps_add(ps, pg, fl))
                return sim_err_set(im->err, SIM_ENOMEM, "%s: out of memory", im->in);
        return SIM_OK;
    }
}

static int lk_scan(struct imp *im, struct u64map *ps, struct lk_scan *sc)
{
    int rc;

    while ((rc = imp_getline(im)) == 1) {
        char *msg = lk_split(im->buf);
        if ((rc = lk_scan_part(im, ps, im->buf, sc)) || (msg && (rc = lk_scan_part(im, ps, msg, sc))))
            return rc;
    }
    return rc;
}

static int cmp_u64(const void *a, const void *b)
{
    u64 x = *(const u64 *)a, y = *(const u64 *)b;
    return x < y ? -1 : x > y;
}

u8 lk_prot(u8 fl)
{
    if (fl & LK_X)
        return (u8)(PROT_R | PROT_X | ((fl & LK_W) ? PROT_W : 0));
    return PROT_R | PROT_W;
}

/* Runs of consecutive pages of one protection -> map ops (barriers).  Pages
 * marked LK_DYN are left out; the others are marked LK_MAPPED. */
int lk_map_regions(struct imp *im, struct u64map *ps)
{
    u64 *pg = malloc((ps->n ? ps->n : 1) * sizeof(*pg));
    size_t n = 0;
    int rc = SIM_OK;

    if (!pg)
        return sim_err_set(im->err, SIM_ENOMEM, "%s: out of memory", im->in);
    for (size_t i = 0; i < ps->cap; i++) {
        if (!ps->k[i] || (ps->v[i] & LK_DYN))
            continue;
        pg[n++] = (ps->k[i] - 1) << 4 | lk_prot((u8)ps->v[i]);
        ps->v[i] |= LK_MAPPED;
    }
    qsort(pg, n, sizeof(*pg), cmp_u64);
    for (size_t i = 0; i < n && rc >= 0;) {
        size_t j = i + 1;
        while (j < n && (pg[j] >> 4) == (pg[j - 1] >> 4) + 1 && (pg[j] & 15) == (pg[i] & 15))
            j++;
        struct trace_op op = { .type = OP_MAP, .mm = 1, .page_shift = PAGE_SHIFT_4K };
        op.va = (pg[i] >> 4) << 12;
        op.len = (u64)(j - i) << 12;
        op.prot = (u8)(pg[i] & 15);
        rc = imp_emit(im, &op);
        i = j;
    }
    free(pg);
    return rc < 0 ? rc : SIM_OK;
}

/* The single-CPU form (also ChampSim's): header, mm 1, maps of the touched
 * pages, CPU 0 switched to mm 1; then the input again from the start. */
int lk_one_cpu_start(struct imp *im, struct u64map *ps, const char *source)
{
    struct trace_op op;
    int rc;

    if ((rc = imp_open_out(im, im->o->cpus ? im->o->cpus : 1, imp_basename(im->in), source)))
        return rc;
    memset(&op, 0, sizeof(op));
    op.type = OP_MM_NEW;
    op.mm = 1;
    if ((rc = imp_emit_must(im, &op)) || (rc = lk_map_regions(im, ps)))
        return rc;
    memset(&op, 0, sizeof(op));
    op.type = OP_SWITCH;
    op.flags = OPF_CPU;
    op.mm = 1;
    if ((rc = imp_emit_must(im, &op)))
        return rc;
    return imp_rewind(im, true);
}

/* ===== Pass 2: references ================================================ */

int lk_flush(struct imp *im, struct lk_batch *b)
{
    struct trace_op op = { .type = OP_ACCESS, .flags = OPF_CPU, .cpu = b->cpu };
    int rc;

    if (!b->n)
        return SIM_OK;
    op.va = b->va[0];
    op.vas = b->va;
    op.nr_va = b->n;
    op.kind = (u8)b->kind;
    if (b->n > 1)
        op.flags |= OPF_VA_ARRAY;
    if (b->has_t) {
        op.flags |= OPF_T;
        op.t = b->t;
    }
    b->n = 0;
    rc = imp_emit(im, &op);
    return rc < 0 ? rc : SIM_OK;
}

int lk_add(struct imp *im, struct lk_batch *b, char kind, u64 va)
{
    int rc;

    if ((b->n && b->kind != kind) || b->n == LK_BATCH)
        if ((rc = lk_flush(im, b)))
            return rc;
    b->kind = kind;
    b->va[b->n++] = va;
    return SIM_OK;
}

static int lk_refs(struct imp *im)
{
    struct lk_batch b = { .n = 0 };
    struct lk_line l;
    const char *why;
    int rc;

    while ((rc = imp_getline(im)) == 1) {
        if (lk_parse(im->buf, &l, &why) != LK_REF)
            continue;
        struct lk_ref r = l.ref;
        u64 last = r.va + r.size - 1;
        if ((rc = lk_add(im, &b, r.kind, r.va)))
            return rc;
        if ((last >> 12) != (r.va >> 12) && (rc = lk_add(im, &b, r.kind, last & ~4095ull)))
            return rc;
    }
    return rc < 0 ? rc : lk_flush(im, &b);
}

int import_lackey(struct imp *im)
{
    struct u64map ps = { 0 };
    struct lk_scan sc = { 0 };
    int rc;

    if ((rc = lk_scan(im, &ps, &sc)))
        goto out;
    if (!sc.refs) {
        rc = sim_err_set(im->err, SIM_EPARSE, "%s: no lackey references found "
                         "(expected lines like \"I  0400a0e,3\" and \" L 1ffefffe18,8\")", im->in);
        goto out;
    }
    if (sc.threaded) {
        rc = lk_mt_import(im, &ps, &sc);
        goto out;
    }
    if ((rc = lk_one_cpu_start(im, &ps, "lackey")) == SIM_OK)
        rc = lk_refs(im);
out:
    u64map_free(&ps);
    free(sc.rng);
    return rc < 0 ? rc : SIM_OK;
}
