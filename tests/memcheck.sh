#!/bin/sh
# tests/memcheck.sh - valgrind memcheck over one run of every subcommand.
#
#   tests/memcheck.sh [BUILD]        (default build; `make memcheck`, .ci/run)
#
# Each command runs once under `valgrind --tool=memcheck --leak-check=full`
# on small shipped inputs; any invalid access, use of uninitialised memory
# or definite leak fails it (valgrind's --error-exitcode).  `tlbsim record`
# runs PROG under valgrind itself, which cannot nest: it is skipped with
# that reason.  `probe` runs in its --quick form with few calls and no sibling threads
# (spinning siblings under valgrind, which runs one thread at a time, take
# minutes).  Without
# valgrind the script says so and exits 0 (skip), so CI on a machine that
# cannot install it still passes the other steps.  Logs: BUILD/memcheck/.
set -u
cd "$(dirname "$0")/.."
B=${1:-build}
T=$B/tlbsim
V=$B/tlbviz
L=$B/memcheck
if ! command -v valgrind >/dev/null 2>&1; then
    echo "memcheck: SKIP: valgrind not installed (apt-get install -y valgrind)"
    exit 0
fi
[ -x "$T" ] || { echo "memcheck: $T not built (make)" >&2; exit 1; }
rm -rf "$L"
mkdir -p "$L/w"
W=$L/w
VG="valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite
    --error-exitcode=99 --child-silent-after-fork=no --trace-children=no -q"
fail=0 n=0

# mc NAME EXPECTED_STATUS CMD...: run CMD under memcheck, log to $L/NAME.log
mc() {
    name=$1 want=$2
    shift 2
    n=$((n + 1))
    # shellcheck disable=SC2086
    $VG --log-file="$L/$name.vg.%p" "$@" >"$L/$name.out" 2>&1
    rc=$?
    errs=$(cat "$L/$name.vg."* 2>/dev/null | grep -c 'ERROR SUMMARY: [1-9]\|definitely lost: [1-9]\|Invalid \|uninitialised' || true)
    if [ "$rc" = 99 ] || [ "$errs" != 0 ] || [ "$rc" != "$want" ]; then
        echo "memcheck: FAIL $name (exit $rc, want $want; valgrind reports: $L/$name.vg.*)"
        tail -5 "$L/$name.out"
        fail=1
    else
        echo "memcheck: ok   $name"
    fi
}

S=traces/samples
mc version 0 "$T" --version
mc policies 0 "$T" policies
mc check 0 "$T" check traces/default.jsonl
mc check-bad 2 "$T" check tests/fuzz/seed/import_champsim/truncated.champsim
mc run 0 "$T" run traces/default.jsonl --policy linux,linux-4.14 --jobs 2 --out "$W/out" -q --tlb-log
mc run-repeat 0 "$T" run traces/default.jsonl --repeat 2 --jobs 1 --out "$W/rep" -q
mc gen 0 "$T" gen workloads/fork_exec.json -o "$W/gen.jsonl"
mc convert 0 "$T" convert traces/default.jsonl "$W/t.tlbt.zst"
mc run-bin 0 "$T" run "$W/t.tlbt.zst" --out "$W/outbin" -q
mc import-ftrace 0 "$T" import ftrace $S/trace-cmd-report.txt -o "$W/ft.jsonl"
mc import-perf 0 "$T" import ftrace $S/perf-script.txt -o "$W/perf.jsonl"
mc import-lackey 0 "$T" import lackey $S/lackey.txt -o "$W/lk.jsonl.gz"
mc import-champsim 0 "$T" import champsim tests/fuzz/seed/import_champsim/four.champsim -o "$W/cs.jsonl"
mc sweep 0 "$T" sweep traces/default.jsonl --grid policy=linux,broadcast --jobs 1 --out "$W/sw" -q
mc report 0 "$T" report "$W/out"
mc probe 0 "$T" probe --quick --repeats 1 --iterations 2 --max-threads 1 -o "$W/meas.json"
mc calibrate 0 "$T" calibrate tests/fuzz/seed/meas/probe-quick.json --machine skylake-sp -o "$W/mine.json"
mc validate 0 "$T" validate tests/fuzz/seed/meas/probe-quick.json --machine "$W/mine.json" --out "$W/val"
echo "memcheck: skip record (it runs PROG under valgrind itself; valgrind does not nest)"
if [ -x "$V" ]; then
    mc tlbviz 0 "$V" traces/default.jsonl --screenshot "$W/shot.png" --size 640x400
else
    echo "memcheck: skip tlbviz ($V not built)"
fi
echo "memcheck: $n commands, $( [ $fail = 0 ] && echo clean || echo FAILURES )"
exit $fail
