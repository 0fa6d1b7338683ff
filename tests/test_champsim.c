/* tests/test_champsim.c - `tlbsim import champsim` on small traces written
 * here byte by byte in ChampSim's input_instr layout (64 bytes, little
 * endian: ip, is_branch, branch_taken, 2 + 4 register ids, 2 destination
 * and 4 source addresses). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../sim/io/import.h"
#include "clirun.h"
#include "harness.h"

struct rec {
    u64 ip;
    u8 is_branch, taken;
    u64 dst[2], src[4];
};

static void put64(u8 *p, u64 v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (u8)(v >> (8 * i));
}

/* The records, then `tail` extra bytes of garbage (a truncated record). */
static const char *write_trace(const char *path, const struct rec *r, int n, size_t tail)
{
    FILE *f = fopen(path, "wb");

    cr_assert(f);
    for (int i = 0; i < n; i++) {
        u8 b[64] = { 0 };
        put64(b, r[i].ip);
        b[8] = r[i].is_branch;
        b[9] = r[i].taken;
        b[10] = 7;                              /* register ids are not used */
        b[12] = 25;
        for (int j = 0; j < 2; j++)
            put64(b + 16 + 8 * j, r[i].dst[j]);
        for (int j = 0; j < 4; j++)
            put64(b + 32 + 8 * j, r[i].src[j]);
        fwrite(b, 1, sizeof(b), f);
    }
    for (size_t i = 0; i < tail; i++)
        fputc(0x11, f);
    fclose(f);
    return path;
}

static const struct rec three[] = {
    { 0x401000, 0, 0, { 0, 0 }, { 0x7ffd0000, 0, 0, 0 } },
    { 0x401004, 1, 1, { 0x602010, 0 }, { 0, 0, 0, 0 } },
    { 0x402000, 0, 0, { 0x602018, 0x603000 }, { 0x7ffd0008, 0x604000, 0, 0 } },
};

static const char three_expect[] =
    "{\"op\":\"mm_new\",\"mm\":1}\n"
    "{\"op\":\"map\",\"mm\":1,\"va\":\"0x401000\",\"len\":\"0x2000\",\"page\":\"4k\",\"prot\":\"rx\",\"populate\":false}\n"
    "{\"op\":\"map\",\"mm\":1,\"va\":\"0x602000\",\"len\":\"0x3000\",\"page\":\"4k\",\"prot\":\"rw\",\"populate\":false}\n"
    "{\"op\":\"map\",\"mm\":1,\"va\":\"0x7ffd0000\",\"len\":\"0x1000\",\"page\":\"4k\",\"prot\":\"rw\",\"populate\":false}\n"
    "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"
    "{\"op\":\"access\",\"cpu\":0,\"va\":\"0x401000\",\"kind\":\"x\"}\n"
    "{\"op\":\"access\",\"cpu\":0,\"va\":\"0x7ffd0000\",\"kind\":\"r\"}\n"
    "{\"op\":\"access\",\"cpu\":0,\"va\":\"0x401004\",\"kind\":\"x\"}\n"
    "{\"op\":\"access\",\"cpu\":0,\"va\":\"0x602010\",\"kind\":\"w\"}\n"
    "{\"op\":\"access\",\"cpu\":0,\"va\":\"0x402000\",\"kind\":\"x\"}\n"
    "{\"op\":\"access\",\"cpu\":0,\"va\":[\"0x7ffd0008\",\"0x604000\"],\"kind\":\"r\"}\n"
    "{\"op\":\"access\",\"cpu\":0,\"va\":[\"0x602018\",\"0x603000\"],\"kind\":\"w\"}\n";

Test(champsim, records_become_fetches_reads_writes,
     .init = h_tmpdir_setup, .fini = h_tmpdir_teardown)
{
    struct import_opts o = { .strict = true };
    struct import_stats st;
    struct sim_err err = { 0 };
    const char *in = write_trace(h_tmp_path("t.champsim"), three, 3, 0);
    const char *out = h_tmp_path("t.jsonl");
    char *text;

    cr_assert_eq(import_file("champsim", in, out, &o, &st, &err), SIM_OK, "%s", err.msg);
    text = cli_slurp(out, NULL);
    cr_assert(text);
    cr_expect(!strncmp(text, "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":1,\"name\":\"t.champsim\","
                       "\"source\":\"champsim\"}\n", 83), "%s", text);
    cr_expect_str_eq(strchr(text, '\n') + 1, three_expect);
    cr_expect_eq(st.events, 3);
    free(text);

    /* the trace runs: every page faults in once, no bad access */
    struct h_run h;
    text = cli_slurp(out, NULL);
    cr_assert_eq(h_run(&h, text, flush_policy_find("linux"), NULL), 0, "%s", h.err.msg);
    cr_expect_eq(h.t.cpu.page_faults, 6);
    cr_expect_eq(h.t.cpu.bad_accesses, 0);
    h_done(&h);
    free(text);
}

