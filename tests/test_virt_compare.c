/* tests/test_virt_compare.c - the host-side VM workloads on their machines,
 * and scripts/virt-compare.sh's claims (docs/virtualization.md).
 *
 * The shipped vm_* specs must run on the machine their description names
 * with stale_accesses 0 and do what docs/workloads.md says; the comparison
 * script's cheapest configuration (2 and 8 vCPUs) must run, and the
 * orderings docs/virtualization.md states must hold in its CSV.
 * Runs build/tlbsim ($TLBSIM) with cwd = tests/.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clirun.h"
#include "harness.h"

TestSuite(virt_compare, .timeout = 240);

/* The cell of column col in the first data row of csv whose first two
 * fields are k1 and k2 (k1 NULL: the first data row).  Aborts the test when
 * there is none. */
static double cell(const char *csv, const char *k1, const char *k2, const char *col)
{
    const char *line = csv, *end = strchr(csv, '\n');
    int idx = -1;

    cr_assert_not_null(end, "no header");
    for (int i = 0; line < end; i++) {
        size_t len = strcspn(line, ",\n");
        if (len == strlen(col) && !strncmp(line, col, len))
            idx = i;
        line += len + (line[len] == ',');
    }
    cr_assert_geq(idx, 0, "no column %s", col);
    for (line = end + 1; *line; line = strchr(line, '\n') + 1) {
        char a[64], b[64];
        if (k1 && (sscanf(line, "%63[^,],%63[^,]", a, b) != 2 || strcmp(a, k1) || strcmp(b, k2))) {
            if (!strchr(line, '\n'))
                break;
            continue;
        }
        const char *c = line;
        for (int i = 0; i < idx; i++)
            c += strcspn(c, ",\n") + 1;
        return strtod(c, NULL);
    }
    cr_assert_fail("no row %s,%s", k1 ? k1 : "-", k2 ? k2 : "-");
    return 0;
}

/* tlbsim gen SPEC, then run it on machine with one optional --set; returns
 * the summary.csv text (malloc'd). */
static char *gen_run(struct cli_ws *ws, const char *spec, const char *machine,
                     const char *set)
{
    struct cli_res *r = malloc(sizeof(*r));
    char sp[4096], path[512];

    cr_assert(r);
    const char *g[] = { "gen", cli_repo(spec, sp, sizeof(sp)), "-o", "t.jsonl", NULL };
    cli_run(ws, g, 60, r);
    cr_assert_eq(r->status, 0, "gen %s: %s", spec, r->err);
    const char *a[] = { "run", "t.jsonl", "--machine", machine, "-q", "--out", "o",
                        set ? "--set" : NULL, set, NULL };
    cli_run(ws, a, 120, r);
    cr_assert_eq(r->status, 0, "run %s on %s: %s", spec, machine, r->err);
    free(r);
    char *csv = cli_slurp(cli_path(ws, "o/summary.csv", path, sizeof(path)), NULL);
    cr_assert_not_null(csv);
    return csv;
}

Test(virt_compare, vm_reclaim_zaps_and_refaults_without_stale_accesses)
{
    struct cli_ws ws;

    cli_ws_init(&ws);
    char *csv = gen_run(&ws, "workloads/vm_reclaim.json", "kvm-guest-skylake", NULL);
    cr_expect_eq(cell(csv, NULL, NULL, "stale_accesses"), 0);
    cr_expect_gt(cell(csv, NULL, NULL, "host_zaps"), 0);
    cr_expect_gt(cell(csv, NULL, NULL, "vcpu_kicks"), 0);
    /* ept.prefault backs only what the host never zapped: the re-touched
     * zapped pages fault back in (docs/workloads.md) */
    double refaults = cell(csv, NULL, NULL, "ept_violations");
    cr_expect_gt(refaults, 0, "the guest re-touches zapped pages");
    free(csv);
    csv = gen_run(&ws, "workloads/vm_reclaim.json", "kvm-guest-skylake", "ept.prefault=false");
    cr_expect_eq(cell(csv, NULL, NULL, "stale_accesses"), 0);
    /* the spec maps its memory with ept_map first, so nothing more faults */
    cr_expect_eq(cell(csv, NULL, NULL, "ept_violations"), refaults);
    free(csv);
    csv = gen_run(&ws, "workloads/vm_reclaim_tdx.json", "tdx-guest-spr", NULL);
    cr_expect_eq(cell(csv, NULL, NULL, "stale_accesses"), 0);
    cr_expect_gt(cell(csv, NULL, NULL, "host_zaps"), 0);
    /* every tdx_remove that removed a page tracks once */
    cr_expect_gt(cell(csv, NULL, NULL, "tdx_tracks"), 0);
    cr_expect_leq(cell(csv, NULL, NULL, "tdx_tracks"), cell(csv, NULL, NULL, "host_zaps"));
    free(csv);
    cli_ws_done(&ws);
}

