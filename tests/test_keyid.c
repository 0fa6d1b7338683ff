/* tests/test_keyid.c - TME-MK / TDX KeyIDs in page-table entries: where the
 * KeyID sits in a PTE, that no frame number ever includes it, that it
 * changes no count, and that a page re-keyed without a flush is a stale
 * access (the TLB entry still carries the old KeyID).
 *
 * The machine is the default one (MAXPHYADDR 46) with paging.keyid_bits 6,
 * so frames are below 2^40 and the KeyID is PTE bits 45:40. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../models/cpu.h"
#include "../models/mm.h"
#include "clirun.h"

struct env {
    struct machine m;
    struct frame_alloc fa;
    struct pt_ctx ptc;
    struct mm init, a;
    struct cpu c;
    struct sim_err err;
};

static struct env E;

static void env_init(struct env *e, unsigned keyid_bits)
{
    memset(e, 0, sizeof(*e));
    machine_init(&e->m);
    e->m.keyid_bits = keyid_bits;
    cr_assert_eq(machine_validate(&e->m, &e->err), SIM_OK, "%s", e->err.msg);
    cr_assert_eq(frame_alloc_init(&e->fa, machine_phys_bits(&e->m), 0, &e->err), 0, "%s",
                 e->err.msg);
    cr_assert_eq(pt_ctx_init(&e->ptc, &e->fa, 0), 0);
    cr_assert_eq(pt_ctx_set_keyid_bits(&e->ptc, keyid_bits), 0);
    cr_assert_eq(mm_init(&e->init, -1, 0, 1, &e->ptc, &e->m, NULL, &e->err), 0, "%s",
                 e->err.msg);
    cr_assert_eq(mm_init(&e->a, 1, 1, 2, &e->ptc, &e->m, &e->init, &e->err), 0, "%s",
                 e->err.msg);
    cr_assert_eq(cpu_init(&e->c, 0, &e->m, &e->fa, &e->init, &e->err), 0, "%s", e->err.msg);
    cpu_write_cr3(&e->c, &e->a);
}

static void env_done(struct env *e)
{
    cpu_destroy(&e->c);
    mm_destroy(&e->a);
    mm_destroy(&e->init);
    pt_ctx_destroy(&e->ptc);
    frame_alloc_destroy(&e->fa);
}

static void setup(void) { env_init(&E, 6); }
static void teardown(void) { env_done(&E); }

TestSuite(keyid, .init = setup, .fini = teardown);

#define K4 0x1000ull
#define M2 0x200000ull
#define G1 0x40000000ull
#define KEYID_FIELD (0x3full << 40)     /* bits 45:40 */
#define RW 3u                           /* mm_map's prot bits: r, w */

static void map_key(struct env *e, u64 va, u64 len, unsigned shift, bool populate, u32 keyid)
{
    cr_assert_eq(mm_map_keyid(&e->a, va, len, shift, RW, populate, false, keyid,
                              &e->err), SIM_OK, "%s", e->err.msg);
}

static u64 *leaf_of(struct env *e, u64 va)
{
    u64 *l = pt_walk(&e->a.pt, va, NULL, NULL);

    cr_assert(l, "0x%llx mapped", (unsigned long long)va);
    return l;
}

/* (i) keyid_bits 6 on MAXPHYADDR 46: the KeyID is bits 45:40 of every leaf
 * of every size, bits 51:46 stay clear, and the frame is below 2^40. */
