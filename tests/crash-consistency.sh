#!/bin/sh
# tests/crash-consistency.sh - the long form of the suite's crash::kills test.
#
#   tests/crash-consistency.sh [KILLS]            (default 300)
#
# Kills `tlbsim run --policy linux,linux-4.14,broadcast --out out` KILLS
# times (SIGKILL, SIGINT and SIGTERM in turn, to the process or to its
# process group, at random moments spread over the run and just past its
# end, with --jobs 1 and 2), each run writing the other of two output sets,
# and checks after every kill that out holds exactly one complete set and
# nothing else (tests/test_crash.c).  Prints the tally: how many kills left
# the old set and how many the new one.  Needs `make build/run-tests`.
set -eu
cd "$(dirname "$0")"
KILLS=${1:-300}
make -C .. --no-print-directory build/run-tests build/tlbsim >/dev/null
log=$(mktemp)
rc=0
TLBSIM=${TLBSIM:-../build/tlbsim} TLBSIM_CRASH_KILLS=$KILLS ../build/run-tests \
    --filter 'crash/kills' >"$log" 2>&1 || rc=$?
grep -v '^\[SKIP\]\|^\[====\] Running\|^\[----\] *$' "$log"
rm -f "$log"
exit $rc
