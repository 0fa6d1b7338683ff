#!/usr/bin/env bash
# scripts/virt-compare.sh - what one host-side zap costs against the vCPU
# count, with kicks, the Hyper-V enlightened flush and TDX TLB tracking
# (docs/virtualization.md).  Needs build/tlbsim (`make`); about 20 s.
#
#   scripts/virt-compare.sh [-c "2 4 8 16 32 64"] [-o DIR]
#
# For each vCPU count it generates the vm_reclaim (and vm_reclaim_tdx) trace
# and runs it four ways:
#   kick       kvm-guest-skylake, virt.host_flush=kick: host_zap of a 2M page
#   hv         kvm-guest-skylake, virt.host_flush=hv-enlightened: the same trace
#   tdx-kick   tdx-guest-spr: host_zap of the same 2M page (a TD's shared memory)
#   tdx        tdx-guest-spr: tdx_remove of one 4K private page
# each with ept.prefault=false (a zapped page comes back through EPT
# violations), and once more with the host ops deleted from the trace (the
# baseline).  Writes DIR/virt-compare.csv, DIR/virt-compare.md (Markdown
# table) and DIR/virt-compare.png (gnuplot; skipped with a message when
# gnuplot is missing).  DIR defaults to docs/img.  TLBSIM overrides the
# binary.
set -eu
cd "$(dirname "$0")/.."
T=${TLBSIM:-build/tlbsim}
cpus="2 4 8 16 32 64"
out=docs/img
while getopts "c:o:h" opt; do
    case $opt in
    c) cpus=$OPTARG ;;
    o) out=$OPTARG ;;
    *) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
    esac
done
[ -x "$T" ] || { echo "virt-compare: $T not found (run make)" >&2; exit 2; }
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Fixed shape, only the vCPU count varies: 40 steps per vCPU of 16
# references into 16 MiB, one step in 8 ending in a host op.
spec() {                        # spec WORKLOAD CPUS > FILE
    printf '{"workload":"%s","cpus":%s,"iterations":40,"seed":1,"wss":"16M","accesses":16,"period":8,"batch_pages":1}\n' "$1" "$2"
}
# a column of DIR/summary.csv (first data row)
col() { awk -F, -v name="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) k = i } NR == 2 { print $k }' "$2/summary.csv"; }
run() {                         # run TRACE MACHINE DIR [--set ...]
    local tr=$1 m=$2 d=$3
    shift 3
    "$T" run "$tr" --machine "$m" --set ept.prefault=false "$@" -o "$d" >/dev/null
}

csv=$out/virt-compare.csv
echo "config,vcpus,host_ops,host_latency,kicks,entry_flushes,tdx_tracks,violations,refill_walk_cycles,vm_cycles" >"$csv"
for n in $cpus; do
    spec vm_reclaim "$n" >"$tmp/r.json"
    spec vm_reclaim_tdx "$n" >"$tmp/t.json"
    "$T" gen "$tmp/r.json" -o "$tmp/r.jsonl"
    "$T" gen "$tmp/t.json" -o "$tmp/t.jsonl"
    grep -v '"op":"host_zap"' "$tmp/r.jsonl" >"$tmp/r0.jsonl"
    grep -v '"op":"tdx_remove"' "$tmp/t.jsonl" >"$tmp/t0.jsonl"
    run "$tmp/r0.jsonl" kvm-guest-skylake "$tmp/b-kvm"
    run "$tmp/r0.jsonl" tdx-guest-spr "$tmp/b-tdx"
    run "$tmp/t0.jsonl" tdx-guest-spr "$tmp/b-tdx4k"
    run "$tmp/r.jsonl" kvm-guest-skylake "$tmp/kick" --set virt.host_flush=kick
    run "$tmp/r.jsonl" kvm-guest-skylake "$tmp/hv" --set virt.host_flush=hv-enlightened
    run "$tmp/r.jsonl" tdx-guest-spr "$tmp/tdx-kick"
    run "$tmp/t.jsonl" tdx-guest-spr "$tmp/tdx"
    for cfg in kick:b-kvm hv:b-kvm tdx-kick:b-tdx tdx:b-tdx4k; do
        d=$tmp/${cfg%%:*} b=$tmp/${cfg#*:}
        z=$(col host_zaps "$d")
        [ "$z" -gt 0 ] || { echo "virt-compare: no host op ran in $cfg, $n vCPUs" >&2; exit 1; }
        # per host op; the differences are against the trace without host ops
        awk -v c="${cfg%%:*}" -v n="$n" -v z="$z" -v hf="$(col host_flush_cycles "$d")" \
            -v k="$(col vcpu_kicks "$d")" -v ef="$(col vcpu_entry_flushes "$d")" \
            -v tt="$(col tdx_tracks "$d")" \
            -v v="$(col ept_violations "$d")" -v v0="$(col ept_violations "$b")" \
            -v w="$(col walk_cycles "$d")" -v w0="$(col walk_cycles "$b")" \
            -v bc="$(col busy_cycles "$d")" -v bc0="$(col busy_cycles "$b")" \
            'BEGIN { printf "%s,%d,%d,%.0f,%.2f,%.2f,%.2f,%.1f,%.0f,%.0f\n", c, n, z,
                     hf / z, k / z, ef / z, tt / z, (v - v0) / z, (w - w0) / z, (bc - bc0) / z }' >>"$csv"
    done
done

md=$out/virt-compare.md
{
    echo "| config | vCPUs | host ops | host latency | kicks | entry flushes | TDX tracks | EPT violations | refill walk cycles | VM cycles |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    awk -F, 'NR > 1 { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 }' "$csv"
} >"$md"
echo "wrote $csv and $md"

if ! command -v gnuplot >/dev/null; then
    echo "virt-compare: gnuplot not found, figure skipped"
    exit 0
fi
for cfg in kick hv tdx-kick tdx; do
    awk -F, -v c="$cfg" 'NR > 1 && $1 == c { print $2, $4, $10 }' "$csv" >"$tmp/$cfg.dat"
done
gnuplot <<EOF
set terminal pngcairo size 1000,440 noenhanced font 'Helvetica,11' background rgb 'white'
set output '$out/virt-compare.png'
set multiplot layout 1,2
set logscale x 2
set logscale y 10
set format y '%.0f'
set xlabel 'vCPUs'
set grid
set key top left
set title 'host CPU: latency of one host op (cycles)'
plot '$tmp/kick.dat' u 1:2 w lp t 'kick (kvm-guest-skylake)', \
     '$tmp/hv.dat' u 1:2 w lp t 'hv-enlightened (kvm-guest-skylake)', \
     '$tmp/tdx-kick.dat' u 1:2 w lp t 'kick, TD shared memory (tdx-guest-spr)', \
     '$tmp/tdx.dat' u 1:2 w lp t 'TDX tracking, tdx_remove (tdx-guest-spr)'
set title 'whole VM: cycles of all CPUs per host op'
plot '$tmp/kick.dat' u 1:3 w lp t 'kick', '$tmp/hv.dat' u 1:3 w lp t 'hv-enlightened', \
     '$tmp/tdx-kick.dat' u 1:3 w lp t 'kick (TD)', '$tmp/tdx.dat' u 1:3 w lp t 'TDX tracking'
unset multiplot
EOF
echo "wrote $out/virt-compare.png"