Test(keyid, sits_in_pte_bits_40_to_45)
{
    static const struct { u64 va, len; unsigned shift; u32 keyid; } maps[] = {
        { 0x10000000, 4 * K4, 12, 5 }, { 0x40000000, 2 * M2, 21, 63 }, { G1 * 4, G1, 30, 1 },
    };

    cr_expect_eq(E.ptc.keyid_shift, 40);
    cr_expect_eq(E.ptc.keyid_mask, KEYID_FIELD);
    for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
        map_key(&E, maps[i].va, maps[i].len, maps[i].shift, true, maps[i].keyid);
        for (u64 off = 0; off < maps[i].len; off += 1ull << maps[i].shift) {
            u64 pte = *leaf_of(&E, maps[i].va + off);

            cr_expect_eq((pte & KEYID_FIELD) >> 40, maps[i].keyid, "pte 0x%llx",
                         (unsigned long long)pte);
            cr_expect_eq(pte & (0x3full << 46), 0, "bits 51:46 reserved");
            cr_expect_eq(pt_keyid(&E.ptc, pte), maps[i].keyid);
            cr_expect_eq(pte_pfn(&E.fa, pte), (pte & ((1ull << 40) - 1)) >> 12);
            cr_expect_lt(pte_pfn(&E.fa, pte), E.fa.max_pfn);
        }
    }
    cr_expect(pt_check(&E.a.pt));
    /* KeyID 64 needs a seventh bit (bit 46): refused, nothing mapped. */
    cr_expect_eq(mm_map_keyid(&E.a, 0x20000000, K4, 12, 1, true, false, 64, &E.err),
                 SIM_EINVAL);
    cr_expect(strstr(E.err.msg, "keyid: 64 does not fit in the 6 KeyID bits"), "%s", E.err.msg);
    cr_expect_null(pt_walk(&E.a.pt, 0x20000000, NULL, NULL));
    cr_expect_eq(pt_map(&E.a.pt, 0x20000000, K4, 12, PTE_US | 1ull << 46, true, &E.err),
                 SIM_EINVAL, "a bit above the KeyID field is not a flag");
    /* The invariant checker: a KeyID is fine, a bit above MAXPHYADDR not. */
    u64 *l = leaf_of(&E, 0x10000000);
    *l |= 1ull << 47;
    cr_expect(!pt_check(&E.a.pt));
    *l &= ~(1ull << 47);
    cr_expect(pt_check(&E.a.pt));
}

/* (i) without KeyID bits the field does not exist: every leaf has bits
 * 51:46 clear, frames go up to bit 45, and a KeyID other than 0 is refused. */
Test(keyid, no_keyid_bits_no_field)
{
    struct env z;

    env_init(&z, 0);
    cr_expect_eq(z.ptc.keyid_mask, 0);
    cr_expect_eq(pte_frame_mask(&z.fa), ((1ull << 46) - 1) & ~0xfffull);
    map_key(&z, 0x10000000, 4 * K4, 12, true, 0);
    for (u64 va = 0x10000000; va < 0x10000000 + 4 * K4; va += K4)
        cr_expect_eq(*leaf_of(&z, va) & (0x3full << 46), 0);
    cr_expect_eq(mm_map_keyid(&z.a, 0x20000000, K4, 12, 1, true, false, 1, &z.err),
                 SIM_EINVAL);
    cr_expect(strstr(z.err.msg, "keyid: 1 does not fit in the 0 KeyID bits"), "%s", z.err.msg);
    cr_expect_eq(pt_map(&z.a.pt, 0x20000000, K4, 12, PTE_US | 1ull << 40, true, &z.err),
                 SIM_EINVAL);
    cr_expect(pt_check(&z.a.pt));
    env_done(&z);
}

/* The KeyID stays with the page: a page faulted in later (populate:false)
 * gets the area's KeyID, mprotect changes permissions only (pte_modify()
 * keeps the address bits, KeyID included), migration moves the frame and
 * keeps the KeyID, and the TLB entry carries the PTE, KeyID and all. */
