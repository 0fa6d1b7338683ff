/* models/machine.c - machine model defaults, key table, validation.
 *
 * The defaults describe an Intel Skylake-SP server; models/skylake-sp.json
 * repeats them with their sources.  Figures marked "estimate" below are
 * simulator conventions or estimates, not measurements.
 */
#include "machine.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OFF(f) offsetof(struct machine, f)
#define GEOM(path, f, maxe, doc)                                            \
    { path ".entries", MK_U32, OFF(f.entries), 0, maxe, doc " entries" },   \
    { path ".ways",    MK_U32, OFF(f.ways), 1, maxe, doc " ways" }

const struct machine_key machine_keys[] = {
    { "name", MK_STR, OFF(name), 0, 0, "model name" },
    { "cpus", MK_U32, OFF(cpus), 1, MACHINE_MAX_CPUS, "number of CPUs (hardware threads or vCPUs)" },
    { "sockets", MK_U32, OFF(sockets), 1, 64, "sockets; CPU i sits on socket i*sockets/cpus" },
    { "freq_mhz", MK_U32, OFF(freq_mhz), 1, 100000, "core clock in MHz (converts trace timestamps)" },
    { "paging.levels", MK_U32, OFF(paging_levels), 4, 5, "page-table levels: 4 or 5" },
    { "paging.maxphyaddr", MK_U32, OFF(maxphyaddr), 36, 52, "physical address bits" },
    { "paging.keyid_bits", MK_U32, OFF(keyid_bits), 0, 16, "KeyID bits (TME-MK, TDX) taken from the top of maxphyaddr, where a map's keyid sits in every leaf PTE; at least 36 address bits must remain" },
    { "tlb.replacement", MK_REPL, OFF(replacement), 0, 0, "lru | plru | random" },
    GEOM("tlb.l1d.4k", l1d_4k, 65536, "L1 DTLB 4K"),
    GEOM("tlb.l1d.2m", l1d_2m, 65536, "L1 DTLB 2M"),
    GEOM("tlb.l1d.1g", l1d_1g, 65536, "L1 DTLB 1G"),
    GEOM("tlb.l1i.4k", l1i_4k, 65536, "L1 ITLB 4K"),
    GEOM("tlb.l1i.2m", l1i_2m, 65536, "L1 ITLB 2M"),
    GEOM("tlb.stlb", stlb, 1u << 20, "STLB (4K and 2M)"),
    { "tlb.stlb.holds_1g", MK_BOOL, OFF(stlb_holds_1g), 0, 1, "1G entries share the STLB array" },
    { "cpu.pcid", MK_BOOL, OFF(pcid), 0, 1, "PCID-tagged TLBs; Linux dynamic ASIDs (off: PCID-less)" },
    { "cpu.invpcid", MK_BOOL, OFF(invpcid), 0, 1, "the INVPCID instruction (off: Linux's fallbacks)" },
    { "cpu.pti", MK_BOOL, OFF(pti), 0, 1, "page-table isolation: user/kernel PCID pairs (needs cpu.pcid)" },
    GEOM("tlb.stlb1g", stlb_1g, 65536, "separate STLB for 1G pages"),
    { "tlb.stlb_hit_cycles", MK_U32, OFF(stlb_hit_cycles), 0, 1000, "extra cycles of an STLB hit" },
    GEOM("psc.pml5", psc_pml5, 4096, "PML5E cache"),
    GEOM("psc.pml4", psc_pml4, 4096, "PML4E cache"),
    GEOM("psc.pdpt", psc_pdpt, 4096, "PDPTE cache"),
    GEOM("psc.pd", psc_pd, 4096, "PDE cache"),
    { "walk.pml5_cycles", MK_U32, OFF(walk_level_cycles[5]), 0, 100000, "cycles to read a PML5 entry" },
    { "walk.pml4_cycles", MK_U32, OFF(walk_level_cycles[4]), 0, 100000, "cycles to read a PML4 entry" },
    { "walk.pdpt_cycles", MK_U32, OFF(walk_level_cycles[3]), 0, 100000, "cycles to read a PDPT entry" },
    { "walk.pd_cycles", MK_U32, OFF(walk_level_cycles[2]), 0, 100000, "cycles to read a PD entry" },
    { "walk.pt_cycles", MK_U32, OFF(walk_level_cycles[1]), 0, 100000, "cycles to read a PT entry" },
    { "walk.setad_cycles", MK_U32, OFF(walk_setad_cycles), 0, 100000, "A/D-bit assist on first write via a clean entry" },
    { "walk.fault_cycles", MK_U32, OFF(fault_cycles), 0, 10000000, "minor page fault" },
    { "cost.access_cycles", MK_U32, OFF(access_cycles), 0, 1000, "cycles per reference that hits the L1 TLB" },
    { "cost.invlpg_cycles", MK_U32, OFF(invlpg_cycles), 0, 10000000, "one INVLPG" },
    { "cost.cr3_flush_cycles", MK_U32, OFF(cr3_flush_cycles), 0, 10000000, "CR3 write (full non-global flush)" },
    { "cost.global_flush_cycles", MK_U32, OFF(global_flush_cycles), 0, 100000, "global flush (CR4.PGE toggle)" },
    { "cost.flush_request_cycles", MK_U32, OFF(flush_request_cycles), 0, 10000000, "flush_tlb_mm_range bookkeeping" },
    { "cost.switch_mm_cycles", MK_U32, OFF(switch_mm_cycles), 0, 100000, "switch_mm_irqs_off without the CR3 write" },
    { "kernel.zap_call_cycles", MK_U32, OFF(zap_call_cycles), 0, 10000000, "madvise(MADV_DONTNEED) (zap op): system call, VMA lookup, mmu_gather, per call" },
    { "kernel.zap_pte_cycles", MK_U32, OFF(zap_pte_cycles), 0, 10000000, "zap op: zap_pte_range per present PTE (clear, rmap, free the page)" },
    { "kernel.unmap_call_cycles", MK_U32, OFF(unmap_call_cycles), 0, 10000000, "munmap (unmap op): system call, VMA split/removal, free_pgtables, per call" },
    { "kernel.unmap_pte_cycles", MK_U32, OFF(unmap_pte_cycles), 0, 10000000, "unmap op: zap_pte_range per present PTE (clear, rmap, free the page)" },
    { "kernel.mprotect_call_cycles", MK_U32, OFF(mprotect_call_cycles), 0, 10000000, "mprotect (protect op): system call, VMA split/merge, per call" },
    { "kernel.mprotect_pte_cycles", MK_U32, OFF(mprotect_pte_cycles), 0, 10000000, "protect op: change_pte_range per present PTE" },
    { "apic.mode", MK_APIC, OFF(apic_mode), 0, 0, "xapic-flat | x2apic-phys | x2apic-cluster" },
    { "apic.shorthand", MK_BOOL, OFF(apic_shorthand), 0, 1, "use all-but-self when every other CPU is targeted" },
    { "apic.icr_write_cycles", MK_U32, OFF(icr_write_cycles), 0, 1000000, "one ICR write" },
    { "ipi.delivery_cycles", MK_U32, OFF(ipi_delivery_cycles), 0, 10000000, "IPI delivery, same socket" },
    { "ipi.cross_socket_cycles", MK_U32, OFF(ipi_cross_socket_cycles), 0, 10000000, "IPI delivery, other socket" },
    { "ipi.irq_entry_cycles", MK_U32, OFF(irq_entry_cycles), 0, 1000000, "interrupt entry on the target" },
    { "ipi.irq_exit_cycles", MK_U32, OFF(irq_exit_cycles), 0, 1000000, "interrupt exit and EOI" },
    { "ipi.ack_cycles", MK_U32, OFF(ack_cycles), 0, 1000000, "acknowledgement seen by the initiator" },
    { "ipi.handler_cycles", MK_U32, OFF(handler_cycles), 0, 1000000, "flush_tlb_func bookkeeping" },
    { "ipi.irq_entry_spread_cycles", MK_U32, OFF(irq_entry_spread_cycles), 0, 1000000, "mean of the seeded extra interrupt-entry latency (uniform, 0 to 2x)" },
    { "smp.cond_cycles", MK_U32, OFF(smp_cond_cycles), 0, 1000000, "should_flush_tlb (or the PV preempted test) per CPU examined" },
    { "smp.csd_lock_cycles", MK_U32, OFF(smp_csd_lock_cycles), 0, 1000000, "csd_lock and filling one target's csd" },
    { "smp.llist_add_cycles", MK_U32, OFF(smp_llist_add_cycles), 0, 1000000, "llist_add onto one target's call_single_queue" },
    { "smp.csd_read_cycles", MK_U32, OFF(smp_csd_read_cycles), 0, 1000000, "target drains call_single_queue and reads the csd" },
    { "smp.info_line_cycles", MK_U32, OFF(smp_info_line_cycles), 0, 1000000, "target reads the shared flush_tlb_info line" },
    { "smp.info_share_cycles", MK_U32, OFF(smp_info_share_cycles), 0, 1000000, "flush_tlb_info line busy per reader (readers queue)" },
    { "smp.cross_socket_line_cycles", MK_U32, OFF(smp_cross_socket_line_cycles), 0, 1000000, "extra per cache line moved between sockets" },
    { "idle.c1_exit_cycles", MK_U32, OFF(c1_exit_cycles), 0, 100000000, "wake-up from C1" },
    { "idle.c6_exit_cycles", MK_U32, OFF(c6_exit_cycles), 0, 100000000, "wake-up from C6" },
    { "idle.c6_leave_mm", MK_BOOL, OFF(c6_leave_mm), 0, 1, "deep idle calls leave_mm (switch to init_mm)" },
    { "linux.tlb_single_page_flush_ceiling", MK_U32, OFF(flush_ceiling), 0, 1u << 30, "ranges above this many stride units are flushed whole" },
    { "linux.hz", MK_U32, OFF(hz), 1, 100000, "timer ticks per second" },
    { "virt.enabled", MK_BOOL, OFF(virt), 0, 1, "CPUs are vCPUs of a guest" },
    { "virt.vmexit_cycles", MK_U32, OFF(vmexit_cycles), 0, 10000000, "VM exit round trip for a trapped ICR write" },
    { "virt.hypercall_cycles", MK_U32, OFF(hypercall_cycles), 0, 10000000, "hypercall round trip" },
    { "virt.pv_ipi_window", MK_U32, OFF(pv_ipi_window), 1, 4096, "APIC ids per KVM_HC_SEND_IPI" },
    { "virt.hv_flush_page_cycles", MK_U32, OFF(hv_flush_page_cycles), 0, 1000000, "host work per page, Hyper-V list flush" },
    { "virt.invlpg_sync_cycles", MK_U32, OFF(invlpg_sync_cycles), 0, 10000000, "extra per user INVLPG whose page table is still attached (shadow paging re-syncs the entry; 0 with EPT/NPT)" },
    { "virt.vcpu_resume_flush_cycles", MK_U32, OFF(vcpu_resume_flush_cycles), 0, 10000000, "full guest flush on vCPU entry" },
    { "virt.posted_interrupts", MK_BOOL, OFF(posted_interrupts), 0, 1, "a running vCPU takes an IPI without a VM exit" },
    { "virt.eoi_exit", MK_BOOL, OFF(eoi_exit), 0, 1, "the guest's EOI write is a VM exit" },
    { "virt.ept", MK_BOOL, OFF(ept), 0, 1, "two-dimensional walks: guest tables and frames are guest-physical, translated by the VM's EPT" },
    { "ept.levels", MK_U32, OFF(ept_levels), 4, 5, "EPT levels: 4 or 5" },
    GEOM("ept.psc.pml5", ept_psc_pml5, 4096, "EPT PML5E cache"),
    GEOM("ept.psc.pml4", ept_psc_pml4, 4096, "EPT PML4E cache"),
    GEOM("ept.psc.pdpt", ept_psc_pdpt, 4096, "EPT PDPTE cache"),
    GEOM("ept.psc.pd", ept_psc_pd, 4096, "EPT PDE cache"),
    { "ept.pml5_cycles", MK_U32, OFF(ept_walk_cycles[5]), 0, 100000, "cycles to read an EPT PML5 entry" },
    { "ept.pml4_cycles", MK_U32, OFF(ept_walk_cycles[4]), 0, 100000, "cycles to read an EPT PML4 entry" },
    { "ept.pdpt_cycles", MK_U32, OFF(ept_walk_cycles[3]), 0, 100000, "cycles to read an EPT PDPT entry" },
    { "ept.pd_cycles", MK_U32, OFF(ept_walk_cycles[2]), 0, 100000, "cycles to read an EPT PD entry" },
    { "ept.pt_cycles", MK_U32, OFF(ept_walk_cycles[1]), 0, 100000, "cycles to read an EPT PT entry" },
    { "ept.violation_cycles", MK_U32, OFF(ept_violation_cycles), 0, 100000000, "EPT violation: exit, KVM maps the 4K page, re-entry" },
    { "ept.dirty_fault_cycles", MK_U32, OFF(ept_dirty_fault_cycles), 0, 100000000, "write to a page write-protected for dirty logging: KVM's fast path between the exit and the entry (restore W, mark the page dirty)" },
    { "ept.prefault", MK_BOOL, OFF(ept_prefault), 0, 1, "the host backed guest memory (2M, THP) before the trace: no EPT violations" },
    { "virt.vpid", MK_BOOL, OFF(vpid), 0, 1, "VPID on: VM exits and entries keep guest TLB entries (off: both flush)" },
    { "virt.host_flush", MK_HFLUSH, OFF(host_flush), 0, 0, "kvm_flush_remote_tlbs: kick (IPIs to running vCPUs) | hv-enlightened (Hyper-V hypercall)" },
    { "virt.kick_exit_cycles", MK_U32, OFF(kick_exit_cycles), 0, 10000000, "VM exit on a host IPI until the host acknowledges it" },
    { "virt.entry_cycles", MK_U32, OFF(entry_cycles), 0, 10000000, "VM entry back into the guest" },
    { "virt.request_cycles", MK_U32, OFF(request_cycles), 0, 1000000, "kvm_make_request and the needs-IPI test, per vCPU" },
    { "virt.zap_pte_cycles", MK_U32, OFF(host_zap_pte_cycles), 0, 1000000, "host zaps one 4K EPT leaf" },
    { "virt.wrprotect_pte_cycles", MK_U32, OFF(wrprotect_pte_cycles), 0, 1000000, "host write-protects one 4K EPT leaf (dirty logging)" },
    { "virt.invept_single_cycles", MK_U32, OFF(invept_single_cycles), 0, 10000000, "INVEPT single-context" },
    { "virt.invept_global_cycles", MK_U32, OFF(invept_global_cycles), 0, 10000000, "INVEPT all-context" },
    { "virt.invvpid_addr_cycles", MK_U32, OFF(invvpid_addr_cycles), 0, 10000000, "INVVPID individual address" },
    { "virt.invvpid_single_cycles", MK_U32, OFF(invvpid_single_cycles), 0, 10000000, "INVVPID single context" },
    { "virt.invvpid_all_cycles", MK_U32, OFF(invvpid_all_cycles), 0, 10000000, "INVVPID all contexts" },
    { "virt.tdx", MK_BOOL, OFF(tdx), 0, 1, "the VM is a TDX trust domain (tdx_remove, epoch tracking)" },
    { "tdx.block_cycles", MK_U32, OFF(tdx_block_cycles), 0, 100000000, "TDH.MEM.RANGE.BLOCK per 4K page" },
    { "tdx.track_cycles", MK_U32, OFF(tdx_track_cycles), 0, 100000000, "TDH.MEM.TRACK (TD epoch + 1)" },
    { "tdx.remove_cycles", MK_U32, OFF(tdx_remove_cycles), 0, 100000000, "TDH.MEM.PAGE.REMOVE and the page's WBINVD, per 4K page" },
    { "tdx.exit_cycles", MK_U32, OFF(tdx_exit_cycles), 0, 100000000, "TD exit on a host IPI until the host acknowledges it" },
    { "tdx.entry_cycles", MK_U32, OFF(tdx_entry_cycles), 0, 100000000, "TDH.VP.ENTER back into the TD" },
    { "broadcast.invlpgb_cycles", MK_U32, OFF(invlpgb_cycles), 0, 1000000, "issue cost of one INVLPGB" },
    { "broadcast.invlpgb_count_max", MK_U32, OFF(invlpgb_count_max), 1, 1u << 16, "pages per INVLPGB" },
    { "broadcast.tlbsync_cycles", MK_U32, OFF(tlbsync_cycles), 0, 10000000, "TLBSYNC wait" },
    { "broadcast.hw", MK_BOOL, OFF(bcast_hw), 0, 1, "the CPU has broadcast invalidation (INVLPGB/TLBSYNC or RAR)" },
    { "policy.batched.pages", MK_U32, OFF(batch_pages), 1, 1u << 20, "batched: flush when this many pages pend" },
    { "policy.batched.window_cycles", MK_U32, OFF(batch_window_cycles), 1, UINT32_MAX, "batched: or after this many cycles" },
    { "policy.deferred.tick_cycles", MK_U32, OFF(deferred_tick_cycles), 1, UINT32_MAX, "lazy-deferred: remote invalidation tick" },
    { "sim.quantum", MK_U32, OFF(quantum), 0, 1000000, "run-ahead cycles between CPU synchronisations (0 = exact)" },
    { "sim.seed", MK_U64, OFF(seed), 0, UINT64_MAX, "seed for random replacement and the interrupt-entry spread" },
    { "limits.max_frames", MK_U64, OFF(max_frames), 1, 1ull << 40, "4K frames live at once" },
    { "limits.max_table_pages", MK_U64, OFF(max_table_pages), 1, 1ull << 32, "page-table pages live at once" },
    { "limits.max_vmas", MK_U32, OFF(max_vmas), 1, 1u << 24, "mappings per address space" },
};
const size_t machine_nr_keys = ARRAY_SIZE(machine_keys);

