/* sim/cli/cli.h - the tlbsim front end's internal interface. */
#ifndef TLBSIM_CLI_H
#define TLBSIM_CLI_H

#include "../../models/base.h"

#define EXIT_OK 0
#define EXIT_INTERNAL 1
#define EXIT_BADINPUT 2
#define EXIT_INTERRUPTED 130

/* Exit status for a SIM_E* code. */
int cli_exit_code(int rc);
/* Print "tlbsim: MSG" on stderr. */
void cli_error(const char *msg);

int cmd_run(int argc, char **argv);
int cmd_sweep(int argc, char **argv);   /* sweep.c */
int cmd_report(int argc, char **argv);  /* report.c */
int cmd_probe(int argc, char **argv);   /* probe.c */
int cmd_calibrate(int argc, char **argv);   /* calibrate.c */
int cmd_validate(int argc, char **argv);    /* calibrate.c */
int cmd_repeatability(int argc, char **argv);   /* repeat.c */
int cmd_record(int argc, char **argv);  /* record.c */

#endif
