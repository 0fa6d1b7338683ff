/* sim/io/columns.c - the column tables of summary.csv and cpus.csv and the
 * one CSV writer both use (layout and meanings: docs/output.md). */
#include "columns.h"
#include "csv.h"

#include <stdio.h>
#include <string.h>

#define S(name, type, field) { name, type, offsetof(struct summary_row, field) }
#define C(name, type, field) { name, type, offsetof(struct cpu_row, field) }

/* The first 31 columns are the user contract's; the rest are extensions.
 * File order: append new columns before freq_mhz, quantum and seed (the
 * model values stay last: scripts and tests read seed as the last cell). */
const struct col summary_cols[] = {
    S("trace", COL_TEXT, trace),
    S("machine", COL_TEXT, machine),
    S("policy", COL_TEXT, policy),
    S("cpus", COL_U32, cpus),
    S("cycles", COL_U64, cycles),
    S("accesses", COL_U64, t.cpu.accesses),
    S("l1d_hits", COL_U64, t.cpu.l1d_hits),
    S("l1d_misses", COL_U64, t.cpu.l1d_misses),
    S("l1i_hits", COL_U64, t.cpu.l1i_hits),
    S("l1i_misses", COL_U64, t.cpu.l1i_misses),
    S("stlb_hits", COL_U64, t.cpu.stlb_hits),
    S("stlb_misses", COL_U64, t.cpu.stlb_misses),
    S("walks", COL_U64, t.cpu.walks),
    S("walk_cycles", COL_U64, t.cpu.walk_cycles),
    S("page_faults", COL_U64, t.cpu.page_faults),
    S("flush_requests", COL_U64, t.flush_requests),
    S("local_flush_full", COL_U64, t.cpu.flush_full),
    S("local_flush_pages", COL_U64, t.cpu.flush_pages),
    S("task_switch_flushes", COL_U64, t.cpu.task_switch_flushes),
    S("ipis_sent", COL_U64, t.ipis_sent),
    S("ipis_received", COL_U64, t.cpu.ipis_received),
    S("ipis_skipped_lazy", COL_U64, t.ipis_skipped_lazy),
    S("shootdowns", COL_U64, t.shootdowns),
    S("shootdown_cycles_mean", COL_F1, lat_mean),
    S("shootdown_cycles_p50", COL_U64, lat_p50),
    S("shootdown_cycles_p99", COL_U64, lat_p99),
    S("stale_accesses", COL_U64, t.cpu.stale_accesses),
    S("nr_tlb_remote_flush", COL_U64, t.cpu.nr_tlb_remote_flush),
    S("nr_tlb_remote_flush_received", COL_U64, t.cpu.nr_tlb_remote_flush_received),
    S("nr_tlb_local_flush_all", COL_U64, t.cpu.nr_tlb_local_flush_all),
    S("nr_tlb_local_flush_one", COL_U64, t.cpu.nr_tlb_local_flush_one),
    S("icr_writes", COL_U64, t.icr_writes),
    S("ipis_skipped_other", COL_U64, t.ipis_skipped_other),
    S("racy_accesses", COL_U64, t.cpu.racy_accesses),
    S("psc_stale", COL_U64, t.cpu.psc_stale),
    S("spurious_faults", COL_U64, t.cpu.spurious_faults),
    S("bad_accesses", COL_U64, t.cpu.bad_accesses),
    S("setad_assists", COL_U64, t.cpu.setad_assists),
    S("shootdown_cycles_max", COL_U64, lat_max),
    S("busy_cycles", COL_U64, t.cpu.busy_cycles),
    S("idle_cycles", COL_U64, t.cpu.idle_cycles),
    S("handler_cycles", COL_U64, t.cpu.handler_cycles),
    S("spin_cycles", COL_U64, t.cpu.spin_cycles),
    S("pv_skipped_preempted", COL_U64, t.pv_skipped_preempted),
    S("hypercalls", COL_U64, t.hypercalls),
    S("broadcasts", COL_U64, t.broadcasts),
    S("deferred_invalidations", COL_U64, t.deferred_invalidations),
    S("batched_pages", COL_U64, t.batched_pages),
    S("task_switch_noflush", COL_U64, t.cpu.task_switch_noflush),
    S("asid_recycle_flushes", COL_U64, t.cpu.asid_recycle_flushes),
    S("user_asid_deferred_flushes", COL_U64, t.cpu.user_asid_deferred_flushes),
    S("global_asids_assigned", COL_U64, t.cpu.global_asids_assigned),
    S("host_zaps", COL_U64, t.host_zaps),
    S("host_flush_cycles", COL_U64, t.host_flush_cycles),
    S("vcpu_kicks", COL_U64, t.cpu.vcpu_kicks),
    S("vcpu_entry_flushes", COL_U64, t.cpu.vcpu_entry_flushes),
    S("vmx_transition_flushes", COL_U64, t.cpu.vmx_transition_flushes),
    S("vcpu_migrations", COL_U64, t.cpu.vcpu_migrations),
    S("tdx_tracks", COL_U64, t.tdx_tracks),
    S("ops", COL_U64, t.ops),
    S("barriers", COL_U64, t.barriers),
    S("marks", COL_U64, t.marks),
    S("events", COL_U64, t.events),
    S("walk_refs", COL_U64, t.cpu.walk_refs),
    S("ept_walk_refs", COL_U64, t.cpu.ept_walk_refs),
    S("ept_walk_cycles", COL_U64, t.cpu.ept_walk_cycles),
    S("ept_violations", COL_U64, t.cpu.ept_violations),
    S("ept_dirty_faults", COL_U64, t.cpu.ept_dirty_faults),
    S("ept_spurious_faults", COL_U64, t.cpu.ept_spurious_faults),
    S("freq_mhz", COL_U32, freq_mhz),
    S("quantum", COL_U32, quantum),
    S("seed", COL_U64, seed),
};
const size_t summary_nr_cols = sizeof(summary_cols) / sizeof(summary_cols[0]);

