#!/bin/bash
# Build the initramfs of the cgroup v2 test VM.
#
#   build-initramfs.sh OUT.cpio.gz WORKDIR [SRC=DEST]...
#
# The image holds busybox-static (its applets are linked at boot), each SRC binary at DEST
# with the shared libraries `ldd` names for it, the guest init and test script from this
# directory, and an OCI bundle /bundles/limits (a busybox rootfs with runc-limits.json) for
# the runtimes under test. WORKDIR is scratch space, replaced on every run.
set -euo pipefail

out=$1
work=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
root=$work/root
busybox=${BUSYBOX:-/bin/busybox}

if ! "$busybox" --list >/dev/null 2>&1 || ldd "$busybox" >/dev/null 2>&1; then
    echo "build-initramfs: $busybox is not a static busybox (apt-get install busybox-static)" >&2
    exit 1
fi

rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib,lib64,tests,etc,proc,sys,dev,tmp,run,newroot,bundles}
cp "$busybox" "$root/bin/busybox"

# copy_with_libs SRC DEST: the file and, for a dynamic executable, every library the dynamic
# loader would map (other files, such as an image archive, are copied as they are).
copy_with_libs() {
    local src=$1 dest=$2 libs lib
    mkdir -p "$root$(dirname "$dest")"
    cp -L "$src" "$root$dest"
    chmod 0755 "$root$dest"
    # Debug builds carry ~10x their code in debug info; the guest's RAM holds the image twice.
    strip --strip-debug "$root$dest" 2>/dev/null || true
    libs=$(ldd "$src" 2>/dev/null | grep -o '/[^ ]*' || true)
    for lib in $libs; do
        if [ ! -e "$root$lib" ]; then
            mkdir -p "$root$(dirname "$lib")"
            cp -L "$lib" "$root$lib"
        fi
    done
}

for spec in "$@"; do
    copy_with_libs "${spec%%=*}" "${spec#*=}"
done

install -m 0755 "$here/init" "$root/init"
install -m 0755 "$here/guest-tests.sh" "$root/guest-tests.sh"

# The bundle: busybox and the applets the container's command uses.
bundle=$root/bundles/limits
mkdir -p "$bundle/rootfs"/{bin,proc,sys,dev,tmp}
cp "$busybox" "$bundle/rootfs/bin/busybox"
for applet in sh cat echo head sleep tr seq awk; do
    ln -s busybox "$bundle/rootfs/bin/$applet"
done
# Programs for the behaviour tests: one that outgrows the 32 MiB limit (a single awk process,
# so the OOM killer has only it to pick), one that forks past the pids limit of 20.
printf '#!/bin/sh\nexec awk '"'"'BEGIN { s = "x"; while (length(s) < 268435456) s = s s; print "survived" }'"'"'\n' > "$bundle/rootfs/bin/eat-memory"
printf '#!/bin/sh\nfor i in $(seq 40); do sleep 5 & done\nwait\n' > "$bundle/rootfs/bin/fork-many"
chmod 0755 "$bundle/rootfs/bin/eat-memory" "$bundle/rootfs/bin/fork-many"
cp "$here/runc-limits.json" "$bundle/config.json"

# WITH_SYSTEMD=1: systemd as the guest's init (booted with berth_init=systemd), with the
# units that run the tests as a service and the slice the tests put scopes in.
if [ "${WITH_SYSTEMD:-0}" = 1 ]; then
    copy_with_libs /lib/systemd/systemd /lib/systemd/systemd
    mkdir -p "$root/etc/systemd/system" "$root/lib/systemd/system"
    cp /lib/systemd/system/machine.slice "$root/lib/systemd/system/"
    cp /usr/lib/os-release "$root/etc/os-release"
    : > "$root/etc/machine-id"
    echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
    echo 'root:x:0:' > "$root/etc/group"
    printf '[Unit]\nDescription=berth tests\nWants=berth-tests.service\n' > "$root/etc/systemd/system/default.target"
    printf '[Unit]\nDefaultDependencies=no\n[Service]\nType=oneshot\nStandardOutput=tty\nTTYPath=/dev/console\nExecStart=/bin/sh -c "sh /guest-tests.sh /dev/ttyS1 --systemd; sync; poweroff -f"\n' \
        > "$root/etc/systemd/system/berth-tests.service"
fi

(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 > "$out"
