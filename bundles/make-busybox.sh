#!/bin/sh
# Make the example OCI bundle from Debian's busybox-static: a rootfs holding
# /bin/busybox, one symlink per applet, /etc/passwd and /etc/group, and a
# config.json shaped like `runc spec`'s (but with terminal false, so the
# container writes to the caller's stdio) whose default command shows that it
# is isolated: its hostname, its pid and its mounts.
#
# Usage: bundles/make-busybox.sh [BUNDLE_DIR]   (default: bundles/busybox)
# Safe to run again: it rebuilds the rootfs from scratch. Needs root only to
# install busybox-static when it is missing.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
bundle=${1:-$here/busybox}
busybox=/bin/busybox

# Debian's busybox-static is statically linked, so the rootfs needs no libc.
# Debian's plain `busybox` package is dynamic: busybox-static replaces it.
is_static_busybox() {
	[ -x "$busybox" ] && "$busybox" --list-full >/dev/null 2>&1 && ! ldd "$busybox" >/dev/null 2>&1
}
if ! is_static_busybox; then
	echo "make-busybox: installing busybox-static" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q busybox-static >&2 ||
		{ apt-get update -q >&2 && apt-get install -y -q busybox-static >&2; }
	is_static_busybox || { echo "make-busybox: no static $busybox after installing busybox-static" >&2; exit 1; }
fi

mkdir -p "$bundle"
rootfs=$bundle/rootfs
# Build next to the old tree and swap, so a half-made rootfs is never left in place.
tmp=$bundle/rootfs.tmp.$$
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"
mkdir -p "$tmp"
cd "$tmp"
mkdir -p bin sbin usr/bin usr/sbin etc root tmp proc sys dev var/run
chmod 1777 tmp
chmod 700 root
cp "$busybox" bin/busybox
# One absolute symlink per applet, at the path busybox itself reports.
"$busybox" --list-full | while read -r applet; do
	case $applet in bin/busybox | linuxrc | "") continue ;; esac
	mkdir -p "$(dirname "$applet")"
	ln -sf /bin/busybox "$applet"
done
cat >etc/passwd <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >etc/group <<'GROUP'
root:x:0:
daemon:x:1:
tty:x:5:
users:x:100:
nogroup:x:65534:
GROUP
cd "$bundle"
# Swap under an exclusive lock on the bundle directory: the end-to-end tests
# hold a shared one while they copy the rootfs, so none copies half a swap.
exec 9<"$bundle"
flock 9
old=$bundle/rootfs.old.$$
[ -e "$rootfs" ] && mv "$rootfs" "$old"
mv "$tmp" "$rootfs"
flock -u 9
exec 9<&-
trap - EXIT
rm -rf "$old"

# The committed config.json; rewritten here so that script and file agree.
# ociVersion is runc spec's 1.0.2-dev: crun 1.8.1 refuses "1.2.0" ("unknown
# version specified") and the benchmark runs one bundle under all three.
cat >"$bundle/config.json" <<'CONFIG'
{
	"ociVersion": "1.0.2-dev",
	"process": {
		"terminal": false,
		"user": {
			"uid": 0,
			"gid": 0
		},
		"args": [
			"sh",
			"-c",
			"echo \"hostname: $(hostname)\"; echo \"pid: $$\"; echo 'mounts:'; cat /proc/self/mounts"
		],
		"env": [
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"TERM=xterm"
		],
		"cwd": "/",
		"capabilities": {
			"bounding": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"effective": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"permitted": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"ambient": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			]
		},
		"rlimits": [
			{
				"type": "RLIMIT_NOFILE",
				"hard": 1024,
				"soft": 1024
			}
		],
		"noNewPrivileges": true
	},
	"root": {
		"path": "rootfs",
		"readonly": true
	},
	"hostname": "berth",
	"mounts": [
		{
			"destination": "/proc",
			"type": "proc",
			"source": "proc"
		},
		{
			"destination": "/dev",
			"type": "tmpfs",
			"source": "tmpfs",
			"options": [
				"nosuid",
				"strictatime",
				"mode=755",
				"size=65536k"
			]
		},
		{
			"destination": "/dev/pts",
			"type": "devpts",
			"source": "devpts",
			"options": [
				"nosuid",
				"noexec",
				"newinstance",
				"ptmxmode=0666",
				"mode=0620",
				"gid=5"
			]
		},
		{
			"destination": "/dev/shm",
			"type": "tmpfs",
			"source": "shm",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"mode=1777",
				"size=65536k"
			]
		},
		{
			"destination": "/dev/mqueue",
			"type": "mqueue",
			"source": "mqueue",
			"options": [
				"nosuid",
				"noexec",
				"nodev"
			]
		},
		{
			"destination": "/sys",
			"type": "sysfs",
			"source": "sysfs",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"ro"
			]
		},
		{
			"destination": "/sys/fs/cgroup",
			"type": "cgroup",
			"source": "cgroup",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"relatime",
				"ro"
			]
		}
	],
	"linux": {
		"resources": {
			"devices": [
				{
					"allow": false,
					"access": "rwm"
				}
			]
		},
		"namespaces": [
			{
				"type": "pid"
			},
			{
				"type": "network"
			},
			{
				"type": "ipc"
			},
			{
				"type": "uts"
			},
			{
				"type": "mount"
			}
		],
		"maskedPaths": [
			"/proc/acpi",
			"/proc/asound",
			"/proc/kcore",
			"/proc/keys",
			"/proc/latency_stats",
			"/proc/timer_list",
			"/proc/timer_stats",
			"/proc/sched_debug",
			"/sys/firmware",
			"/proc/scsi"
		],
		"readonlyPaths": [
			"/proc/bus",
			"/proc/fs",
			"/proc/irq",
			"/proc/sys",
			"/proc/sysrq-trigger"
		]
	}
}
CONFIG
echo "make-busybox: bundle ready at $bundle" >&2