Test(champsim, truncated_record_is_an_error)
{
    struct cli_ws ws;
    struct cli_res r;
    const char *argv[] = { "import", "champsim", "t.champsim", "-o", "o.jsonl", NULL };
    char in[512];

    cli_ws_init(&ws);
    write_trace(cli_path(&ws, "t.champsim", in, sizeof(in)), three, 3, 10);
    cli_run(&ws, argv, 30, &r);
    cr_expect_eq(r.status, 2);
    cr_expect_str_eq(r.err, "tlbsim: t.champsim: record 4: truncated (10 of 64 bytes)\n");
    char p[512];
    cr_expect(access(cli_path(&ws, "o.jsonl", p, sizeof(p)), F_OK) != 0, "no output left behind");
    cli_ws_done(&ws);
}

Test(champsim, bad_records_skipped_or_strict_error,
     .init = h_tmpdir_setup, .fini = h_tmpdir_teardown)
{
    struct rec bad[] = {
        three[0],
        { 0x401008, 2, 0, { 0, 0 }, { 0, 0, 0, 0 } },                  /* is_branch 2 */
        { 0x40100c, 0, 0, { 0x800000000000ull, 0 }, { 0, 0, 0, 0 } },  /* kernel half */
    };
    struct import_opts o = { 0 };
    struct import_stats st;
    struct sim_err err = { 0 };
    const char *in = write_trace(h_tmp_path("b.champsim"), bad, 3, 0);
    const char *out = h_tmp_path("b.jsonl");

    cr_assert_eq(import_file("champsim", in, out, &o, &st, &err), SIM_OK, "%s", err.msg);
    cr_expect_eq(st.events, 1);
    cr_expect_eq(st.skipped, 2);
    cr_expect_eq(st.first[0].line, 2);
    cr_expect(strstr(st.first[0].reason, "is_branch"), "%s", st.first[0].reason);
    cr_expect_eq(st.first[1].line, 3);
    cr_expect(strstr(st.first[1].reason, "destination_memory is not a user-space address"));
    o.strict = true;
    cr_expect_eq(import_file("champsim", in, out, &o, &st, &err), SIM_EPARSE);
    cr_expect(strstr(err.msg, "b.champsim:2: not a ChampSim record"), "%s", err.msg);
}

/* The trace sets ship as .xz: read by content, the same ops as the plain
 * file; a corrupt .xz is one error line. */
Test(champsim, compressed_and_empty,
     .init = h_tmpdir_setup, .fini = h_tmpdir_teardown)
{
    struct import_opts o = { 0 };
    struct import_stats st;
    struct sim_err err = { 0 };
    const char *bad = h_tmp_path("bad.champsim.xz"), *out = h_tmp_path("x.jsonl");
    char cmd[1200];
    FILE *f = fopen(bad, "wb");

    fwrite("\xfd" "7zXZ\0garbagegarbage", 1, 20, f);
    fclose(f);
    cr_expect_eq(import_file("champsim", bad, out, &o, &st, &err), SIM_EPARSE);
    cr_expect(strstr(err.msg, "bad.champsim.xz:1: corrupt xz data"), "%s", err.msg);
    const char *empty = write_trace(h_tmp_path("e.champsim"), three, 0, 0);
    cr_expect_eq(import_file("champsim", empty, out, &o, &st, &err), SIM_EPARSE);
    cr_expect(strstr(err.msg, "no usable ChampSim record"), "%s", err.msg);

    if (system("command -v xz >/dev/null 2>&1"))
        cr_skip_test("xz is not installed: the .xz round trip is not checked");
    const char *plain = write_trace(h_tmp_path("t.champsim"), three, 3, 0);
    snprintf(cmd, sizeof(cmd), "xz -k %s", plain);
    cr_assert_eq(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "%s.xz", plain);
    cr_assert_eq(import_file("champsim", cmd, out, &o, &st, &err), SIM_OK, "%s", err.msg);
    char *text = cli_slurp(out, NULL);
    cr_assert(text);
    cr_expect_str_eq(strchr(text, '\n') + 1, three_expect);
    free(text);
}
