#!/usr/bin/env bash
# tests/fuzz/make-seeds.sh - (re)build the seed corpus tests/fuzz/seed/ from
# the shipped traces, samples, models and workload specs.  Needs build/tlbsim
# (`make`).  The seeds are committed; rerun this after a format change.
set -eu
cd "$(dirname "$0")/../.."
T=build/tlbsim
S=tests/fuzz/seed
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -rf "$S"
mkdir -p "$S"/{trace_jsonl,trace_bin,import_ftrace,import_lackey,import_lackey_sys,import_champsim,model,set,wlspec,sim,stream,meas}

# JSON Lines: the head of the default trace, the FORMAT.md example, the head
# of every shipped workload and of every imported sample.
head -n 120 traces/default.jsonl >"$S/trace_jsonl/default-head.jsonl"
sed -n '/^## 4. Example/,$p' traces/FORMAT.md | sed -n '/^{/p' >"$S/trace_jsonl/format-example.jsonl"
for spec in workloads/*.json; do
    n=$(basename "$spec" .json)
    $T gen "$spec" -o "$tmp/$n.jsonl"
    head -n 80 "$tmp/$n.jsonl" >"$S/trace_jsonl/wl-$n.jsonl"
done
for f in traces/samples/*.txt; do
    n=$(basename "$f" .txt)
    fmt=ftrace; [ "$n" = lackey ] && fmt=lackey
    $T import $fmt "$f" -o "$tmp/$n.jsonl" 2>/dev/null
    head -n 120 "$tmp/$n.jsonl" >"$S/trace_jsonl/imp-$n.jsonl"
done
# hand-written: every op and option once, 57-bit addresses, t and gap
cat >"$S/trace_jsonl/all-ops.jsonl" <<'T'
{"format":"tlbsim-trace","version":1,"cpus":3,"name":"all ops \u00e9","source":"fuzz-seed","va_bits":57}
# comment
{"op":"ept_map","gpa":"0x40000000","len":"0x40000000","page":"1g"}
{"op":"ept_map","gpa":0,"len":"0x200000","page":"4k","gap":5}
{"op":"mm_new","mm":7}
{"op":"map","mm":7,"va":"0x00fe000000000000","len":"0x40000000","page":"1g","prot":"rwx","populate":false}
{"op":"map","mm":"kernel","va":"0xff00000000000000","len":"0x200000","page":"2m","prot":"r","global":true}
{"op":"map","cpu":2,"mm":7,"va":4096,"len":8192,"page":"4k","prot":"rx"}
{"op":"map","mm":7,"va":"0x40000000","len":"0x400000","page":"2m","prot":"rw","keyid":5,"populate":false}
{"op":"switch","cpu":0,"mm":7,"t":100}
{"op":"access","cpu":0,"va":["0x1000","0x2000",8192],"kind":"x","gap":3}
{"op":"stream","cpu":0,"va":"0x1000","stride":"0x40","count":128,"kind":"r"}
{"op":"protect","cpu":0,"mm":7,"va":"0x1000","len":"0x1000","prot":"r"}
{"op":"zap","cpu":0,"mm":7,"va":"0x1000","len":"0x1000"}
{"op":"migrate","cpu":0,"mm":7,"va":"0x2000","len":"0x1000"}
{"op":"flush","cpu":1,"mm":7,"va":"0x1000","len":"0x2000","freed_tables":true,"stride":"2m"}
{"op":"flush","cpu":1,"mm":7,"all":true}
{"op":"kflush","cpu":2,"va":"0xff00000000000000","len":"0x1000"}
{"op":"irqs_off","cpu":2,"cycles":1000}
{"op":"vcpu_preempt","cpu":1}
{"op":"vcpu_run","cpu":1,"t":"0x10000"}
{"op":"idle","cpu":2,"cstate":"C6"}
{"op":"mark","label":"m\"a\\rk\n"}
{"op":"unmap","cpu":0,"mm":7,"va":"0x1000","len":"0x2000"}
{"op":"host_zap","cpu":1,"gpa":"0x1000","len":"0x1000"}
{"op":"host_wrprotect","cpu":1,"gpa":0,"len":"0x2000"}
{"op":"vcpu_migrate","cpu":2}
{"op":"tdx_remove","cpu":0,"gpa":"0x200000","len":"0x1000"}
{"op":"switch","cpu":0,"mm":null}
{"op":"mm_exit","cpu":1,"mm":7}
T

# Binary: every JSONL seed converted.
for f in "$S"/trace_jsonl/*.jsonl; do
    $T convert "$f" "$S/trace_bin/$(basename "$f" .jsonl).tlbt" --to binary
done

# Importers: the recordings whole and in 60-line pieces.
for f in traces/samples/{ftrace-raw,perf-script,trace-cmd-report}.txt; do
    n=$(basename "$f" .txt)
    cp "$f" "$S/import_ftrace/$n.txt"
    split -l 60 -d "$f" "$S/import_ftrace/$n-part"
done
cp traces/samples/lackey.txt "$S/import_lackey/lackey.txt"
split -l 100 -d traces/samples/lackey.txt "$S/import_lackey/lackey-part"

# Lackey with --trace-syscalls=yes --trace-sched=yes: lines as valgrind 3.19
# prints them (from a recording of tests/progs/munmap_threads.c, references
# thinned), whole and in pieces.
cat >"$S/import_lackey_sys/threads.txt" <<'L'
==28268== Lackey, an example Valgrind tool
--28268--   SCHED[1]:  acquired lock (thread_wrapper(starting new thread))
--28268--   SCHED[1]: entering VG_(scheduler)
SYSCALL[28268,1](12) sys_brk ( 0x0 ) --> [pre-success] Success(0x4035000) 
I  04022a60,3
 S 1ffefffe08,8
SYSCALL[28268,1](9) sys_mmap ( 0x0, 8192, 3, 34, 4294967295, 0 ) --> [pre-success] Success(0x4835000) 
 L 04835000,8
SYSCALL[28268,1](334) unimplemented (by the kernel) syscall: 334! (ni_syscall)
 --> [pre-fail] Failure(0x26) 
SYSCALL[28268,1](10) sys_mprotect ( 0x4a17000, 16384, 1 )[sync] --> Success(0x0) 
SYSCALL[28268,1](11) sys_munmap ( 0x483c000, 48227 )[sync] --> Success(0x0) 
SYSCALL[28268,1](12) sys_brk ( 0x4056000 ) --> [pre-success] Success(0x4056000) 
 M 04035010,8
SYSCALL[28268,1](12) sys_brk ( 0x4045000 ) --> [pre-success] Success(0x4045000) 
SYSCALL[28268,1](25) sys_mremap ( 0x4835000, 8192, 262144, 0x1 ) --> [pre-success] Success(0x4a2d000) 
SYSCALL[28268,1](56) sys_clone ( 3d0f00, 0x522cf70, 0x522d990, 0x522d990, 0x522d6c0 ) --> [pre-success] Success(0x6f6e) --28268--   SCHED[1]: releasing lock (VG_(vg_yield)) -> VgTs_Yielding
--28268--   SCHED[2]:  acquired lock (thread_wrapper(starting new thread))
I  04870100,4
 S 05230000,8
SYSCALL[28268,2](202) sys_futex ( 0x10c084, 128, 0, 0x0, 0x10c080 ) --> [async] ... 
--28268--   SCHED[2]: releasing lock (VG_(client_syscall)[async]) -> VgTs_WaitSys
--28268--   SCHED[1]:  acquired lock (VG_(vg_yield))
SYSCALL[28268,1](9) sys_mmap ( 0x6230000, 65536, 3, 50, 4294967295, 0 ) --> [pre-success] Success(0x6230000) 
 S 06230000,8
SYSCALL[28268,1](28) sys_madvise ( 0x6230000, 4096, 4 ) --> [async] ... 
SYSCALL[28268,1](28) ... [async] --> Success(0x0) 
SYSCALL[28268,1](11) sys_munmap ( 0x6230000, 65536 )[sync] --> Success(0x0) 
SYSCALL[28268,2](202) ... [async] --> Success(0x0) 
SYSCALL[28268,1](56) sys_clone ( 1200011, 0x0, 0x0, 0x4a2aa10, 0x0 )   clone(fork): process 28268 created child 28270
 --> [pre-success] Success(0x6f76) --28268--   SCHED[1]: releasing lock (VG_(vg_yield)) -> VgTs_Yielding
SYSCALL[28268,2](230) sys_clock_nanosleep( 0, 0, 0x622eea0, 0x0 ) --> [async] ... 
SYSCALL[28268,2](60) exit( 0 ) --> [pre-success] Success(0x0) 
--28268--   SCHED[2]: release lock in VG_(exit_thread)
SYSCALL[28268,1](59) sys_execve ( 0x1ffefff000(/bin/true), 0x0, 0x0 ) --> [pre-success] Success(0x0) 
I  04000000,2
SYSCALL[28268,1](231) exit_group( 0 ) --> [pre-success] Success(0x0) 
--28268--   SCHED[1]: exiting VG_(scheduler)
==28268== Exit code:       0
L
split -l 12 -d "$S/import_lackey_sys/threads.txt" "$S/import_lackey_sys/threads-part"

# ChampSim: 64-byte input_instr records (ip, is_branch, branch_taken, 2 + 4
# register ids, 2 destination and 4 source addresses, little endian).
le64() { local v=$1 i; for i in 0 1 2 3 4 5 6 7; do printf "\\$(printf %03o $(( (v >> (8 * i)) & 255 )))"; done; }
cs_rec() {  # ip is_branch taken dst0 dst1 src0 src1 src2 src3
    le64 "$1"; printf "\\$(printf %03o "$2")\\$(printf %03o "$3")\\007\\000\\031\\000\\000\\000"
    le64 "$4"; le64 "$5"; le64 "$6"; le64 "$7"; le64 "$8"; le64 "$9"
}
{
    cs_rec 0x401000 0 0 0 0 0x7ffd0000 0 0 0
    cs_rec 0x401004 1 1 0x602010 0 0 0 0 0
    cs_rec 0x402000 0 0 0x602018 0x603000 0x7ffd0008 0x604000 0 0
    cs_rec 0x402008 1 0 0 0 0x7f0000001000 0x7f0000002000 0x7f0000003000 0x7f0000004000
} >"$S/import_champsim/four.champsim"
head -c 100 "$S/import_champsim/four.champsim" >"$S/import_champsim/truncated.champsim"

# Model files and workload specs.
cp models/*.json "$S/model/"
cp workloads/*.json "$S/wlspec/"

# --set: every key at its default, and a few single overrides.
$T run --help-keys | awk 'NR > 1 {print $1 "=" $2}' >"$S/set/all-defaults.txt"
printf 'tlb.stlb.entries=0\n' >"$S/set/no-stlb.txt"
printf 'cpus=16\nsockets=4\ntlb.replacement=plru\napic.mode=x2apic-phys\n' >"$S/set/multi.txt"
printf 'tlb.l1d.4k.entries=0x20\ntlb.l1d.4k.ways=2\nvirt.enabled=true\nsim.quantum=0\n' >"$S/set/hex.txt"

# Engine: the small JSONL seeds.
for f in "$S"/trace_jsonl/{format-example,all-ops,default-head}.jsonl "$S"/trace_jsonl/wl-*.jsonl; do
    cp "$f" "$S/sim/"
done
# Compressed readers: small traces (JSONL and binary) and a recording as
# gzip, xz and zstd (tlbsim's own writer), two members concatenated, cut
# short, and with a damaged byte; and a plain file.
for f in "$S"/trace_jsonl/format-example.jsonl "$S"/trace_bin/all-ops.tlbt; do
    n=$(basename "$f")
    for z in gz xz zst; do
        $T convert "$f" "$S/stream/$n.$z" --to "$(case $n in *.tlbt) echo binary;; *) echo jsonl;; esac)"
    done
done
head -n 40 traces/samples/lackey.txt >"$tmp/lackey.txt"
for z in gz xz zst; do
    case $z in gz) c="gzip -9 -n";; xz) c="xz -6";; zst) c="zstd -q -19";; esac
    $c -c "$tmp/lackey.txt" >"$S/stream/lackey.txt.$z"
    cat "$S/stream/lackey.txt.$z" "$S/stream/lackey.txt.$z" >"$S/stream/twice.$z"
    head -c 60 "$S/stream/lackey.txt.$z" >"$S/stream/cut.$z"
    cp "$S/stream/lackey.txt.$z" "$S/stream/damaged.$z"
    printf '\125' | dd of="$S/stream/damaged.$z" bs=1 seek=40 conv=notrunc 2>/dev/null
done
cp "$S/trace_jsonl/format-example.jsonl" "$S/stream/plain.jsonl"
# Measurement files: three cases of a `tlbsim probe --quick` run and a
# skipped one, and the same with every optional member left out.
cat >"$S/meas/probe-quick.json" <<'M'
{"format":"tlbsim-measurements","version":1,"date":"2026-12-05T06:25:00Z","quick":true,"environment":{"kind":"other-hypervisor","hypervisor_signature":"bhyve bhyve ","hypervisor_kernel":"PVM","kvm_pv_tlb_flush":false,"kvm_pv_send_ipi":false,"hyperv_remote_flush":false,"pcid":false,"invpcid":false,"invlpgb":false,"cpu_model":"AMD EPYC","cpu_mhz":2694.895,"kernel":"6.18.44-fc-v1272","cpus_online":2,"cpus_allowed":2,"interrupts":true,"tracefs":true,"tracefs_reason":"","timer_ns":26.009,"policy":"linux"},"cases":[{"name":"madvise-1p-none","op":"madvise","pages":1,"siblings":"none","threads":0,"status":"ok","repeats":3,"iterations":20,"ns_per_call":{"median":13821.55,"p10":13597.27,"p90":14947.67},"interrupts_per_call":{"TLB":0,"CAL":0.03333333333333333},"tlb_flush_per_call":{"complete":true,"task_switch":0,"remote_shootdown":0,"local_shootdown":0,"local_mm_shootdown":1.0166666666666666,"remote_send_ipi":1.0166666666666666},"trace":["{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":1,\"name\":\"madvise-1p-none\",\"source\":\"tlbsim probe\"}","{\"op\":\"mm_new\",\"mm\":1}","{\"op\":\"map\",\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\",\"page\":\"4k\",\"prot\":\"rw\"}","{\"op\":\"switch\",\"cpu\":0,\"mm\":1}","{\"op\":\"access\",\"cpu\":0,\"va\":[\"0x7f0000000000\"],\"kind\":\"w\"}","{\"op\":\"zap\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\"}","{\"op\":\"access\",\"cpu\":0,\"va\":[\"0x7f0000000000\"],\"kind\":\"w\"}","{\"op\":\"zap\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\"}","{\"op\":\"access\",\"cpu\":0,\"va\":[\"0x7f0000000000\"],\"kind\":\"w\"}","{\"op\":\"zap\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\"}","{\"op\":\"access\",\"cpu\":0,\"va\":[\"0x7f0000000000\"],\"kind\":\"w\"}","{\"op\":\"zap\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\"}","{\"op\":\"access\",\"cpu\":0,\"va\":[\"0x7f0000000000\"],\"kind\":\"w\"}","{\"op\":\"zap\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\"}","{\"op\":\"access\",\"cpu\":0,\"va\":[\"0x7f0000000000\"],\"kind\":\"w\"}","{\"op\":\"zap\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\"}","{\"op\":\"access\",\"cpu\":0,\"va\":[\"0x7f0000000000\"],\"kind\":\"w\"}","{\"op\":\"zap\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\"}","{\"op\":\"access\",\"cpu\":0,\"va\":[\"0x7f0000000000\"],\"kind\":\"w\"}","{\"op\":\"zap\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\"}"]},{"name":"munmap-1p-spin1","op":"munmap","pages":1,"siblings":"spin","threads":1,"status":"ok","repeats":3,"iterations":20,"ns_per_call":{"median":49582.2,"p10":38241.24,"p90":49917.12},"interrupts_per_call":{"TLB":0,"CAL":0.03333333333333333},"tlb_flush_per_call":{"complete":true,"task_switch":0.016666666666666666,"remote_shootdown":0,"local_shootdown":0,"local_mm_shootdown":1,"remote_send_ipi":1},"trace":["{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2,\"name\":\"munmap-1p-spin1\",\"source\":\"tlbsim probe\"}","{\"op\":\"mm_new\",\"mm\":1}","{\"op\":\"switch\",\"cpu\":0,\"mm\":1}","{\"op\":\"switch\",\"cpu\":1,\"mm\":1}","{\"op\":\"map\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\",\"page\":\"4k\",\"prot\":\"rw\"}","{\"op\":\"access\",\"cpu\":0,\"va\":[\"0x7f0000000000\"],\"kind\":\"w\"}","{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\"}","{\"op\":\"map\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\",\"page\":\"4k\",\"prot\":\"rw\"}","{\"op\":\"access\",\"cpu\":0,\"va\":[\"0x7f0000000000\"],\"kind\":\"w\"}","{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\"}","{\"op\":\"map\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\",\"page\":\"4k\",\"prot\":\"rw\"}","{\"op\":\"access\",\"cpu\":0,\"va\":[\"0x7f0000000000\"],\"kind\":\"w\"}","{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\"}","{\"op\":\"map\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\",\"page\":\"4k\",\"prot\":\"rw\"}","{\"op\":\"access\",\"cpu\":0,\"va\":[\"0x7f0000000000\"],\"kind\":\"w\"}","{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\"}","{\"op\":\"map\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\",\"page\":\"4k\",\"prot\":\"rw\"}","{\"op\":\"access\",\"cpu\":0,\"va\":[\"0x7f0000000000\"],\"kind\":\"w\"}","{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\"}","{\"op\":\"map\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\",\"page\":\"4k\",\"prot\":\"rw\"}","{\"op\":\"access\",\"cpu\":0,\"va\":[\"0x7f0000000000\"],\"kind\":\"w\"}","{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\"}","{\"op\":\"map\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\",\"page\":\"4k\",\"prot\":\"rw\"}","{\"op\":\"access\",\"cpu\":0,\"va\":[\"0x7f0000000000\"],\"kind\":\"w\"}","{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\"}","{\"op\":\"map\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\",\"page\":\"4k\",\"prot\":\"rw\"}","{\"op\":\"access\",\"cpu\":0,\"va\":[\"0x7f0000000000\"],\"kind\":\"w\"}","{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\"}"]},{"name":"mprotect-1p-sleep1","op":"mprotect","pages":1,"siblings":"sleep","threads":1,"status":"ok","repeats":3,"iterations":20,"ns_per_call":{"median":19506.35,"p10":19095.95,"p90":20679.87},"interrupts_per_call":{"TLB":0,"CAL":0.03333333333333333},"tlb_flush_per_call":{"complete":true,"task_switch":0,"remote_shootdown":0,"local_shootdown":0,"local_mm_shootdown":2.0166666666666666,"remote_send_ipi":2.0166666666666666},"trace":["{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2,\"name\":\"mprotect-1p-sleep1\",\"source\":\"tlbsim probe\"}","{\"op\":\"mm_new\",\"mm\":1}","{\"op\":\"map\",\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\",\"page\":\"4k\",\"prot\":\"rw\"}","{\"op\":\"switch\",\"cpu\":0,\"mm\":1}","{\"op\":\"switch\",\"cpu\":1,\"mm\":1}","{\"op\":\"idle\",\"cpu\":1}","{\"op\":\"access\",\"cpu\":0,\"va\":[\"0x7f0000000000\"],\"kind\":\"w\"}","{\"op\":\"protect\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\",\"prot\":\"r\"}","{\"op\":\"protect\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\",\"prot\":\"rw\"}","{\"op\":\"access\",\"cpu\":0,\"va\":[\"0x7f0000000000\"],\"kind\":\"w\"}","{\"op\":\"protect\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\",\"prot\":\"r\"}","{\"op\":\"protect\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\",\"prot\":\"rw\"}","{\"op\":\"access\",\"cpu\":0,\"va\":[\"0x7f0000000000\"],\"kind\":\"w\"}","{\"op\":\"protect\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\",\"prot\":\"r\"}","{\"op\":\"protect\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\",\"prot\":\"rw\"}","{\"op\":\"access\",\"cpu\":0,\"va\":[\"0x7f0000000000\"],\"kind\":\"w\"}","{\"op\":\"protect\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\",\"prot\":\"r\"}","{\"op\":\"protect\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\",\"prot\":\"rw\"}","{\"op\":\"access\",\"cpu\":0,\"va\":[\"0x7f0000000000\"],\"kind\":\"w\"}","{\"op\":\"protect\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\",\"prot\":\"r\"}","{\"op\":\"protect\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\",\"prot\":\"rw\"}","{\"op\":\"access\",\"cpu\":0,\"va\":[\"0x7f0000000000\"],\"kind\":\"w\"}","{\"op\":\"protect\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\",\"prot\":\"r\"}","{\"op\":\"protect\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\",\"prot\":\"rw\"}","{\"op\":\"access\",\"cpu\":0,\"va\":[\"0x7f0000000000\"],\"kind\":\"w\"}","{\"op\":\"protect\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\",\"prot\":\"r\"}","{\"op\":\"protect\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\",\"prot\":\"rw\"}","{\"op\":\"access\",\"cpu\":0,\"va\":[\"0x7f0000000000\"],\"kind\":\"w\"}","{\"op\":\"protect\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\",\"prot\":\"r\"}","{\"op\":\"protect\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x1000\",\"prot\":\"rw\"}"]},{"name":"madvise-1p-spin3","op":"madvise","pages":1,"siblings":"spin","threads":3,"status":"skipped","reason":"needs 4 CPUs in the affinity mask, there are 2"}]}
M
cat >"$S/meas/minimal.json" <<'M'
{"format":"tlbsim-measurements","version":1,"rounds":2,"environment":{"kind":"bare-metal"},"cases":[{"name":"m","op":"mprotect","pages":2,"siblings":"none","threads":0,"status":"ok","repeats":2,"iterations":1,"ns_per_call":{"median":1.5,"per_repeat":[1.25,1.75]},"trace":["{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":1}","{\"op\":\"mm_new\",\"mm\":1}"]}]}
M
# A calibrated model file (`tlbsim calibrate` output: "_format", a "source"
# array, fitted keys) for the model target.
$T calibrate "$S/meas/probe-quick.json" --machine skylake-sp -o "$S/model/calibrated.json" \
    >/dev/null
echo "seeds: $(find "$S" -type f | wc -l) files in $S"