const struct col cpus_cols[] = {
    C("policy", COL_TEXT, policy),
    C("cpu", COL_U32, cpu),
    C("accesses", COL_U64, st.accesses),
    C("l1d_hits", COL_U64, st.l1d_hits),
    C("l1d_misses", COL_U64, st.l1d_misses),
    C("l1i_hits", COL_U64, st.l1i_hits),
    C("l1i_misses", COL_U64, st.l1i_misses),
    C("stlb_hits", COL_U64, st.stlb_hits),
    C("stlb_misses", COL_U64, st.stlb_misses),
    C("walks", COL_U64, st.walks),
    C("walk_cycles", COL_U64, st.walk_cycles),
    C("page_faults", COL_U64, st.page_faults),
    C("flush_full", COL_U64, st.flush_full),
    C("flush_pages", COL_U64, st.flush_pages),
    C("task_switch_flushes", COL_U64, st.task_switch_flushes),
    C("ipis_received", COL_U64, st.ipis_received),
    C("stale_accesses", COL_U64, st.stale_accesses),
    C("racy_accesses", COL_U64, st.racy_accesses),
    C("busy_cycles", COL_U64, st.busy_cycles),
    C("idle_cycles", COL_U64, st.idle_cycles),
    C("handler_cycles", COL_U64, st.handler_cycles),
    C("spin_cycles", COL_U64, st.spin_cycles),
    C("nr_tlb_remote_flush", COL_U64, st.nr_tlb_remote_flush),
    C("nr_tlb_remote_flush_received", COL_U64, st.nr_tlb_remote_flush_received),
    C("nr_tlb_local_flush_all", COL_U64, st.nr_tlb_local_flush_all),
    C("nr_tlb_local_flush_one", COL_U64, st.nr_tlb_local_flush_one),
};
const size_t cpus_nr_cols = sizeof(cpus_cols) / sizeof(cpus_cols[0]);

#undef S
#undef C

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

void col_summary_fill(struct summary_row *r, const char *trace, const struct machine *m,
                      const char *policy, const struct sim *s)
{
    const struct hist *h = sim_latency(s);

    memset(r, 0, sizeof(*r));
    r->trace = base_name(trace);
    r->machine = m->name;
    r->policy = policy;
    r->cpus = m->cpus;
    r->cycles = sim_end_cycles(s);
    sim_totals(s, &r->t);
    r->lat_mean = h->n ? (double)h->sum / (double)h->n : 0.0;
    r->lat_p50 = hist_quantile(h, 0.50);
    r->lat_p99 = hist_quantile(h, 0.99);
    r->lat_max = h->max;
    r->freq_mhz = m->freq_mhz;
    r->quantum = m->quantum;
    r->seed = m->seed;
}

void col_cpu_fill(struct cpu_row *r, const char *policy, const struct sim *s, u32 cpu)
{
    r->policy = policy;
    r->cpu = cpu;
    r->st = sim_cpu(s, cpu)->st;
}

void col_csv_header(FILE *f, const struct col *cols, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputc(',', f);
        fputs(cols[i].name, f);
    }
    fputc('\n', f);
}

/* v in decimal, as "%" PRIu64 writes it, ending at end; returns the first
 * digit.  cpus.csv has a row of some 60 counters per CPU: fprintf's format
 * parsing and a stdio call per cell were most of the time a 1024-CPU run
 * spent writing it, so a row's cells are put together here and written
 * with one call (text cells, CSV-quoted, go through csv_str). */
static char *u64_dec(char *end, u64 v)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

#define ROW_CELL_MAX 64                 /* a u64 is 20 digits; "%.1f" of a double up to 2^64 fits */

void col_csv_row(FILE *f, const struct col *cols, size_t n, const void *row)
{
    char buf[1024], num[24], *p;
    size_t len = 0;

    for (size_t i = 0; i < n; i++) {
        const struct col *c = &cols[i];
        if (len > sizeof(buf) - ROW_CELL_MAX - 2) {
            fwrite(buf, 1, len, f);
            len = 0;
        }
        if (i)
            buf[len++] = ',';
        switch (c->type) {
        case COL_TEXT:
            fwrite(buf, 1, len, f);
            len = 0;
            csv_str(f, col_text(c, row));
            break;
        case COL_U32:
        case COL_U64:
            p = u64_dec(num + sizeof(num), col_u64(c, row));
            memcpy(buf + len, p, (size_t)(num + sizeof(num) - p));
            len += (size_t)(num + sizeof(num) - p);
            break;
        case COL_F1: {
            int k = snprintf(buf + len, ROW_CELL_MAX, "%.1f", col_f64(c, row));
            if (k < 0 || k >= ROW_CELL_MAX) {   /* a huge value: written as it is */
                fwrite(buf, 1, len, f);
                len = 0;
                fprintf(f, "%.1f", col_f64(c, row));
            } else {
                len += (size_t)k;
            }
            break;
        }
        }
    }
    buf[len++] = '\n';
    fwrite(buf, 1, len, f);
}