Test(keyid, follows_the_page_through_fault_protect_and_migrate)
{
    struct mmu_gather g;
    bool reduced = false;
    u64 va = 0x30000000, pte, pfn;
    struct tlb_entry *e;

    map_key(&E, va, 4 * K4, 12, false, 9);
    cpu_access(&E.c, va + K4, 'w');
    cr_expect_eq(E.c.st.page_faults, 1);
    pte = *leaf_of(&E, va + K4);
    cr_expect_eq(pt_keyid(&E.ptc, pte), 9, "faulted in with the area's KeyID");
    e = tlb_lookup(&E.c.l1d[0], va + K4);
    cr_assert(e);
    cr_expect_eq(pt_keyid(&E.ptc, e->pte), 9, "the TLB entry carries the KeyID");

    mmu_gather_init(&g);
    cr_assert_eq(pt_protect(&E.a.pt, va, 4 * K4, PTE_US | PTE_NX, &reduced, &g, &E.err), 0);
    cr_assert_eq(vma_protect(&E.a.vmas, va, va + 4 * K4, PTE_US | PTE_NX, E.ptc.keyid_mask,
                             &E.err), 0);
    cr_expect(reduced);
    pte = *leaf_of(&E, va + K4);
    cr_expect_eq(pt_keyid(&E.ptc, pte), 9, "protect keeps the KeyID");
    cr_expect(!(pte & PTE_RW));
    cpu_access(&E.c, va + 2 * K4, 'r');          /* a fault after the protect */
    cr_expect_eq(pt_keyid(&E.ptc, *leaf_of(&E, va + 2 * K4)), 9, "the area kept it too");

    pfn = pte_pfn(&E.fa, pte);
    cr_assert_eq(pt_migrate(&E.a.pt, va + K4, K4, &g, &E.err), 0, "%s", E.err.msg);
    pte = *leaf_of(&E, va + K4);
    cr_expect_neq(pte_pfn(&E.fa, pte), pfn, "migrate moved the frame");
    cr_expect_eq(pt_keyid(&E.ptc, pte), 9, "migrate keeps the KeyID");
    mmu_gather_finish(&E.ptc, &g);
    mmu_gather_destroy(&g);
    cr_expect(pt_check(&E.a.pt));
}

/* (ii) at the model: the same maps and references with KeyID 0 and with
 * KeyID 5 take the same frames, walk the same, count the same. */
Test(keyid, changes_no_frame_and_no_count)
{
    struct env k0, k5;
    struct env *env[2] = { &k0, &k5 };
    u64 x = 11;

    for (int k = 0; k < 2; k++) {
        env_init(env[k], 6);
        map_key(env[k], 0x10000000, 64 * K4, 12, true, k ? 5 : 0);
        map_key(env[k], 0x40000000, 8 * M2, 21, false, k ? 5 : 0);
        map_key(env[k], 0x80000000, G1, 30, true, k ? 5 : 0);
    }
    for (int i = 0; i < 3000; i++) {
        u64 va;
        x = x * 6364136223846793005ull + 1;
        switch ((x >> 40) % 3) {
        case 0:  va = 0x10000000 + ((x >> 8) % (64 * K4)); break;
        case 1:  va = 0x40000000 + ((x >> 8) % (8 * M2)); break;
        default: va = 0x80000000 + ((x >> 8) % G1); break;
        }
        for (int k = 0; k < 2; k++)
            cpu_access(&env[k]->c, va, (x >> 50) & 1 ? 'w' : 'r');
        cr_assert_eq(pte_pfn(&k0.fa, *leaf_of(&k0, va)), pte_pfn(&k5.fa, *leaf_of(&k5, va)),
                     "va 0x%llx: same frame", (unsigned long long)va);
        cr_assert_eq(pt_keyid(&k5.ptc, *leaf_of(&k5, va)), 5);
    }
    cr_expect_eq(memcmp(&k0.c.st, &k5.c.st, sizeof(k0.c.st)), 0, "every counter the same");
    cr_expect_gt(k5.c.st.walks, 0);
    cr_expect_gt(k5.c.st.page_faults, 0);
    cr_expect_eq(k0.fa.next_pfn, k5.fa.next_pfn);
    env_done(&k0);
    env_done(&k5);
}

/* (iii) A page unmapped and mapped again at once with another KeyID gets
 * the same frame back (the allocator reuses the oldest freed frame).  A CPU
 * that kept the old entry, with no flush in between, reads the page with
 * the old key: a stale access.  After INVLPG it walks and is not. */
