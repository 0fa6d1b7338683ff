/* sim/viz/viz_colour.c - the colour and the name of each task kind and
 * address space, shared by the frame, the legend and the tooltips. */
#include "viz_priv.h"

static const u32 mm_palette[] = {
    0x4a84e0, 0x46b35e, 0x2fb0a8, 0x8a6ee0, 0x5fb6f0, 0x86a83a, 0x5b62d0, 0x3f9b7f,
};

u32 viz_mm_color(s64 mm)
{
    if (mm < 0)
        return VIZ_COL_KERNEL_MM;
    return mm_palette[(u64)(mm + 7) % ARRAY_SIZE(mm_palette)];
}

u32 viz_kind_color(enum viz_kind k, s64 mm)
{
    switch (k) {
    case VK_USER:      return viz_mm_color(mm);
    case VK_USER_WAIT: return viz_mix(viz_mm_color(mm), VIZ_COL_TRACK, 150);
    case VK_KTHREAD:   return VIZ_COL_KTHREAD;
    case VK_LAZY:      return VIZ_COL_LAZY;
    case VK_IDLE:      return VIZ_COL_IDLE;
    case VK_HANDLER:   return VIZ_COL_HANDLER;
    case VK_WALK:      return VIZ_COL_WALK;
    case VK_SPIN:      return VIZ_COL_SPIN;
    case VK_PREEMPTED: return VIZ_COL_PREEMPTED;
    default:           return VIZ_COL_NONE;
    }
}

const char *viz_kind_name(enum viz_kind k)
{
    static const char *const names[VK__COUNT] = {
        [VK_USER] = "user task", [VK_USER_WAIT] = "user task, waiting",
        [VK_KTHREAD] = "kernel thread", [VK_LAZY] = "lazy TLB (kernel thread)",
        [VK_IDLE] = "idle", [VK_HANDLER] = "flush IPI handler", [VK_WALK] = "page walks",
        [VK_SPIN] = "spinning for acks", [VK_PREEMPTED] = "vCPU preempted", [VK_NONE] = "no task",
    };
    return (unsigned)k < VK__COUNT ? names[k] : "?";
}