void machine_init(struct machine *m)
{
    memset(m, 0, sizeof(*m));
    snprintf(m->name, sizeof(m->name), "default-skylake-sp");
    m->cpus = 4;
    m->sockets = 1;
    m->freq_mhz = 2500;
    m->paging_levels = 4;
    m->maxphyaddr = 46;                 /* Skylake-SP, hw-params.md */
    m->replacement = TLB_REPL_LRU;
    /* Intel Optimization Manual 248966-045, Table 2-15 (Skylake). */
    m->l1d_4k = (struct tlb_geom){ 64, 4 };
    m->l1d_2m = (struct tlb_geom){ 32, 4 };
    m->l1d_1g = (struct tlb_geom){ 4, 4 };
    m->l1i_4k = (struct tlb_geom){ 128, 8 };
    m->l1i_2m = (struct tlb_geom){ 8, 8 };
    m->stlb = (struct tlb_geom){ 1536, 12 };
    m->stlb_holds_1g = false;
    m->pcid = false;                    /* the project's default: PCID-less */
    m->invpcid = true;                  /* Skylake-SP has it (CPUID.07H:EBX[10]) */
    m->pti = false;                     /* Linux's default on CPUs not affected by Meltdown */
    m->stlb_1g = (struct tlb_geom){ 16, 4 };
    m->stlb_hit_cycles = 9;             /* hw-params.md, Skylake ~9 */
    /* ChampSim defaults (hw-params.md [S10]): a simulator convention. */
    m->psc_pml5 = (struct tlb_geom){ 2, 2 };
    m->psc_pml4 = (struct tlb_geom){ 4, 4 };
    m->psc_pdpt = (struct tlb_geom){ 8, 4 };
    m->psc_pd = (struct tlb_geom){ 32, 8 };
    /* Estimate: upper levels from L1D (4), PD from L2 (12), PT from L2/L3. */
    m->walk_level_cycles[5] = 4;
    m->walk_level_cycles[4] = 4;
    m->walk_level_cycles[3] = 4;
    m->walk_level_cycles[2] = 12;
    m->walk_level_cycles[1] = 20;
    m->walk_setad_cycles = 20;          /* estimate */
    m->fault_cycles = 200 * 10;         /* ChampSim 200 is a convention; ~1 us minor fault estimate */
    m->access_cycles = 1;
    m->invlpg_cycles = 260;             /* linux-tlb.md F-2 */
    m->cr3_flush_cycles = 96;           /* linux-tlb.md F-1 */
    m->global_flush_cycles = 1350;      /* F-9: ~539 ns at 2.5 GHz */
    m->flush_request_cycles = 400;      /* estimate from B2 (1-page flush 1276 cycles incl. INVLPG) */
    m->switch_mm_cycles = 300;          /* estimate */
    /* No kernel.* work, as in every shipped model: an uncalibrated run
     * times the flush path alone (skylake-sp.json has the estimates of the
     * real cost and why they are not charged by default). */
    m->zap_call_cycles = 0;
    m->zap_pte_cycles = 0;
    m->unmap_call_cycles = 0;
    m->unmap_pte_cycles = 0;
    m->mprotect_call_cycles = 0;
    m->mprotect_pte_cycles = 0;
    m->apic_mode = APIC_X2APIC_CLUSTER;
    m->apic_shorthand = true;
    m->icr_write_cycles = 100;          /* estimate; x2APIC WRMSR */
    m->ipi_delivery_cycles = 1500;      /* estimate: ~0.6 us same socket */
    m->ipi_cross_socket_cycles = 3000;  /* estimate: ~1.2 us */
    m->irq_entry_cycles = 400;          /* estimate */
    m->irq_exit_cycles = 300;           /* estimate */
    m->ack_cycles = 200;                /* estimate: one cacheline transfer */
    m->handler_cycles = 150;            /* estimate */
    m->irq_entry_spread_cycles = 100;   /* estimate */
    m->smp_cond_cycles = 20;            /* estimate: LLC hits, overlapped */
    m->smp_csd_lock_cycles = 110;       /* estimate: one core-to-core line transfer */
    m->smp_llist_add_cycles = 130;      /* estimate: a transfer plus the locked cmpxchg */
    m->smp_csd_read_cycles = 150;       /* estimate */
    m->smp_info_line_cycles = 110;      /* estimate */
    m->smp_info_share_cycles = 40;      /* estimate */
    m->smp_cross_socket_line_cycles = 200;  /* estimate: the UPI hop */
    m->c1_exit_cycles = 5000;           /* estimate: ~2 us */
    m->c6_exit_cycles = 125000;         /* estimate: ~50 us */
    m->c6_leave_mm = true;
    m->flush_ceiling = 33;              /* arch/x86/mm/tlb.c */
    m->hz = 1000;
    m->virt = false;
    m->vmexit_cycles = 2500;            /* estimate: ~1 us VM exit round trip */
    m->hypercall_cycles = 2500;         /* estimate */
    m->pv_ipi_window = 128;             /* KVM_IPI_CLUSTER_SIZE, linux-tlb.md B6 */
    m->hv_flush_page_cycles = 300;      /* estimate */
    m->invlpg_sync_cycles = 0;          /* native: INVLPG never exits */
    m->vcpu_resume_flush_cycles = 500;  /* estimate */
    m->posted_interrupts = true;        /* APICv on Skylake-SP hosts */
    m->eoi_exit = false;                /* APICv virtualises EOI */
    m->ept = false;                     /* one-dimensional walks (golden CSVs) */
    m->ept_levels = 4;                  /* Skylake-SP: 4-level EPT */
    /* Estimate: Intel publishes no EPT PSC sizes; the guest PSCs' ChampSim
     * convention is reused (docs/models.md).  EPT entries sit in host
     * memory cached like guest entries: the native per-level figures. */
    m->ept_psc_pml5 = m->psc_pml5;
    m->ept_psc_pml4 = m->psc_pml4;
    m->ept_psc_pdpt = m->psc_pdpt;
    m->ept_psc_pd = m->psc_pd;
    memcpy(m->ept_walk_cycles, m->walk_level_cycles, sizeof(m->ept_walk_cycles));
    m->ept_violation_cycles = 10000;    /* estimate: ~4 us, exit + kvm_tdp_mmu_map + host page */
    m->ept_dirty_fault_cycles = 300;    /* estimate: fast_page_fault's lockless walk + cmpxchg + dirty bit */
    m->ept_prefault = false;            /* first touches take EPT violations */
    m->vpid = true;                     /* every VMX host since Nehalem; KVM's enable_vpid default */
    m->host_flush = HOST_FLUSH_KICK;    /* KVM on bare metal */
    /* Estimates: a minimal VM exit + entry round trip is of the order of
     * 1,000-1,500 cycles on Skylake-class hosts; split, plus the host's
     * interrupt handling on the exit side. */
    m->kick_exit_cycles = 1000;         /* estimate */
    m->entry_cycles = 700;              /* estimate */
    m->request_cycles = 30;             /* estimate: one set_bit and one mode read per vCPU */
    m->host_zap_pte_cycles = 60;        /* estimate: one atomic SPTE write plus bookkeeping */
    m->wrprotect_pte_cycles = 40;       /* estimate: one cmpxchg on the SPTE */
    /* Estimates, no published figure found: of the order of INVLPG (260)
     * for one address and of a CR3 flush plus the PSCs for a context. */
    m->invept_single_cycles = 400;      /* estimate */
    m->invept_global_cycles = 600;      /* estimate */
    m->invvpid_addr_cycles = 260;       /* estimate: as INVLPG (linux-tlb.md F-2) */
    m->invvpid_single_cycles = 400;     /* estimate */
    m->invvpid_all_cycles = 600;        /* estimate */
    m->tdx = false;
    /* TDX: estimates, SEAMCALLs cost several VM transitions each (SEAM
     * mode entry and exit plus the module's checks). */
    m->tdx_block_cycles = 3000;         /* estimate */
    m->tdx_track_cycles = 2500;         /* estimate */
    m->tdx_remove_cycles = 6000;        /* estimate: includes TDH.PHYMEM.PAGE.WBINVD of the page */
    m->tdx_exit_cycles = 3000;          /* estimate */
    m->tdx_entry_cycles = 3000;         /* estimate */
    m->invlpgb_cycles = 100;            /* estimate */
    m->invlpgb_count_max = 8;           /* estimate; CPUID-reported on real parts */
    m->tlbsync_cycles = 1500;           /* estimate */
    m->batch_pages = 32;
    m->batch_window_cycles = 250000;    /* 100 us at 2.5 GHz */
    m->deferred_tick_cycles = 2500000;  /* 1 ms tick at 2.5 GHz (HZ=1000) */
    m->quantum = 100;
    m->seed = 1;
    m->max_frames = 1ull << 24;         /* 64 GiB of 4K frames */
    m->max_table_pages = 1ull << 18;
    m->max_vmas = 1u << 20;
}

