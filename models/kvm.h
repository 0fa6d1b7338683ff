/* models/kvm.h - the host side of a guest's TLB coherence: VM exits and
 * entries with and without VPID, INVVPID/INVEPT, KVM's remote TLB flush
 * (kvm_flush_remote_tlbs) by kicks or by the Hyper-V enlightened flush, and
 * the TDX module's TLB tracking.  Pure state and costs; the engine
 * (sim/engine/host.c) decides when they happen.
 *
 * One simulated run is one VM: the machine's CPUs are its vCPUs, each on its
 * own physical CPU.  The TLB entries of a CPU are that vCPU's combined
 * (guest-linear to host-physical) translations, all of one VPID and one EPT
 * context; host entries are not modelled.  So a VPID or EPTP tag has no
 * second value to be told apart from: what VPID changes is which
 * transitions flush (kvm_vcpu_exit/kvm_vcpu_enter below).
 *
 * Rules and their sources:
 *   - VPID off: VM entries and VM exits invalidate every linear and combined
 *     mapping of VPID 0 (SDM vol. 3C, "VPID and TLB" / 29.1: with "enable
 *     VPID" 0 the processor flushes on every transition; KVM then runs
 *     guests with VPID 0, arch/x86/kvm/vmx/vmx.c allocate_vpid()).  VPID
 *     on: transitions flush nothing.
 *   - KVM_REQ_TLB_FLUSH, served in vcpu_enter_guest() before the entry
 *     (arch/x86/kvm/x86.c: kvm_service_local_tlb_flush_requests ->
 *     kvm_vcpu_flush_tlb_all -> vmx_flush_tlb_all): with EPT, INVEPT
 *     all-context (ept_sync_global), which drops every guest mapping.
 *   - kvm_flush_remote_tlbs() (virt/kvm/kvm_main.c): the arch hook first
 *     (kvm_arch_flush_remote_tlbs: hv_flush_remote_tlbs when KVM runs on
 *     Hyper-V with the enlightenment), else kvm_make_all_cpus_request(kvm,
 *     KVM_REQ_TLB_FLUSH): the request bit on every vCPU, and an IPI to the
 *     physical CPU of each vCPU in IN_GUEST_MODE (kvm_request_needs_ipi);
 *     KVM_REQ_TLB_FLUSH carries KVM_REQUEST_WAIT, so the caller waits in
 *     smp_call_function_many(..., wait=true) until every kicked CPU has run
 *     the (empty) ack_kick handler, i.e. until the VM exit is done, not
 *     until the flush; the flush follows at the vCPU's re-entry.  vCPUs
 *     out of guest mode (preempted) just keep the bit (KVM_REQUEST_NO_WAKEUP)
 *     and flush at their next entry.
 *   - A vCPU loaded on another physical CPU: vmx_vcpu_load_vmcs() requests
 *     KVM_REQ_TLB_FLUSH (the new CPU may hold stale entries of this vCPU).
 *   - Hyper-V enlightened flush (Hyper-V TLFS, HvCallFlushGuestPhysical
 *     AddressSpace / HvCallFlushGuestPhysicalAddressList; KVM's
 *     hv_flush_remote_tlbs / hv_flush_remote_tlbs_range in
 *     arch/x86/kvm/kvm_onhyperv.c): one hypercall, L0 invalidates the
 *     guest-physical (and so combined) mappings of the EPT root on every
 *     CPU; no vCPU is kicked.
 *   - TDX (Intel TDX module ABI spec, "TLB tracking"; Linux
 *     arch/x86/kvm/vmx/tdx.c tdx_sept_remove_private_spte / tdx_track):
 *     TDH.MEM.RANGE.BLOCK on the page, TDH.MEM.TRACK (the TD epoch + 1),
 *     kvm_make_all_cpus_request(KVM_REQ_OUTSIDE_GUEST_MODE) so every vCPU
 *     leaves the TD, then TDH.MEM.PAGE.REMOVE.  TDH.VP.ENTER flushes the
 *     vCPU's TLB context when its epoch is behind the TD's (once, however
 *     many TRACKs it missed).
 */
#ifndef TLBSIM_KVM_H
#define TLBSIM_KVM_H

#include "base.h"
#include "cpu.h"
#include "cpumask.h"
#include "machine.h"
#include "smp.h"

/* INVEPT types (SDM vol. 2, INVEPT). */
enum invept_type {
    INVEPT_SINGLE_CONTEXT = 1,          /* one EPTP */
    INVEPT_ALL_CONTEXT = 2,             /* every EPTP ("global") */
};

