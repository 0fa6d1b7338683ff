/* sim/io/version.c - the version string.  The Makefile writes
 * $(BUILD)/tlbsim_version.h from `git describe`; builds without it (the fuzz
 * harnesses) say "unknown". */
#include "version.h"

#if defined(__has_include) && __has_include("tlbsim_version.h")
#include "tlbsim_version.h"
#endif
#ifndef TLBSIM_VERSION
#define TLBSIM_VERSION "unknown"
#endif

const char *sim_version(void)
{
    return TLBSIM_VERSION;
}
