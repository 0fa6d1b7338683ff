/* models/machine.h - a machine model: TLB geometry, walker, costs, APIC,
 * virtualization and policy knobs.  Pure data plus the key table that maps
 * every dotted key of models/ JSON files (and of --set KEY=VALUE) to a field.
 *
 * Every cycle figure is in core cycles at freq_mhz.  Defaults (machine_init)
 * are a Skylake-SP-like machine; the shipped model files carry the sources.
 */
#ifndef TLBSIM_MACHINE_H
#define TLBSIM_MACHINE_H

#include "base.h"
#include "tlb.h"

#define MACHINE_MAX_CPUS 1024
#define MACHINE_NAME_MAX 64
#define MACHINE_MAX_TLB_ENTRIES (1u << 24)  /* over all CPUs and structures (~1 GiB) */

enum apic_mode {
    APIC_XAPIC_FLAT = 0,                /* 1 ICR write per multicast, <= 8 CPUs */
    APIC_X2APIC_PHYS = 1,               /* 1 ICR write per target */
    APIC_X2APIC_CLUSTER = 2,            /* 1 ICR write per cluster of 16 touched */
};

/* How KVM's kvm_flush_remote_tlbs() reaches the vCPUs (models/kvm.h). */
enum host_flush {
    HOST_FLUSH_KICK = 0,                /* KVM_REQ_TLB_FLUSH + IPIs to vCPUs in guest mode */
    HOST_FLUSH_HV = 1,                  /* Hyper-V HvFlushGuestPhysicalAddressSpace/List */
};

struct tlb_geom { u32 entries, ways; };

struct machine {
    char name[MACHINE_NAME_MAX];        /* "name" */
    u32 cpus;                           /* "cpus" */
    u32 sockets;                        /* "sockets"; CPU i is on socket i*sockets/cpus */
    u32 freq_mhz;                       /* "freq_mhz" */

    /* paging */
    u32 paging_levels;                  /* "paging.levels": 4 or 5 */
    u32 maxphyaddr;                     /* "paging.maxphyaddr": 36..52 */
    u32 keyid_bits;                     /* "paging.keyid_bits": TME-MK/TDX KeyID bits taken from the top of maxphyaddr */

    /* TLBs */
    enum tlb_repl replacement;          /* "tlb.replacement" */
    struct tlb_geom l1d_4k, l1d_2m, l1d_1g;   /* "tlb.l1d.{4k,2m,1g}.{entries,ways}" */
    struct tlb_geom l1i_4k, l1i_2m;     /* "tlb.l1i.{4k,2m}.{entries,ways}" */
    struct tlb_geom stlb;               /* "tlb.stlb.{entries,ways}": 4K + 2M */
    bool stlb_holds_1g;                 /* "tlb.stlb.holds_1g": 1G in the same array */
    struct tlb_geom stlb_1g;            /* "tlb.stlb1g.{entries,ways}" when separate */
    u32 stlb_hit_cycles;                /* "tlb.stlb_hit_cycles": extra over an L1 hit */
    bool pcid;                          /* "cpu.pcid": CR4.PCIDE, TLB entries tagged by PCID */
    bool invpcid;                       /* "cpu.invpcid": the INVPCID instruction */
    bool pti;                           /* "cpu.pti": page-table isolation (needs pcid) */

    /* page walker and paging-structure caches */
    struct tlb_geom psc_pml5, psc_pml4, psc_pdpt, psc_pd;  /* "psc.{pml5,pml4,pdpt,pd}.{entries,ways}" */
    u32 walk_level_cycles[6];           /* "walk.pml5_cycles" .. "walk.pt_cycles" ([5]..[1]) */
    u32 walk_setad_cycles;              /* "walk.setad_cycles": A/D assist (first write through a clean entry) */
    u32 fault_cycles;                   /* "walk.fault_cycles": minor page fault */

