#!/bin/bash
# Boot the cgroup v2 test VM under qemu (TCG, no KVM needed).
#
#   run-vm.sh INITRD RESULTS CONSOLE [TIMEOUT_SECONDS]
#
# The guest writes one line per result and a final SUMMARY line to its second serial port,
# which lands in RESULTS; its console (first serial port) lands in CONSOLE. qemu exits 0 even
# when the guest panics, so the caller must treat a missing SUMMARY as failure. A hard
# timeout stops a hung guest. EXTRA_APPEND adds kernel parameters (berth_init=systemd).
set -euo pipefail

initrd=$1
results=$2
console=$3
limit=${4:-420}

kernel=$(ls /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n 1)
if [ -z "$kernel" ]; then
    echo "run-vm: no /boot/vmlinuz-*-cloud-amd64 (apt-get install linux-image-cloud-amd64)" >&2
    exit 1
fi
: > "$results"
: > "$console"
exec timeout --kill-after=10 "$limit" qemu-system-x86_64 \
    -accel tcg -m 1G -nographic -monitor none \
    -kernel "$kernel" -initrd "$initrd" \
    -append "console=ttyS0 panic=-1 quiet ${EXTRA_APPEND:-}" \
    -serial "file:$console" -serial "file:$results" \
    -no-reboot </dev/null
