/* sim/io/outdir.h - output directories switched as a whole, and their lock.
 *
 * A command that writes a set of files into --out DIR (tlbsim run) writes
 * them into a fresh sibling generation directory PARENT/.BASE.N and then
 * makes DIR a symbolic link to it with one rename(2) of a new link over the
 * old one.  A reader of DIR therefore sees the complete previous set or the
 * complete new set, never a mix.  Entries of the previous generation that
 * the new set does not replace (figures, reports, subdirectories) are
 * carried over: regular files by hard link (copied where links fail),
 * directories by rename.  A DIR that is still a real directory (from an
 * older tlbsim, or made by hand) is swapped for the link with
 * renameat2(RENAME_EXCHANGE); where the file system lacks it, DIR is
 * renamed aside first and is briefly absent (never mixed).
 *
 * PARENT/.BASE.lock holds the pid of the one writer of DIR; a second
 * writer is refused, a lock whose pid is dead is taken over.  Unfinished
 * generations of killed runs are removed (their carried directories moved
 * back first) by the next writer.  docs/output.md describes the scheme.
 */
#ifndef TLBSIM_OUTDIR_H
#define TLBSIM_OUTDIR_H

#include <stdbool.h>

#include "../../models/base.h"

#define OUTDIR_PATH 4096
#define OUTDIR_DIR 3072                 /* longest --out DIR + 1 */

struct outdir {
    char dir[OUTDIR_DIR];               /* DIR as given */
    char parent[OUTDIR_DIR];            /* its directory */
    char base[256];                     /* its last component */
    char lock[OUTDIR_PATH];             /* PARENT/.BASE.lock */
    char gen[OUTDIR_PATH];              /* the new generation, PARENT/.BASE.N */
    unsigned long cur, next;            /* generation numbers; cur 0: none */
    bool locked, begun;
};

/* Take the lock of DIR (creating PARENT as needed).  SIM_EIO: PARENT cannot
 * be made, or another live process (named by pid) holds the lock. */
int  outdir_lock(struct outdir *od, const char *dir, struct sim_err *err);
void outdir_unlock(struct outdir *od);
/* Create the new generation directory od->gen (lock held); removes the
 * remains of killed runs first. */
int  outdir_begin(struct outdir *od, struct sim_err *err);
/* Carry over every entry of the current DIR whose name is not in
 * drop[0..ndrop) and not yet in od->gen, then switch DIR to od->gen. */
int  outdir_commit(struct outdir *od, const char *const *drop, unsigned ndrop,
                   struct sim_err *err);
/* Remove the new generation (after a failure or an interrupt). */
void outdir_abort(struct outdir *od);
/* rm -r PATH (best effort; used for scratch directories). */
void outdir_remove_tree(const char *path);

#endif