    /* core costs */
    u32 access_cycles;                  /* "cost.access_cycles": a reference that hits L1 TLB */
    u32 invlpg_cycles;                  /* "cost.invlpg_cycles" */
    u32 cr3_flush_cycles;               /* "cost.cr3_flush_cycles": MOV CR3, direct cost */
    u32 global_flush_cycles;            /* "cost.global_flush_cycles": CR4.PGE toggle */
    u32 flush_request_cycles;           /* "cost.flush_request_cycles": flush_tlb_mm_range bookkeeping */
    u32 switch_mm_cycles;               /* "cost.switch_mm_cycles": switch_mm_irqs_off minus the CR3 write */

    /* the kernel's own work in the system calls that change page tables
     * (charged on the calling CPU before its flush request, sim/engine/ops.c) */
    u32 zap_call_cycles;                /* "kernel.zap_call_cycles": madvise(DONTNEED) per call */
    u32 zap_pte_cycles;                 /* "kernel.zap_pte_cycles": per present PTE zapped */
    u32 unmap_call_cycles;              /* "kernel.unmap_call_cycles": munmap per call */
    u32 unmap_pte_cycles;               /* "kernel.unmap_pte_cycles": per present PTE unmapped */
    u32 mprotect_call_cycles;           /* "kernel.mprotect_call_cycles": mprotect per call */
    u32 mprotect_pte_cycles;            /* "kernel.mprotect_pte_cycles": per present PTE changed */

    /* APIC and IPIs */
    enum apic_mode apic_mode;           /* "apic.mode": xapic-flat | x2apic-phys | x2apic-cluster */
    bool apic_shorthand;                /* "apic.shorthand": all-but-self when mask == online\self */
    u32 icr_write_cycles;               /* "apic.icr_write_cycles" */
    u32 ipi_delivery_cycles;            /* "ipi.delivery_cycles": same socket */
    u32 ipi_cross_socket_cycles;        /* "ipi.cross_socket_cycles" */
    u32 irq_entry_cycles;               /* "ipi.irq_entry_cycles" */
    u32 irq_exit_cycles;                /* "ipi.irq_exit_cycles": incl. EOI */
    u32 ack_cycles;                     /* "ipi.ack_cycles": csd unlock seen by the initiator */
    u32 handler_cycles;                 /* "ipi.handler_cycles": flush_tlb_func bookkeeping */
    u32 irq_entry_spread_cycles;        /* "ipi.irq_entry_spread_cycles": mean seeded extra entry latency */

    /* smp_call_function_many_cond() (kernel/smp.c): cache-line transfers */
    u32 smp_cond_cycles;                /* "smp.cond_cycles": should_flush_tlb() (or the PV preempted test) per CPU examined */
    u32 smp_csd_lock_cycles;            /* "smp.csd_lock_cycles": csd_lock() and filling one target's csd */
    u32 smp_llist_add_cycles;           /* "smp.llist_add_cycles": llist_add() onto the target's call_single_queue */
    u32 smp_csd_read_cycles;            /* "smp.csd_read_cycles": target drains call_single_queue, reads the csd */
    u32 smp_info_line_cycles;           /* "smp.info_line_cycles": target reads the shared flush_tlb_info line */
    u32 smp_info_share_cycles;          /* "smp.info_share_cycles": the info line serves one reader at a time */
    u32 smp_cross_socket_line_cycles;   /* "smp.cross_socket_line_cycles": extra per line moved between sockets */

    /* idle */
    u32 c1_exit_cycles;                 /* "idle.c1_exit_cycles" */
    u32 c6_exit_cycles;                 /* "idle.c6_exit_cycles" */
    bool c6_leave_mm;                   /* "idle.c6_leave_mm": CPUIDLE_FLAG_TLB_FLUSHED */

    /* Linux knobs */
    u32 flush_ceiling;                  /* "linux.tlb_single_page_flush_ceiling" (33) */
    u32 hz;                             /* "linux.hz": jiffies per second (trim period, ticks) */