const struct machine_key *machine_key_find(const char *key)
{
    for (size_t i = 0; i < machine_nr_keys; i++)
        if (!strcmp(machine_keys[i].key, key))
            return &machine_keys[i];
    return NULL;
}

static int parse_u64(const char *s, u64 *out)
{
    char *end;

    if (!*s || *s == '-' || *s == '+' || *s == ' ')
        return -1;
    errno = 0;
    /* Decimal, or hex with 0x: never octal ("010" is ten). */
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        *out = strtoull(s + 2, &end, 16);
    else
        *out = strtoull(s, &end, 10);
    if (end == s || (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && end == s + 2))
        return -1;
    if (errno || *end)
        return -1;
    return 0;
}

int machine_set(struct machine *m, const struct machine_key *k,
                const char *value, struct sim_err *err)
{
    char *p = (char *)m + k->offset;
    u64 v;

    switch (k->type) {
    case MK_STR:
        if (strlen(value) >= MACHINE_NAME_MAX)
            return sim_err_set(err, SIM_ERANGE, "%s: longer than %d bytes",
                               k->key, MACHINE_NAME_MAX - 1);
        snprintf(p, MACHINE_NAME_MAX, "%s", value);
        return SIM_OK;
    case MK_BOOL:
        if (!strcmp(value, "true") || !strcmp(value, "1"))
            *(bool *)p = true;
        else if (!strcmp(value, "false") || !strcmp(value, "0"))
            *(bool *)p = false;
        else
            return sim_err_set(err, SIM_EINVAL, "%s: expected true or false, got \"%s\"",
                               k->key, value);
        return SIM_OK;
    case MK_REPL:
        if (!strcmp(value, "lru"))
            *(enum tlb_repl *)p = TLB_REPL_LRU;
        else if (!strcmp(value, "plru"))
            *(enum tlb_repl *)p = TLB_REPL_PLRU;
        else if (!strcmp(value, "random"))
            *(enum tlb_repl *)p = TLB_REPL_RANDOM;
        else
            return sim_err_set(err, SIM_EINVAL, "%s: expected lru, plru or random, got \"%s\"",
                               k->key, value);
        return SIM_OK;
    case MK_HFLUSH:
        if (!strcmp(value, "kick"))
            *(enum host_flush *)p = HOST_FLUSH_KICK;
        else if (!strcmp(value, "hv-enlightened"))
            *(enum host_flush *)p = HOST_FLUSH_HV;
        else
            return sim_err_set(err, SIM_EINVAL, "%s: expected kick or hv-enlightened, got \"%s\"",
                               k->key, value);
        return SIM_OK;
    case MK_APIC:
        if (!strcmp(value, "xapic-flat"))
            *(enum apic_mode *)p = APIC_XAPIC_FLAT;
        else if (!strcmp(value, "x2apic-phys"))
            *(enum apic_mode *)p = APIC_X2APIC_PHYS;
        else if (!strcmp(value, "x2apic-cluster"))
            *(enum apic_mode *)p = APIC_X2APIC_CLUSTER;
        else
            return sim_err_set(err, SIM_EINVAL,
                               "%s: expected xapic-flat, x2apic-phys or x2apic-cluster, got \"%s\"",
                               k->key, value);
        return SIM_OK;
    case MK_U32:
    case MK_U64:
        if (parse_u64(value, &v))
            return sim_err_set(err, SIM_EINVAL, "%s: expected a non-negative integer, got \"%s\"",
                               k->key, value);
        if (v < k->min || v > k->max)
            return sim_err_set(err, SIM_ERANGE, "%s: %s is outside [%" PRIu64 ", %" PRIu64 "]",
                               k->key, value, k->min, k->max);
        if (k->type == MK_U32)
            *(u32 *)p = (u32)v;
        else
            *(u64 *)p = v;
        return SIM_OK;
    }
    return sim_err_set(err, SIM_EINTERNAL, "%s: unknown key type", k->key);
}