/* INVVPID types (SDM vol. 2, INVVPID). */
enum invvpid_type {
    INVVPID_INDIV_ADDR = 0,             /* one linear address, one VPID */
    INVVPID_SINGLE_CONTEXT = 1,         /* one VPID */
    INVVPID_ALL_CONTEXT = 2,            /* every VPID but 0 */
};

/* The host's view of one vCPU. */
struct kvm_vcpu {
    bool req_tlb_flush;                 /* KVM_REQ_TLB_FLUSH pending: served at the next entry */
    u64 tdx_epoch;                      /* TD epoch of its last TDH.VP.ENTER */
    cycles_t kick_at;                   /* a kick IPI reaches its CPU (CYCLES_NEVER: none) */
};

/* The host's view of the VM. */
struct kvm_vm {
    u64 tdx_epoch;                      /* TD epoch: TDH.MEM.TRACK adds one */
    u64 tracks;                         /* TDH.MEM.TRACK calls */
};

void kvm_vcpu_init(struct kvm_vcpu *v);

/* ---- flush instructions: the TLB effect and the cost ------------------- */
/* Both drop every guest (combined) entry of c and its PSCs: the model's
 * entries are all of this vCPU's VPID and EPT context. */
cycles_t vmx_invept(const struct machine *m, struct cpu *c, enum invept_type type);
/* Type 0 drops va's entries (every PCID, global ones too) and the PSCs, as
 * INVLPG does; types 1 and 2 drop everything. */
cycles_t vmx_invvpid(const struct machine *m, struct cpu *c, enum invvpid_type type, u64 va);

/* ---- transitions -------------------------------------------------------- */
/* What one VM exit on a host IPI costs until the host has handled it, and
 * one VM entry (VMX, or a TD's SEAM transitions with virt.tdx). */
static inline cycles_t kvm_exit_cycles(const struct machine *m)
{
    return m->tdx ? m->tdx_exit_cycles : m->kick_exit_cycles;
}
static inline cycles_t kvm_entry_cycles(const struct machine *m)
{
    return m->tdx ? m->tdx_entry_cycles : m->entry_cycles;
}
/* VM exit: without VPID every guest entry goes (vmx_transition_flushes).
 * Callers price the exit (kvm_exit_cycles or their own figure). */
void kvm_vcpu_exit(const struct machine *m, struct cpu *c);
/* VM entry (vcpu_enter_guest / TDH.VP.ENTER): a pending KVM_REQ_TLB_FLUSH
 * is served (INVEPT all-context), a TD vCPU whose epoch is behind the TD's
 * is flushed (INVEPT single-context, by the TDX module), and without VPID
 * the entry flushes.  Returns the cycles of those flushes only (callers
 * price the entry itself). */
cycles_t kvm_vcpu_enter(const struct machine *m, const struct kvm_vm *vm,
                        struct kvm_vcpu *v, struct cpu *c);
/* n exit + entry pairs that callers price themselves (n trapped ICR
 * writes, a hypercall, an interrupt exit): without VPID each flushes. */
void kvm_vcpu_exits_taken(const struct machine *m, struct cpu *c, u32 n);

/* ---- the host CPU's side ------------------------------------------------ */
/* kvm_make_all_cpus_request(kvm, req) with KVM_REQUEST_WAIT from physical
 * CPU self at t0: virt.request_cycles for each of nr_vcpus vCPUs
 * (kvm_make_request + kvm_request_needs_ipi), then the host's own
 * smp_call_function_many() to in_guest (bare-metal IPI costs: models/smp.h
 * with the host's APIC), then csd_lock_wait() on each kicked CPU, which
 * unlocks exit_cycles after its IPI arrives (the VM exit, then ack_kick).
 * Fills arrival[cpu] for the kicked CPUs and *snd.  Returns the host's
 * cycles from t0 until the last acknowledgement. */
cycles_t kvm_make_all_cpus_request(const struct machine *m, u32 self, u32 nr_vcpus,
                                   const struct cpumask *in_guest, cycles_t exit_cycles,
                                   cycles_t t0, cycles_t *arrival, struct smp_send *snd);
/* The Hyper-V enlightened flush from the host: the hypercall round trip,
 * one host IPI delivery when some other vCPU runs, and L0's work: one
 * INVEPT single-context for the whole address space (range false), or
 * virt.hv_flush_page_cycles per 4K page for the list form. */
cycles_t kvm_hv_flush_cycles(const struct machine *m, bool range, u64 pages, bool others_run);
/* Drop c's entries whose frame overlaps [gpa, gpa + len) (the list flush),
 * and its PSCs (they may lead to the range: dropped conservatively). */
void kvm_drop_gpa_range(struct cpu *c, u64 gpa, u64 len);

#endif