Test(virt_compare, vm_migrate_every_round_reprotects_and_flushes)
{
    struct cli_ws ws;

    cli_ws_init(&ws);
    char *csv = gen_run(&ws, "workloads/vm_migrate.json", "kvm-guest-skylake", NULL);
    cr_expect_eq(cell(csv, NULL, NULL, "stale_accesses"), 0);
    /* 256 steps: rounds of 128, 64, ..., 1 steps */
    cr_expect_eq(cell(csv, NULL, NULL, "host_zaps"), 9);
    /* Guest writes take write-protection faults that make their pages
     * writable again, so every later round re-protects what was dirtied
     * and flushes: more kicks than the first round's 7 (8 vCPUs). */
    cr_expect_gt(cell(csv, NULL, NULL, "ept_dirty_faults"), 0);
    cr_expect_gt(cell(csv, NULL, NULL, "vcpu_kicks"), 7);
    cr_expect_gt(cell(csv, NULL, NULL, "vcpu_entry_flushes"), 8);
    free(csv);
    cli_ws_done(&ws);
}

Test(virt_compare, script_runs_and_its_orderings_hold)
{
    struct cli_ws ws;
    char script[4096], cmd[8192], path[512];

    cli_ws_init(&ws);
    snprintf(cmd, sizeof(cmd), "TLBSIM='%s' '%s' -c '2 8' -o '%s' >'%s/log' 2>&1", cli_bin(),
             cli_repo("scripts/virt-compare.sh", script, sizeof(script)), ws.dir, ws.root);
    cr_assert_eq(system(cmd), 0, "%s failed", cmd);
    char *csv = cli_slurp(cli_path(&ws, "virt-compare.csv", path, sizeof(path)), NULL);
    char *md = cli_slurp(cli_path(&ws, "virt-compare.md", path, sizeof(path)), NULL);
    cr_assert_not_null(csv);
    cr_assert_not_null(md);
    cr_expect(strstr(md, "| kick | 8 |") != NULL, "the table has the kick row");

#define LAT(c, n) cell(csv, c, n, "host_latency")
    /* kicks' and TDX tracking's host latency grow with the vCPUs */
    cr_expect_gt(LAT("kick", "8"), LAT("kick", "2"));
    cr_expect_gt(LAT("tdx", "8"), LAT("tdx", "2"));
    /* the enlightened flush's grows far less: below half of kicks' growth */
    cr_expect_lt(LAT("hv", "8") - LAT("hv", "2"), (LAT("kick", "8") - LAT("kick", "2")) / 2);
    /* at 2 vCPUs the hypercall is slower than one kick, at 8 faster */
    cr_expect_gt(LAT("hv", "2"), LAT("kick", "2"));
    cr_expect_lt(LAT("hv", "8"), LAT("kick", "8"));
    /* TDX tracking costs the host more than a kick on the same machine */
    cr_expect_gt(LAT("tdx", "2"), LAT("tdx-kick", "2"));
    cr_expect_gt(LAT("tdx", "8"), LAT("tdx-kick", "8"));
#undef LAT
    /* hv kicks nobody and leaves no request; TDX tracks once per op */
    cr_expect_eq(cell(csv, "hv", "8", "kicks"), 0);
    cr_expect_eq(cell(csv, "hv", "8", "entry_flushes"), 0);
    cr_expect_gt(cell(csv, "kick", "8", "kicks"), 0);
    cr_expect_gt(cell(csv, "tdx", "8", "tdx_tracks"), 0.95);
    cr_expect_leq(cell(csv, "tdx", "8", "tdx_tracks"), 1);
    /* the kicked vCPUs' exits and entries cost the VM more than hv's */
    cr_expect_gt(cell(csv, "kick", "8", "vm_cycles"), cell(csv, "hv", "8", "vm_cycles"));
    free(csv);
    free(md);
    cli_ws_done(&ws);
}