void machine_get(const struct machine *m, const struct machine_key *k,
                 char *buf, size_t len)
{
    const char *p = (const char *)m + k->offset;
    static const char *repl[] = { "lru", "plru", "random" };
    static const char *apic[] = { "xapic-flat", "x2apic-phys", "x2apic-cluster" };
    static const char *hflush[] = { "kick", "hv-enlightened" };

    switch (k->type) {
    case MK_STR:  snprintf(buf, len, "%s", p); break;
    case MK_BOOL: snprintf(buf, len, "%s", *(const bool *)p ? "true" : "false"); break;
    case MK_REPL: snprintf(buf, len, "%s", repl[*(const enum tlb_repl *)p]); break;
    case MK_APIC: snprintf(buf, len, "%s", apic[*(const enum apic_mode *)p]); break;
    case MK_HFLUSH: snprintf(buf, len, "%s", hflush[*(const enum host_flush *)p]); break;
    case MK_U32:  snprintf(buf, len, "%" PRIu32, *(const u32 *)p); break;
    case MK_U64:  snprintf(buf, len, "%" PRIu64, *(const u64 *)p); break;
    }
}

static int check_geom(const struct tlb_geom *g, const char *path, struct sim_err *err)
{
    if (g->entries == 0)
        return SIM_OK;
    if (g->ways == 0 || g->ways > g->entries || g->entries % g->ways)
        return sim_err_set(err, SIM_EINVAL,
                           "%s: %u entries cannot be split into sets of %u ways",
                           path, g->entries, g->ways);
    return SIM_OK;
}