Test(keyid, remapped_with_another_keyid_is_stale_until_flushed)
{
    struct mmu_gather g;
    u64 va = 0x10000000, pfn;

    for (int flush = 0; flush < 2; flush++) {
        u64 stale = E.c.st.stale_accesses;

        map_key(&E, va, 2 * K4, 12, true, 1);
        cpu_access(&E.c, va, 'r');
        pfn = pte_pfn(&E.fa, *leaf_of(&E, va));
        mmu_gather_init(&g);                    /* munmap of the first page */
        cr_assert_eq(pt_unmap(&E.a.pt, va, K4, &g, &E.err), 0, "%s", E.err.msg);
        cr_assert_eq(vma_remove(&E.a.vmas, va, va + K4, &E.err), 0);
        mm_pte_changed(&E.a);
        mmu_gather_finish(&E.ptc, &g);          /* frees the frame: no flush ran */
        mmu_gather_destroy(&g);
        map_key(&E, va, K4, 12, true, 5);
        cr_assert_eq(pte_pfn(&E.fa, *leaf_of(&E, va)), pfn, "the same frame again");
        if (flush)
            cpu_invlpg(&E.c, va);
        cpu_access(&E.c, va, 'r');
        cr_expect_eq(E.c.st.stale_accesses - stale, flush ? 0 : 1, "flush %d", flush);
        struct tlb_entry *e = tlb_lookup(&E.c.l1d[0], va);
        cr_assert(e);
        cr_expect_eq(pt_keyid(&E.ptc, e->pte), flush ? 5 : 1,
                     "the entry used holds the %s KeyID", flush ? "new" : "old");
        /* clean up for the next round */
        mmu_gather_init(&g);
        cr_assert_eq(pt_unmap(&E.a.pt, va, 2 * K4, &g, &E.err), 0, "%s", E.err.msg);
        cr_assert_eq(vma_remove(&E.a.vmas, va, va + 2 * K4, &E.err), 0);
        mm_pte_changed(&E.a);
        cpu_flush_tlb_local(&E.c);
        mmu_gather_finish(&E.ptc, &g);
        mmu_gather_destroy(&g);
    }
}

/* (iii) The KeyID alone decides it: a leaf re-keyed in place (same frame,
 * never freed) is a new translation, and the old entry's use is stale and
 * counted as such (not as a freed frame); the same leaf rewritten with the
 * same KeyID (accessed bit cleared) is the same translation, refreshed. */
Test(keyid, a_rekeyed_leaf_is_a_new_translation)
{
    u64 va = 0x10000000, *l;

    map_key(&E, va, K4, 12, true, 2);
    cpu_access(&E.c, va, 'r');
    l = leaf_of(&E, va);
    *l &= ~PTE_A;                               /* same frame, same KeyID */
    mm_pte_changed(&E.a);
    cpu_access(&E.c, va, 'r');
    cr_expect_eq(E.c.st.stale_accesses, 0, "same KeyID: refreshed");
    *l = (*l & ~E.ptc.keyid_mask) | pt_keyid_bits(&E.ptc, 3);
    mm_pte_changed(&E.a);
    cpu_access(&E.c, va, 'r');
    cr_expect_eq(E.c.st.stale_accesses, 1, "KeyID 2 -> 3 without a flush");
    cr_assert_eq(E.c.nr_stale_log, 1);
    cr_expect_eq(E.c.stale_log[0].freed, 0, "the frame was never freed");
    cpu_invlpg(&E.c, va);
    cpu_access(&E.c, va, 'r');
    cr_expect_eq(E.c.st.stale_accesses, 1, "after INVLPG the new KeyID is used");
}

/* ===== end to end ========================================================= */

/* (ii) through build/tlbsim: the head of traces/default.jsonl as it is and
 * with "keyid":5 on every map gives byte-identical outputs (every CSV,
 * summary.json and the tlb_flush log) under every policy.  Both runs read
 * t.jsonl (the trace's name is in the outputs), one after the other. */