    /* virtualization */
    bool virt;                          /* "virt.enabled": cpus are vCPUs */
    u32 vmexit_cycles;                  /* "virt.vmexit_cycles": one ICR write trap round trip */
    u32 hypercall_cycles;               /* "virt.hypercall_cycles" */
    u32 pv_ipi_window;                  /* "virt.pv_ipi_window": APIC ids per KVM_HC_SEND_IPI (128) */
    u32 hv_flush_page_cycles;           /* "virt.hv_flush_page_cycles": host work per page, Hyper-V list flush */
    u32 invlpg_sync_cycles;             /* "virt.invlpg_sync_cycles": host work per INVLPG of a
                                         * page whose page table is still attached (shadow
                                         * paging); 0 with EPT/NPT */
    u32 vcpu_resume_flush_cycles;       /* "virt.vcpu_resume_flush_cycles": KVM_VCPU_FLUSH_TLB on entry */
    bool posted_interrupts;             /* "virt.posted_interrupts": a running vCPU takes an IPI without an exit */
    bool eoi_exit;                      /* "virt.eoi_exit": the guest's EOI write traps to the host */
    bool ept;                           /* "virt.ept": guest walks are two-dimensional (models/ept.h) */

    /* EPT (with virt.ept) */
    u32 ept_levels;                     /* "ept.levels": 4 or 5 */
    struct tlb_geom ept_psc_pml5, ept_psc_pml4, ept_psc_pdpt, ept_psc_pd;  /* "ept.psc.{pml5,pml4,pdpt,pd}.{entries,ways}" */
    u32 ept_walk_cycles[6];             /* "ept.pml5_cycles" .. "ept.pt_cycles" ([5]..[1]): one EPT entry read */
    u32 ept_violation_cycles;           /* "ept.violation_cycles": exit + KVM maps a 4K page on demand */
    u32 ept_dirty_fault_cycles;         /* "ept.dirty_fault_cycles": KVM's fast_page_fault on a write-protected 4K leaf */
    bool ept_prefault;                  /* "ept.prefault": guest memory was backed (2M) before the trace */
    bool vpid;                          /* "virt.vpid": entries tagged by VPID, transitions keep them */
    enum host_flush host_flush;         /* "virt.host_flush": kick | hv-enlightened */
    u32 kick_exit_cycles;               /* "virt.kick_exit_cycles": VM exit on a host IPI, until acked */
    u32 entry_cycles;                   /* "virt.entry_cycles": VM entry (vcpu_enter_guest to guest) */
    u32 request_cycles;                 /* "virt.request_cycles": kvm_make_request + needs-IPI test, per vCPU */
    u32 host_zap_pte_cycles;            /* "virt.zap_pte_cycles": host clears one 4K EPT leaf */
    u32 wrprotect_pte_cycles;           /* "virt.wrprotect_pte_cycles": host write-protects one 4K EPT leaf */
    u32 invept_single_cycles;           /* "virt.invept_single_cycles": INVEPT single-context */
    u32 invept_global_cycles;           /* "virt.invept_global_cycles": INVEPT all-context */
    u32 invvpid_addr_cycles;            /* "virt.invvpid_addr_cycles": INVVPID individual address */
    u32 invvpid_single_cycles;          /* "virt.invvpid_single_cycles": INVVPID single context */
    u32 invvpid_all_cycles;             /* "virt.invvpid_all_cycles": INVVPID all contexts */
    bool tdx;                           /* "virt.tdx": the VM is a TDX trust domain */
    u32 tdx_block_cycles;               /* "tdx.block_cycles": TDH.MEM.RANGE.BLOCK per 4K page */
    u32 tdx_track_cycles;               /* "tdx.track_cycles": TDH.MEM.TRACK */
    u32 tdx_remove_cycles;              /* "tdx.remove_cycles": TDH.MEM.PAGE.REMOVE + page WBINVD per 4K page */
    u32 tdx_exit_cycles;                /* "tdx.exit_cycles": TD exit on a host IPI, until acked */
    u32 tdx_entry_cycles;               /* "tdx.entry_cycles": TDH.VP.ENTER back into the TD */