int machine_validate(const struct machine *m, struct sim_err *err)
{
    const struct { const struct tlb_geom *g; const char *path; } geoms[] = {
        { &m->l1d_4k, "tlb.l1d.4k" }, { &m->l1d_2m, "tlb.l1d.2m" },
        { &m->l1d_1g, "tlb.l1d.1g" }, { &m->l1i_4k, "tlb.l1i.4k" },
        { &m->l1i_2m, "tlb.l1i.2m" }, { &m->stlb, "tlb.stlb" },
        { &m->stlb_1g, "tlb.stlb1g" }, { &m->psc_pml5, "psc.pml5" },
        { &m->psc_pml4, "psc.pml4" }, { &m->psc_pdpt, "psc.pdpt" },
        { &m->psc_pd, "psc.pd" }, { &m->ept_psc_pml5, "ept.psc.pml5" },
        { &m->ept_psc_pml4, "ept.psc.pml4" }, { &m->ept_psc_pdpt, "ept.psc.pdpt" },
        { &m->ept_psc_pd, "ept.psc.pd" },
    };
    int rc;

    for (size_t i = 0; i < ARRAY_SIZE(geoms); i++)
        if ((rc = check_geom(geoms[i].g, geoms[i].path, err)))
            return rc;
    if (m->sockets == 0 || m->sockets > m->cpus)
        return sim_err_set(err, SIM_EINVAL, "sockets: %u sockets for %u CPUs",
                           m->sockets, m->cpus);
    if (m->tdx && !m->virt)
        return sim_err_set(err, SIM_EINVAL, "virt.tdx: a trust domain needs virt.enabled");
    if (m->paging_levels != 4 && m->paging_levels != 5)
        return sim_err_set(err, SIM_EINVAL, "paging.levels: must be 4 or 5");
    /* The kernel keeps x86_phys_bits = MAXPHYADDR - KeyID bits
     * (arch/x86/kernel/cpu/intel.c, detect_tme()); the model needs 36. */
    if (m->keyid_bits > m->maxphyaddr || m->maxphyaddr - m->keyid_bits < 36)
        return sim_err_set(err, SIM_EINVAL, "paging.keyid_bits: %u KeyID bits of %u-bit "
                           "MAXPHYADDR leave %d physical address bits, fewer than 36",
                           m->keyid_bits, m->maxphyaddr, (int)m->maxphyaddr - (int)m->keyid_bits);
    if (m->ept && !m->virt)
        return sim_err_set(err, SIM_EINVAL, "virt.ept: needs virt.enabled true (EPT translates a guest's memory)");
    /* Every CPU gets every structure: bound the total, not each key. */
    u64 per_cpu = 0;
    for (size_t i = 0; i < ARRAY_SIZE(geoms) - (m->ept ? 0 : 4); i++)   /* EPT PSCs last */
        per_cpu += geoms[i].g->entries;
    if (per_cpu * m->cpus > MACHINE_MAX_TLB_ENTRIES)
        return sim_err_set(err, SIM_ELIMIT,
                           "tlb: %u CPUs x %" PRIu64 " entries each exceeds %u TLB entries in all",
                           m->cpus, per_cpu, MACHINE_MAX_TLB_ENTRIES);
    return SIM_OK;
}