Test(keyid_cli, keyid_5_changes_no_output)
{
    static const char *files[] = {
        "summary.csv", "cpus.csv", "flushes.csv", "timeline.csv", "summary.json",
        "tlb_flush.txt",
    };
    const char *argv[] = {
        "run", "t.jsonl", "--policy", "all", "--set", "paging.keyid_bits=6", "-q",
        "--out", "out0", "--tlb-log", NULL,
    };
    struct cli_ws ws;
    static struct cli_res res;
    char path[512];
    size_t n, maps = 0;
    char *text;

    cli_ws_init(&ws);
    cli_write_default_head(&ws, "t.jsonl", 3000);
    cli_run(&ws, argv, 120, &res);
    cr_assert_eq(res.status, 0, "%s", res.err);
    text = cli_slurp(cli_path(&ws, "t.jsonl", path, sizeof(path)), &n);
    cr_assert(text);
    char *out = malloc(2 * n + 1), *o = out;
    cr_assert(out);
    for (char *line = text, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        cr_assert(nl, "whole lines");
        size_t len = (size_t)(nl - line);
        *nl = '\0';
        bool is_map = strstr(line, "\"op\":\"map\"") != NULL;
        *nl = '\n';
        if (is_map) {
            cr_assert_eq(line[len - 1], '}');
            memcpy(o, line, len - 1);
            o += len - 1;
            o += sprintf(o, ",\"keyid\":5}\n");
            maps++;
        } else {
            memcpy(o, line, len + 1);
            o += len + 1;
        }
    }
    cr_assert_gt(maps, 10, "the head has maps");
    cli_write(&ws, "t.jsonl", out, (size_t)(o - out));
    free(out);
    free(text);
    argv[8] = "out5";
    cli_run(&ws, argv, 120, &res);
    cr_assert_eq(res.status, 0, "%s", res.err);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char name[2][64], p2[512];
        size_t na, nb;
        snprintf(name[0], sizeof(name[0]), "out0/%s", files[i]);
        snprintf(name[1], sizeof(name[1]), "out5/%s", files[i]);
        char *a = cli_slurp(cli_path(&ws, name[0], path, sizeof(path)), &na);
        char *b = cli_slurp(cli_path(&ws, name[1], p2, sizeof(p2)), &nb);
        cr_assert(a && b, "%s written", files[i]);
        cr_expect(na == nb && memcmp(a, b, na) == 0, "%s differs with keyid 5", files[i]);
        free(a);
        free(b);
    }
    cli_ws_done(&ws);
}

/* (v) `tlbsim convert` keeps the keyid both ways: canonical JSON Lines ->
 * binary -> JSON Lines is byte for byte the same, and the binary copy runs
 * like the original (a keyid too large for the machine is caught in both). */
Test(keyid_cli, convert_round_trip_keeps_keyid)
{
    static const char trace[] =
        "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2}\n"
        "{\"op\":\"mm_new\",\"mm\":1}\n"
        "{\"op\":\"map\",\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x200000\",\"page\":\"4k\","
        "\"prot\":\"rw\",\"keyid\":5}\n"
        "{\"op\":\"map\",\"mm\":1,\"va\":\"0x7f0000200000\",\"len\":\"0x200000\",\"page\":\"2m\","
        "\"prot\":\"r\",\"populate\":false,\"keyid\":65535}\n"
        "{\"op\":\"map\",\"mm\":1,\"va\":\"0x7f0000400000\",\"len\":\"0x1000\",\"page\":\"4k\","
        "\"prot\":\"rw\"}\n"
        "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"
        "{\"op\":\"access\",\"cpu\":0,\"va\":\"0x7f0000001000\",\"kind\":\"w\"}\n";
    static const char *const to_bin[] = { "convert", "t.jsonl", "t.tlbt", NULL };
    static const char *const to_json[] = { "convert", "t.tlbt", "u.jsonl", NULL };
    static const char *const run_bin[] = { "run", "t.tlbt", "-q", "--out", "out", "--set",
                                           "paging.maxphyaddr=52", "--set",
                                           "paging.keyid_bits=15", NULL };
    struct cli_ws ws;
    static struct cli_res res;
    char path[512];
    size_t n;

    cli_ws_init(&ws);
    cli_write_str(&ws, "t.jsonl", trace);
    cli_run(&ws, to_bin, 60, &res);
    cr_assert_eq(res.status, 0, "%s", res.err);
    cli_run(&ws, to_json, 60, &res);
    cr_assert_eq(res.status, 0, "%s", res.err);
    char *u = cli_slurp(cli_path(&ws, "u.jsonl", path, sizeof(path)), &n);
    cr_assert(u);
    cr_expect_str_eq(u, trace);
    free(u);
    cli_run(&ws, run_bin, 60, &res);
    cr_expect_eq(res.status, 2, "KeyID 65535 needs 16 bits");
    cr_expect(strstr(res.err, "t.tlbt:3: keyid: KeyID 65535 needs 16 KeyID bits; the machine's "
                     "paging.keyid_bits 15 allow KeyIDs 0..32767"), "%s", res.err);
    cli_ws_done(&ws);
}