    /* hardware broadcast invalidation (INVLPGB/TLBSYNC, RAR) */
    u32 invlpgb_cycles;                 /* "broadcast.invlpgb_cycles": issue cost per INVLPGB */
    u32 invlpgb_count_max;              /* "broadcast.invlpgb_count_max": pages per INVLPGB */
    u32 tlbsync_cycles;                 /* "broadcast.tlbsync_cycles": wait until done system-wide */
    bool bcast_hw;                      /* "broadcast.hw": the hardware has it (else a what-if) */

    /* policy parameters */
    u32 batch_pages;                    /* "policy.batched.pages": flush when this many pages pend */
    u32 batch_window_cycles;            /* "policy.batched.window_cycles": or after this long */
    u32 deferred_tick_cycles;           /* "policy.deferred.tick_cycles": remote invalidation tick */

    /* simulator */
    u32 quantum;                        /* "sim.quantum": run-ahead cycles between syncs */
    u64 seed;                           /* "sim.seed" */
    u64 max_frames;                     /* "limits.max_frames": 4K frames live at once */
    u64 max_table_pages;                /* "limits.max_table_pages" */
    u32 max_vmas;                       /* "limits.max_vmas" per mm */
};

enum machine_key_type { MK_U32, MK_U64, MK_BOOL, MK_REPL, MK_APIC, MK_STR, MK_HFLUSH };

struct machine_key {
    const char *key;                    /* dotted path, e.g. "tlb.l1d.4k.entries" */
    enum machine_key_type type;
    size_t offset;                      /* into struct machine */
    u64 min, max;                       /* inclusive range for numbers */
    const char *doc;                    /* one line for --help and docs */
};

extern const struct machine_key machine_keys[];
extern const size_t machine_nr_keys;

void machine_init(struct machine *m);   /* built-in defaults */
const struct machine_key *machine_key_find(const char *key);
/* Set a key from text ("32", "true", "lru", "x2apic-cluster", "0x10").
 * SIM_EINVAL/SIM_ERANGE with a message naming the key and the value. */
int  machine_set(struct machine *m, const struct machine_key *k,
                 const char *value, struct sim_err *err);
/* Cross-field validation (entries % ways, cpus % sockets...). */
int  machine_validate(const struct machine *m, struct sim_err *err);
/* Render a key's current value as text (for the summary and docs). */
void machine_get(const struct machine *m, const struct machine_key *k,
                 char *buf, size_t len);

/* Physical address bits left for addresses once the KeyID bits are taken
 * from the top (the kernel's x86_phys_bits after detect_tme()). */
static inline unsigned machine_phys_bits(const struct machine *m)
{
    return m->maxphyaddr - m->keyid_bits;
}

static inline u32 machine_socket_of(const struct machine *m, u32 cpu)
{
    return (u32)((u64)cpu * m->sockets / m->cpus);
}

/* The CPUs on one socket, [lo, hi): what machine_socket_of() gives for
 * them, without a division per CPU (for loops over many targets). */
struct socket_span { u32 lo, hi; };

static inline struct socket_span machine_socket_span(const struct machine *m, u32 cpu)
{
    u64 s = machine_socket_of(m, cpu), n = m->sockets, c = m->cpus;

    if (!n)
        return (struct socket_span){ 0, UINT32_MAX };   /* socket_of is 0 for all */
    /* cpu * n / c == s  <=>  s * c <= cpu * n < (s + 1) * c */
    return (struct socket_span){ (u32)((s * c + n - 1) / n), (u32)(((s + 1) * c + n - 1) / n) };
}

static inline bool socket_span_has(struct socket_span sp, u32 cpu)
{
    return cpu - sp.lo < sp.hi - sp.lo;
}

#endif
