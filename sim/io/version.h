/* sim/io/version.h - the version string of this build. */
#ifndef TLBSIM_VERSION_H
#define TLBSIM_VERSION_H

/* `git describe --always --dirty` of the checkout it was built from, or the
 * Makefile's VERSION_FALLBACK outside a checkout.  Static string. */
const char *sim_version(void);

#endif
